// The bootstrap in-process, with the Echo test service: health, reflection,
// /metrics (checked by promtool), graceful shutdown, port errors, TLS/mTLS,
// hooks and the RPC catch-all.
#include "common/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/metrics/metrics_testing.h"
#include "common/server/channel.h"
#include "common/server/guard.h"
#include "common/server/testdata/echo_service.h"
#include "common/server/testdata/probe_client.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace admit::server {
namespace {

using ::admit::testing::Echo;
using ::admit::testing::SayRequest;
using ::admit::testing::SayResponse;
using metrics::testing::HttpGet;
using metrics::testing::PromtoolCheckMetrics;
using metrics::testing::SampleValue;
using testdata::CheckHealth;
using testdata::HealthCheckResponse;
using testdata::HealthWatch;
using testdata::ListServices;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr char kEcho[] = "admit.testing.Echo";

std::shared_ptr<grpc::Channel> Plaintext(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

grpc::Status Say(const std::shared_ptr<grpc::Channel>& channel,
                 const std::string& text, SayResponse* response = nullptr,
                 bool throw_exception = false) {
  auto stub = Echo::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  SayRequest request;
  request.set_text(text);
  request.set_throw_exception(throw_exception);
  SayResponse local;
  return stub->Say(&context, request, response ? response : &local);
}

// A SlowSay in flight, through the callback client API.
class PendingSlowSay {
 public:
  PendingSlowSay(const std::shared_ptr<grpc::Channel>& channel,
                 const std::string& text, bool hold, int delay_ms = 0)
      : stub_(Echo::NewStub(channel)) {
    context_.set_deadline(std::chrono::system_clock::now() + 60s);
    request_.set_text(text);
    request_.set_hold(hold);
    request_.set_delay_ms(delay_ms);
    result_ = done_.get_future().share();
    stub_->async()->SlowSay(
        &context_, &request_, &response_,
        [this](grpc::Status status) { done_.set_value(std::move(status)); });
  }
  ~PendingSlowSay() {
    context_.TryCancel();
    result_.wait();
  }
  bool finished() { return result_.wait_for(0s) == std::future_status::ready; }
  grpc::Status Wait() { return result_.get(); }
  const SayResponse& response() const { return response_; }

 private:
  std::unique_ptr<Echo::Stub> stub_;
  grpc::ClientContext context_;
  SayRequest request_;
  SayResponse response_;
  std::promise<grpc::Status> done_;
  std::shared_future<grpc::Status> result_;
};

ServerOptions LocalOptions() {
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.drain_timeout = 20s;
  return options;
}

// True when a fresh connection's call fails with UNAVAILABLE (nothing
// accepts new calls).
bool NewCallsRefused(const std::string& target) {
  grpc::Status status = Say(Plaintext(target), "late");
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(const ServerOptions& options = LocalOptions()) {
    server_ = std::make_unique<Server>(options);
    server_->AddService(&echo_);
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
    target_ = server_->grpc_target();
    channel_ = Plaintext(target_);
  }
  void TearDown() override {
    echo_.ReleaseHeld();
    server_.reset();
  }

  std::string Metrics() {
    absl::StatusOr<std::string> body =
        HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? *body : "";
  }

  testdata::EchoService echo_;
  std::unique_ptr<Server> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerTest, ServesOnEphemeralPorts) {
  StartServer();
  EXPECT_GT(server_->grpc_port(), 0);
  EXPECT_GT(server_->metrics_port(), 0);
  SayResponse response;
  grpc::Status status = Say(channel_, "hello", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "hello");
}

TEST_F(ServerTest, HealthServingForServerAndEachService) {
  StartServer();
  for (const char* service : {"", kEcho, "grpc.health.v1.Health"}) {
    auto health = CheckHealth(channel_, service);
    ASSERT_TRUE(health.ok()) << service << ": " << health.status();
    EXPECT_EQ(*health, HealthCheckResponse::SERVING) << service;
  }
  EXPECT_EQ(CheckHealth(channel_, "no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServerTest, SetServingOverridesOneService) {
  StartServer();
  server_->SetServing(kEcho, false);
  EXPECT_EQ(*CheckHealth(channel_, kEcho), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(*CheckHealth(channel_, ""), HealthCheckResponse::SERVING);
  server_->SetServing(kEcho, true);
  EXPECT_EQ(*CheckHealth(channel_, kEcho), HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, ReflectionListsServicesAndDescribesThem) {
  StartServer();
  auto services = ListServices(channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, Contains(kEcho));
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(*services, Contains("grpc.reflection.v1alpha.ServerReflection"));

  // What grpcurl-style tools do next: fetch the service's descriptor.
  auto files = testdata::FilesContainingSymbol(channel_, kEcho);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, Contains("common/server/testdata/echo.proto"));
}

TEST_F(ServerTest, MetricsCountCallsAndPassPromtool) {
  StartServer();
  ASSERT_TRUE(Say(channel_, "one").ok());
  ASSERT_TRUE(Say(channel_, "two").ok());
  EXPECT_EQ(
      Say(channel_, "boom", nullptr, /*throw_exception=*/true).error_code(),
      grpc::StatusCode::INTERNAL);

  std::string text = Metrics();
  std::map<std::string, std::string> say{{"grpc_service", kEcho},
                                         {"grpc_method", "Say"}};
  auto ok = say;
  ok["grpc_code"] = "OK";
  auto internal = say;
  internal["grpc_code"] = "INTERNAL";
  EXPECT_EQ(*SampleValue(text, "grpc_server_handled_total", ok), 2) << text;
  EXPECT_EQ(*SampleValue(text, "grpc_server_handled_total", internal), 1);
  EXPECT_EQ(*SampleValue(text, "grpc_server_started_total", say), 3);
  EXPECT_EQ(*SampleValue(text, "grpc_server_handling_seconds_count", say), 3);
  EXPECT_EQ(*SampleValue(text, "grpc_server_in_flight", say), 0);

  absl::Status lint = PromtoolCheckMetrics(text);
  EXPECT_TRUE(lint.ok()) << lint << "\n" << text;
}

TEST_F(ServerTest, DomainMetricsShareTheEndpoint) {
  StartServer();
  prometheus::BuildGauge()
      .Name("admit_outbox_pending")
      .Help("Outbox rows not yet delivered.")
      .Register(server_->metrics_registry())
      .Add({})
      .Set(7);
  std::string text = Metrics();
  EXPECT_EQ(*SampleValue(text, "admit_outbox_pending"), 7);
  EXPECT_TRUE(PromtoolCheckMetrics(text).ok());
}

TEST_F(ServerTest, InFlightGaugeFollowsACall) {
  StartServer();
  std::map<std::string, std::string> slow{{"grpc_service", kEcho},
                                          {"grpc_method", "SlowSay"}};
  {
    PendingSlowSay call(channel_, "wait", /*hold=*/true);
    ASSERT_TRUE(
        admit::testing::WaitFor([&] { return echo_.held() == 1; }, 10s));
    EXPECT_EQ(*SampleValue(Metrics(), "grpc_server_in_flight", slow), 1);
    echo_.ReleaseHeld();
    EXPECT_TRUE(call.Wait().ok());
  }
  EXPECT_TRUE(admit::testing::WaitFor(
      [&] {
        return *SampleValue(Metrics(), "grpc_server_in_flight", slow) == 0;
      },
      10s));
}

TEST_F(ServerTest, UnimplementedMethodsShareOneSeries) {
  StartServer();
  grpc::TemplatedGenericStub<SayRequest, SayResponse> stub(channel_);
  for (const char* method : {"/admit.testing.Echo/Nope", "/x.Y/Z"}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    SayRequest request;
    SayResponse response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&](const grpc::Status& status) { done.set_value(status); });
    EXPECT_EQ(done.get_future().get().error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  std::string text = Metrics();
  EXPECT_THAT(text, Not(HasSubstr("Nope")));
  EXPECT_THAT(text, Not(HasSubstr("x.Y")));
  EXPECT_EQ(*SampleValue(text, "grpc_server_handled_total",
                         {{"grpc_service", "unknown"},
                          {"grpc_method", "unknown"},
                          {"grpc_code", "UNIMPLEMENTED"}}),
            2);
}

TEST_F(ServerTest, ExceptionInHandlerBecomesInternal) {
  StartServer();
  grpc::Status status =
      Say(channel_, "boom", nullptr, /*throw_exception=*/true);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), "internal error");  // nothing leaks
  // The server is still fine.
  EXPECT_TRUE(Say(channel_, "after").ok());
}

TEST(Guard, LogsMethodAndTypeButNotDetailLines) {
  std::string logged;
  log::SetSinkForTesting(&logged);
  grpc::Status status = CallGuarded("Register", []() -> grpc::Status {
    throw std::out_of_range(
        "duplicate key\nDETAIL: Key (email)=(someone@example.com)");
  });
  grpc::Status non_std =
      CallGuarded("Cancel", []() -> grpc::Status { throw 42; });
  grpc::Status fine = CallGuarded("Get", [] { return grpc::Status::OK; });
  log::SetSinkForTesting(nullptr);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(non_std.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(fine.ok());
  EXPECT_THAT(logged, HasSubstr("Register"));
  EXPECT_THAT(logged, HasSubstr("std::out_of_range"));
  EXPECT_THAT(logged, HasSubstr("duplicate key"));
  EXPECT_THAT(logged, HasSubstr("Cancel"));
  EXPECT_THAT(logged, Not(HasSubstr("someone@example.com")));
}

TEST_F(ServerTest, ShutdownDrainsInFlightCallAndRefusesNewOnes) {
  StartServer();
  auto watch = std::make_unique<HealthWatch>(channel_, "");
  ASSERT_EQ(*watch->Next(10s), HealthCheckResponse::SERVING);

  PendingSlowSay call(channel_, "in flight", /*hold=*/true);
  ASSERT_TRUE(admit::testing::WaitFor([&] { return echo_.held() == 1; }, 10s));

  const auto begin = std::chrono::steady_clock::now();
  std::thread shutdown([this] { server_->Shutdown(); });
  // Health turns NOT_SERVING for watchers as soon as shutdown begins.
  EXPECT_EQ(*watch->Next(10s), HealthCheckResponse::NOT_SERVING);
  // gRPC's health service keeps Watch streams open through the drain; a
  // watcher that stays would hold it until drain_timeout (see server.h).
  watch.reset();
  // New connections are refused while the held call keeps the server draining.
  EXPECT_TRUE(
      admit::testing::WaitFor([&] { return NewCallsRefused(target_); }, 10s));
  EXPECT_FALSE(call.finished());

  EXPECT_EQ(echo_.ReleaseHeld(), 1);
  grpc::Status status = call.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(call.response().text(), "in flight");
  shutdown.join();
  // Drained, not cut off at drain_timeout (20 s).
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 15s);
}

TEST_F(ServerTest, HealthCheckSaysNotServingDuringShutdownDelay) {
  ServerOptions options = LocalOptions();
  options.shutdown_delay = 3s;
  StartServer(options);
  ASSERT_EQ(*CheckHealth(channel_, ""), HealthCheckResponse::SERVING);

  std::thread shutdown([this] { server_->Shutdown(); });
  // While the delay runs the server still answers, reporting NOT_SERVING
  // (what a Kubernetes readiness probe sees), and still serves calls.
  EXPECT_TRUE(admit::testing::WaitFor(
      [&] {
        auto health = CheckHealth(channel_, "");
        return health.ok() && *health == HealthCheckResponse::NOT_SERVING;
      },
      3s));
  EXPECT_EQ(*CheckHealth(channel_, kEcho), HealthCheckResponse::NOT_SERVING);
  shutdown.join();
  EXPECT_TRUE(NewCallsRefused(target_));
}

TEST_F(ServerTest, CallsStillRunningAtDrainTimeoutAreCancelled) {
  ServerOptions options = LocalOptions();
  options.drain_timeout = 300ms;
  StartServer(options);
  PendingSlowSay call(channel_, "too slow", /*hold=*/true);
  ASSERT_TRUE(admit::testing::WaitFor([&] { return echo_.held() == 1; }, 10s));
  server_->Shutdown();  // returns although the call was never released
  grpc::Status status = call.Wait();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(echo_.slow_in_progress(), 0);
}

TEST_F(ServerTest, HooksRunInOrderAroundTheDrain) {
  StartServer();
  std::vector<std::string> order;
  server_->AddDrainHook("d1", [&] { order.emplace_back("drain1"); });
  server_->AddDrainHook("d2", [&] { order.emplace_back("drain2"); });
  server_->AddStopHook("pool", [&] { order.emplace_back("stop-pool"); });
  server_->AddStopHook("worker", [&] {
    // The gRPC server has stopped by now.
    order.emplace_back(NewCallsRefused(target_) ? "stop-worker-after-drain"
                                                : "stop-worker-too-early");
  });
  server_->Shutdown();
  server_->Shutdown();  // idempotent
  EXPECT_THAT(order,
              ::testing::ElementsAre("drain1", "drain2",
                                     "stop-worker-after-drain", "stop-pool"));
  EXPECT_EQ(server_->metrics_port(), 0);  // /metrics stopped last
}

TEST(ServerLifecycle, StopHooksRunWithoutStart) {
  bool stopped = false;
  {
    Server server(LocalOptions());
    server.AddStopHook("worker", [&] { stopped = true; });
  }
  EXPECT_TRUE(stopped);
}

TEST(ServerLifecycle, StartTwiceIsAnError) {
  testdata::EchoService echo;
  Server server(LocalOptions());
  server.AddService(&echo);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ServerLifecycle, InvalidOptionsNameTheVariable) {
  ServerOptions options = LocalOptions();
  options.grpc_listen = "127.0.0.1";
  Server server(options);
  absl::Status status = server.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_GRPC_LISTEN"));
}

TEST(ServerPorts, SecondServerOnTheSamePortFails) {
  testdata::EchoService echo;
  Server first(LocalOptions());
  first.AddService(&echo);
  ASSERT_TRUE(first.Start().ok());

  ServerOptions options = LocalOptions();
  options.grpc_listen = first.grpc_target();
  Server second(options);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("cannot listen on ", first.grpc_target(),
                                     " (address in use?)")));
  EXPECT_EQ(second.grpc_server(), nullptr);
  EXPECT_EQ(second.metrics_port(), 0);  // nothing left running
  // The first server is unaffected and still gets every call.
  EXPECT_TRUE(Say(Plaintext(first.grpc_target()), "still me").ok());
}

TEST(ServerPorts, PortHeldByAnotherSocketFails) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string listen = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  ServerOptions options = LocalOptions();
  options.grpc_listen = listen;
  Server server(options);
  absl::Status status = server.Start();
  ::close(fd);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("cannot listen on ", listen,
                                     " (address in use?)")));
  EXPECT_THAT(status.message(), HasSubstr("Address already in use"));
}

TEST(ServerPorts, TakenMetricsPortNamesTheVariable) {
  Server first(LocalOptions());
  ASSERT_TRUE(first.Start().ok());
  ServerOptions options = LocalOptions();
  options.metrics_listen = absl::StrCat("127.0.0.1:", first.metrics_port());
  Server second(options);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("ADMIT_METRICS_LISTEN"));
  EXPECT_EQ(second.grpc_server(), nullptr);
}

TEST(ServerPorts, MetricsCanBeDisabled) {
  ServerOptions options = LocalOptions();
  options.metrics_listen = "";
  testdata::EchoService echo;
  Server server(options);
  server.AddService(&echo);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.metrics_port(), 0);
  EXPECT_TRUE(Say(Plaintext(server.grpc_target()), "x").ok());
}

// --- TLS ---------------------------------------------------------------

// A CA, a server certificate for localhost/127.0.0.1 and two client
// certificates (one from the CA, one from an unrelated CA), made with the
// openssl CLI once per test binary.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char templ[] = "/tmp/admit-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = new std::string(templ);
    std::string script = absl::StrCat(
        "set -e; cd '", *dir_, "'\n",
        "key() { openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:prime256v1 -out \"$1\" 2>/dev/null; }\n",
        "ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.pem "
        "-days 2 -subj /CN=$1 2>/dev/null; }\n",
        "leaf() { key $1.key; openssl req -new -key $1.key -out $1.csr "
        "-subj /CN=$3 2>/dev/null;\n"
        "  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $1.ext;\n"
        "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
        "-CAcreateserial -out $1.pem -days 2 -extfile $1.ext 2>/dev/null; }\n",
        "ca ca; ca other-ca\n", "leaf server ca localhost\n",
        "leaf client ca admit-registration\n",
        "leaf stranger other-ca intruder\n",
        "printf 'not a pem file\\n' > garbage.pem\n");
    std::string command = absl::StrCat("bash -c '", Escape(script), "'");
    ASSERT_EQ(std::system(command.c_str()), 0) << "openssl failed";
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
  }
  static std::string Escape(const std::string& script) {
    std::string out;
    for (char c : script) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    return out;
  }
  static std::string File(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  void StartTls(bool mutual) {
    ServerOptions options = LocalOptions();
    options.tls_cert_file = File("server.pem");
    options.tls_key_file = File("server.key");
    if (mutual) options.tls_client_ca_file = File("ca.pem");
    server_ = std::make_unique<Server>(options);
    server_->AddService(&echo_);
    absl::Status status = server_->Start();
    ASSERT_TRUE(status.ok()) << status;
  }

  // A TLS channel that trusts our CA, optionally presenting a client cert.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& client) {
    ChannelOptions options;
    options.tls = true;
    options.tls_ca_file = File("ca.pem");
    options.tls_server_name = "localhost";
    options.retry_max_attempts = 1;
    if (!client.empty()) {
      options.tls_cert_file = File(client + ".pem");
      options.tls_key_file = File(client + ".key");
    }
    auto channel = MakeChannel(server_->grpc_target(), options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return *channel;
  }

  static std::string* dir_;
  testdata::EchoService echo_;
  std::unique_ptr<Server> server_;
};

std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, TlsClientCallsPlaintextClientCannot) {
  StartTls(/*mutual=*/false);
  SayResponse response;
  grpc::Status status = Say(TlsChannel(""), "secret", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "secret");
  EXPECT_FALSE(Say(Plaintext(server_->grpc_target()), "x").ok());
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  StartTls(/*mutual=*/true);
  EXPECT_TRUE(Say(TlsChannel("client"), "peer").ok());
  EXPECT_FALSE(Say(TlsChannel(""), "no cert").ok());
  EXPECT_FALSE(Say(TlsChannel("stranger"), "wrong ca").ok());
  EXPECT_FALSE(Say(Plaintext(server_->grpc_target()), "plain").ok());
  // Probes need a client certificate too under mTLS.
  auto health = CheckHealth(TlsChannel("client"), "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthCheckResponse::SERVING);
}

TEST_F(TlsTest, ChannelOptionsFromServerConnectsToAPeer) {
  StartTls(/*mutual=*/true);
  ServerOptions peer;
  peer.tls_cert_file = File("client.pem");
  peer.tls_key_file = File("client.key");
  peer.tls_client_ca_file = File("ca.pem");
  ChannelOptions options = ChannelOptionsFromServer(peer);
  // An IP target and the certificate's name: resolving "localhost" goes
  // through c-ares, which leaks 10 bytes under LeakSanitizer (not ours).
  options.tls_server_name = "localhost";
  auto channel = MakeChannel(server_->grpc_target(), options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  grpc::Status status = Say(*channel, "peer");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsTest, UnreadableOrMalformedFilesNameTheVariable) {
  struct Case {
    std::string cert, key, ca, variable;
  } cases[] = {
      {File("missing.pem"), File("server.key"), "", "ADMIT_TLS_CERT_FILE"},
      {File("garbage.pem"), File("server.key"), "", "ADMIT_TLS_CERT_FILE"},
      {File("server.pem"), File("missing.key"), "", "ADMIT_TLS_KEY_FILE"},
      {File("server.pem"), File("server.pem"), "", "ADMIT_TLS_KEY_FILE"},
      {File("server.pem"), File("server.key"), File("garbage.pem"),
       "ADMIT_TLS_CLIENT_CA_FILE"},
  };
  for (const Case& c : cases) {
    ServerOptions options = LocalOptions();
    options.tls_cert_file = c.cert;
    options.tls_key_file = c.key;
    options.tls_client_ca_file = c.ca;
    Server server(options);
    absl::Status status = server.Start();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.variable;
    EXPECT_THAT(status.message(), HasSubstr(c.variable));
    EXPECT_EQ(server.metrics_port(), 0);
  }
}

}  // namespace
}  // namespace admit::server
