#include "common/server/server.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log/log.h"
#include "common/server/pem.h"
#include "grpc/grpc.h"
#include "grpc/support/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/impl/server_initializer.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace admit::server {

namespace {

using std::chrono::milliseconds;

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

bool TerminationSignalsBlocked() {
  sigset_t current;
  sigemptyset(&current);
  if (pthread_sigmask(SIG_BLOCK, nullptr, &current) != 0) return false;
  return sigismember(&current, SIGINT) == 1 &&
         sigismember(&current, SIGTERM) == 1;
}

// gRPC's own log lines (gpr_log) become admit JSON lines on stderr.
void GrpcLogToAdmitLog(gpr_log_func_args* args) {
  log::Level level = log::Level::kInfo;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      level = log::Level::kDebug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      level = log::Level::kInfo;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      level = log::Level::kError;
      break;
  }
  if (!log::Enabled(level)) return;
  log::Write(level, args->message != nullptr ? args->message : "",
             {{"component", "grpc"},
              {"file", args->file != nullptr ? args->file : ""},
              {"line", args->line}});
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const ServerOptions& options) {
  if (!options.tls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert = internal::ReadPemFile(
      options.tls_cert_file, kTlsCertFileVar, internal::kPemCertificate);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = internal::ReadPemFile(
      options.tls_key_file, kTlsKeyFileVar, internal::kPemPrivateKey);
  if (!key.ok()) return key.status();
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (options.mtls()) {
    absl::StatusOr<std::string> ca =
        internal::ReadPemFile(options.tls_client_ca_file, kTlsClientCaFileVar,
                              internal::kPemCertificate);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(ssl);
}

// Why a TCP listen address cannot be bound, found by binding it ourselves
// (the way gRPC does: SO_REUSEADDR, no SO_REUSEPORT). "" when it can be, or
// when the address is not host:port.
std::string ProbeBind(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || absl::StartsWith(listen, "unix:")) {
    return "";
  }
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) return absl::StrCat("cannot resolve: ", gai_strerror(rc));
  std::string reason;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      reason = absl::StrCat("bind: ", std::strerror(errno));
    } else if (::listen(fd, 1) != 0) {
      reason = absl::StrCat("listen: ", std::strerror(errno));
    }
    ::close(fd);
    if (!reason.empty()) break;
  }
  ::freeaddrinfo(result);
  return reason;
}

// Copies the names of every service the server ended up with (ours, health,
// reflection) when BuildAndStart finishes, so health can be set per name
// without asking services for their names.
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* out) : out_(out) {}
  std::string name() override { return "admit_service_names"; }
  void InitServer(grpc::ServerInitializer* /*si*/) override {}
  void Finish(grpc::ServerInitializer* si) override {
    *out_ = *si->GetServiceList();
  }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  std::vector<std::string>* out_;
};

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* out) : out_(out) {}
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(out_));
  }

 private:
  std::vector<std::string>* out_;
};

int ToIntMillis(milliseconds value) {
  constexpr int64_t kMax = INT32_MAX;
  return static_cast<int>(std::min<int64_t>(value.count(), kMax));
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), grpc_metrics_(exposer_.registry()) {}

Server::~Server() { Shutdown(); }

void Server::AddService(grpc::Service* service) {
  services_.push_back(service);
}

void Server::AddDrainHook(std::string name, std::function<void()> hook) {
  drain_hooks_.emplace_back(std::move(name), std::move(hook));
}

void Server::AddStopHook(std::string name, std::function<void()> hook) {
  stop_hooks_.emplace_back(std::move(name), std::move(hook));
}

std::string Server::grpc_target() const {
  return absl::StrCat("127.0.0.1:", grpc_port_);
}

absl::Status Server::Start() {
  if (start_called_) {
    return absl::FailedPreconditionError("Server::Start called twice");
  }
  start_called_ = true;
  signals_blocked_at_start_ = TerminationSignalsBlocked();

  absl::Status valid = Validate(options_);
  if (!valid.ok()) return valid;

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(options_);
  if (!credentials.ok()) return credentials.status();

  static std::once_flag log_once;
  std::call_once(log_once, [] { gpr_set_log_function(GrpcLogToAdmitLog); });

  if (!options_.metrics_listen.empty()) {
    absl::Status metrics = exposer_.Start(options_.metrics_listen);
    if (!metrics.ok()) {
      return absl::Status(metrics.code(), absl::StrCat(kMetricsListenVar, ": ",
                                                       metrics.message()));
    }
  }
  absl::Status grpc = StartGrpc(*credentials);
  if (!grpc.ok()) {
    exposer_.Stop();
    return grpc;
  }

  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    std::lock_guard<std::mutex> lock(health_mu_);
    health->SetServingStatus("", true);
    for (const std::string& name : service_names_) {
      health->SetServingStatus(name, true);
    }
  }
  log::Info("serving", {{"grpc_listen", options_.grpc_listen},
                        {"grpc_port", grpc_port_},
                        {"metrics_port", exposer_.port()},
                        {"tls", options_.mtls()  ? "mtls"
                                : options_.tls() ? "tls"
                                                 : "off"},
                        {"services", absl::StrJoin(service_names_, ",")}});
  return absl::OkStatus();
}

absl::Status Server::StartGrpc(
    const std::shared_ptr<grpc::ServerCredentials>& credentials) {
  // Both are process-wide switches read by ServerBuilder::BuildAndStart.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(options_.grpc_listen, credentials, &selected_port);
  for (grpc::Service* service : services_) builder.RegisterService(service);

  // A second server on a taken port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ToIntMillis(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ToIntMillis(options_.keepalive_timeout));
  // Clients keep idle connections alive with pings; allow them.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ToIntMillis(options_.permit_keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  if (options_.max_concurrent_streams > 0) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONCURRENT_STREAMS,
        static_cast<int>(options_.max_concurrent_streams));
  }
  if (options_.max_connection_age.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               ToIntMillis(options_.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ToIntMillis(options_.drain_timeout));
  }

  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(grpc_metrics_.NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetOption(std::make_unique<ServiceNamesOption>(&service_names_));

  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_.reset();
    }
    std::string reason = ProbeBind(options_.grpc_listen);
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.grpc_listen, " (address in use?)",
        reason.empty() ? " (see gRPC's log line above for the reason)"
                       : absl::StrCat(": ", reason),
        "; set ", kGrpcListenVar));
  }
  grpc_port_ =
      absl::StartsWith(options_.grpc_listen, "unix:") ? 0 : selected_port;
  return absl::OkStatus();
}

void Server::SetServing(const std::string& service, bool serving) {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (shutting_down_ || server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(service, serving);
}

void Server::RunStopHooks() {
  for (size_t i = stop_hooks_.size(); i-- > 0;) {
    log::Info("running stop hook", {{"hook", stop_hooks_[i].first}});
    stop_hooks_[i].second();
  }
}

void Server::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (server_ == nullptr) {
      RunStopHooks();
      exposer_.Stop();
      return;
    }
    const auto begin = std::chrono::steady_clock::now();
    log::Info("shutting down: health NOT_SERVING, draining",
              {{"shutdown_delay_ms",
                static_cast<int64_t>(options_.shutdown_delay.count())},
               {"drain_timeout_ms",
                static_cast<int64_t>(options_.drain_timeout.count())}});
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      shutting_down_ = true;
      grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService();
      // NOT_SERVING for "" and every name, and no further changes.
      if (health != nullptr) health->Shutdown();
    }
    for (auto& [name, hook] : drain_hooks_) {
      log::Info("running drain hook", {{"hook", name}});
      hook();
    }
    if (options_.shutdown_delay.count() > 0) {
      std::this_thread::sleep_for(options_.shutdown_delay);
    }
    // Stops accepting; waits for in-flight calls until the deadline, then
    // cancels the rest and waits for their handlers to finish.
    const auto deadline =
        std::chrono::system_clock::now() + options_.drain_timeout;
    server_->Shutdown(deadline);
    server_->Wait();
    const bool deadline_hit = std::chrono::system_clock::now() >= deadline;
    log::Info("gRPC server stopped",
              {{"elapsed_ms", static_cast<int64_t>(
                                  std::chrono::duration_cast<milliseconds>(
                                      std::chrono::steady_clock::now() - begin)
                                      .count())},
               {"cancelled_in_flight_calls", deadline_hit}});
    RunStopHooks();
    exposer_.Stop();
    log::Info("shutdown complete");
  });
}

int Server::RunUntilSignalled() {
  if (!signals_blocked_at_start_) {
    log::Warn(
        "SIGINT/SIGTERM were not blocked before Start(): call "
        "admit::server::BlockTerminationSignals() first thing in main, or a "
        "signal may kill the process without draining");
  }
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  log::Info("signal received",
            {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  Shutdown();
  return 0;
}

}  // namespace admit::server
