// Rate limiting through the real binaries (issue 6): admit-registration and
// admit-confirmation as child processes, real Postgres (ADMIT_TEST_PG_URL),
// an in-process quota replica and a private Redis per test (so policies and
// the Redis restart never disturb other tests).
//
// What a client sees: RESOURCE_EXHAUSTED with RetryInfo and a QuotaFailure
// naming the policy, a retry after the delay passes; x-forwarded-for used only
// from a trusted proxy; Redis killed: fail-open policies keep Register
// serving, fail-closed ones answer UNAVAILABLE, no call passes its deadline,
// limiting resumes after Redis restarts (same processes);
// ResendConfirmation refused by `resend`; an organizer call refused by
// `api_key`; admit_rate_limited_total{policy} on /metrics.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "admit/v1/confirmation.grpc.pb.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "common/crypto/token.h"
#include "common/metrics/metrics_testing.h"
#include "common/server/testdata/probe_client.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/registration/registration_testing.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

// A service binary started with posix_spawn: the test's environment minus
// every ADMIT_* variable, plus `env`, its own gRPC and metrics ports; output
// to a log file printed when the test fails.
class Service {
 public:
  Service(std::string binary, std::map<std::string, std::string> env)
      : binary_(std::move(binary)),
        env_(std::move(env)),
        grpc_port_(admit::testing::FreePort()),
        metrics_port_(admit::testing::FreePort()) {
    log_path_ = absl::StrCat(::testing::TempDir(), "rate-limit-", getpid(), "-",
                             grpc_port_, ".log");
  }
  ~Service() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (::testing::Test::HasFailure()) {
      std::ifstream log(log_path_);
      std::stringstream text;
      text << log.rdbuf();
      std::cerr << "--- " << binary_ << " log ---\n" << text.str() << std::endl;
    }
  }

  ::testing::AssertionResult Start() {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      size_t eq = kv.find('=');
      if (eq != std::string::npos && kv.rfind("ADMIT_", 0) != 0) {
        env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    for (const auto& [k, v] : env_) env[k] = v;
    env["ADMIT_GRPC_LISTEN"] = absl::StrCat("127.0.0.1:", grpc_port_);
    env["ADMIT_METRICS_LISTEN"] = absl::StrCat("127.0.0.1:", metrics_port_);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char* argv[] = {binary_.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return ::testing::AssertionFailure() << "spawn: " << rc;
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                   grpc::InsecureChannelCredentials());
    const bool serving = admit::testing::WaitFor(
        [&] {
          auto health = server::testdata::CheckHealth(channel_, "", 500ms);
          return health.ok() &&
                 *health == server::testdata::HealthCheckResponse::SERVING;
        },
        60s, 50ms);
    if (!serving) return ::testing::AssertionFailure() << "never SERVING";
    return ::testing::AssertionSuccess();
  }

  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

  // admit_rate_limited_total{policy} (0 when never counted).
  double RateLimited(const std::string& policy) {
    auto text = metrics::testing::HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok()) return -1;
    auto value = metrics::testing::SampleValue(
        *text, "admit_rate_limited_total", {{"policy", policy}});
    return value.ok() ? *value : 0;
  }

 private:
  std::string binary_;
  std::map<std::string, std::string> env_;
  int grpc_port_;
  int metrics_port_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

// What a refused client reads from the error's details.
struct Refusal {
  std::chrono::milliseconds retry_delay{-1};
  std::string quota_subject;  // QuotaFailure's first violation
  std::string reason;         // ErrorInfo
};

Refusal RefusalOf(const absl::Status& status) {
  Refusal out;
  out.reason = GetErrorReason(status);
  if (auto retry =
          status.GetPayload("type.googleapis.com/google.rpc.RetryInfo")) {
    google::rpc::RetryInfo info;
    if (info.ParseFromString(std::string(*retry))) {
      out.retry_delay =
          std::chrono::milliseconds(info.retry_delay().seconds() * 1000 +
                                    info.retry_delay().nanos() / 1'000'000);
    }
  }
  if (auto quota =
          status.GetPayload("type.googleapis.com/google.rpc.QuotaFailure")) {
    google::rpc::QuotaFailure failure;
    if (failure.ParseFromString(std::string(*quota)) &&
        failure.violations_size() > 0) {
      out.quota_subject = failure.violations(0).subject();
    }
  }
  return out;
}

// Register with an optional x-forwarded-for and a 10 s deadline.
absl::Status RegisterAs(Service& service, const std::string& event_id,
                        const std::string& email,
                        const std::string& forwarded_for = "") {
  auto stub = v1::RegistrationService::NewStub(service.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!forwarded_for.empty()) {
    context.AddMetadata("x-forwarded-for", forwarded_for);
  }
  v1::RegisterResponse response;
  return FromGrpcStatus(stub->Register(
      &context, RegisterRequestFor(event_id, "general", email), &response));
}

// A fresh email per call.
std::string NewEmail() {
  static std::atomic<int> n{0};
  return absl::StrCat("rl", getpid(), "-", n++, "@example.org");
}

class RateLimitProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    quota_ = qt::Replica::Start(url_, {});
    ASSERT_NE(quota_, nullptr);
    ASSERT_TRUE(redis_.Start().ok());
    admin_key_ = absl::StrCat("admit_bootstrap_", crypto::NewToken());
  }

  // admit-registration on the private Redis; `env` adds/overrides
  // settings (the policies under test).
  std::unique_ptr<Service> StartRegistration(
      std::map<std::string, std::string> env) {
    std::map<std::string, std::string> base = {
        {"ADMIT_PG_URL", url_},
        {"ADMIT_REDIS_URL", redis_.Url()},
        {"ADMIT_QUOTA_ADDR", quota_->server().grpc_target()},
        {"ADMIT_REGISTRATION_TOKEN_KEY", crypto::Sealer::NewBase64Key()},
        {"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key_},
        {"ADMIT_LOG_LEVEL", "warn"}};
    for (auto& [k, v] : env) base[k] = v;
    auto service = std::make_unique<Service>(ADMIT_REGISTRATION_BINARY, base);
    EXPECT_TRUE(service->Start());
    return service;
  }

  // An event open now, through the binary's OrganizerService.
  std::string CreateEvent(Service& service) {
    const std::string event_id = qt::RandomEventId("rl");
    auto organizer = v1::OrganizerService::NewStub(service.channel());
    v1::CreateEventRequest request;
    *request.mutable_event() = MakeEvent(event_id, 1000, {{"general", 0}});
    request.mutable_event()->clear_registration_opens_at();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("authorization", absl::StrCat("Bearer ", admin_key_));
    v1::CreateEventResponse response;
    grpc::Status status = organizer->CreateEvent(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return event_id;
  }

  std::string url_;
  std::unique_ptr<qt::Replica> quota_;
  admit::testing::PrivateRedis redis_;
  std::string admin_key_;
};

// Generous policies but the one under test.
constexpr char kLots[] = "100000/100000/open";

TEST_F(RateLimitProcessTest, RefusedWithRetryInfoThenAdmittedAfterTheDelay) {
  // 127.0.0.1 is not a trusted proxy here: x-forwarded-for is ignored.
  auto service = StartRegistration({{"ADMIT_RATE_LIMIT_IP", "0.2/3/open"},
                                    {"ADMIT_RATE_LIMIT_EMAIL", kLots},
                                    {"ADMIT_RATE_LIMIT_EVENT", kLots},
                                    {"ADMIT_TRUSTED_PROXIES", "10.99.0.0/16"}});
  const std::string event_id = CreateEvent(*service);
  ASSERT_EQ(service->RateLimited("ip"), 0);

  // The burst (3) passes, each claiming another client address.
  for (int i = 0; i < 3; ++i) {
    absl::Status s = RegisterAs(*service, event_id, NewEmail(),
                                absl::StrCat("203.0.113.", i));
    ASSERT_TRUE(s.ok()) << i << ": " << s;
  }
  // Then a spoofed address does not help: limited by the real peer.
  absl::Status refused =
      RegisterAs(*service, event_id, NewEmail(), "198.51.100.77");
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  const auto refused_at = std::chrono::steady_clock::now();
  Refusal r = RefusalOf(refused);
  EXPECT_EQ(r.quota_subject, "policy:ip");
  EXPECT_EQ(r.reason, "RATE_LIMITED");
  EXPECT_GT(r.retry_delay, 0ms);
  EXPECT_LE(r.retry_delay, 5000ms);  // one emission interval at most
  EXPECT_GE(service->RateLimited("ip"), 1);

  // After the delay the retry passes (nothing else spends the budget).
  const auto retry_at = refused_at + r.retry_delay + 20ms;
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] { return std::chrono::steady_clock::now() >= retry_at; }, 10s, 5ms));
  absl::Status retried = RegisterAs(*service, event_id, NewEmail());
  EXPECT_TRUE(retried.ok()) << retried;
}

TEST_F(RateLimitProcessTest, ForwardedForFromATrustedProxyGivesOwnBudgets) {
  auto service = StartRegistration({{"ADMIT_RATE_LIMIT_IP", "0.01/2/open"},
                                    {"ADMIT_RATE_LIMIT_EMAIL", kLots},
                                    {"ADMIT_RATE_LIMIT_EVENT", kLots},
                                    {"ADMIT_TRUSTED_PROXIES", "127.0.0.1/32"}});
  const std::string event_id = CreateEvent(*service);
  // Client A (as the gateway forwards it) spends its burst and is refused.
  for (int i = 0; i < 2; ++i) {
    absl::Status s = RegisterAs(*service, event_id, NewEmail(), "198.51.100.1");
    ASSERT_TRUE(s.ok()) << s;
  }
  absl::Status a = RegisterAs(*service, event_id, NewEmail(), "198.51.100.1");
  ASSERT_EQ(a.code(), absl::StatusCode::kResourceExhausted) << a;
  EXPECT_EQ(RefusalOf(a).quota_subject, "policy:ip");
  // Client B behind the same proxy has its own budget; a header a client
  // prepended itself does not change who it is (the proxy's hop counts).
  EXPECT_TRUE(RegisterAs(*service, event_id, NewEmail(), "198.51.100.2").ok());
  EXPECT_TRUE(
      RegisterAs(*service, event_id, NewEmail(), "198.51.100.1, 198.51.100.3")
          .ok());
  absl::Status again =
      RegisterAs(*service, event_id, NewEmail(), "198.51.100.3, 198.51.100.1");
  EXPECT_EQ(again.code(), absl::StatusCode::kResourceExhausted) << again;
}

TEST_F(RateLimitProcessTest, EmailAndEventPolicies) {
  auto service = StartRegistration({{"ADMIT_RATE_LIMIT_IP", kLots},
                                    {"ADMIT_RATE_LIMIT_EMAIL", "0.01/1/open"},
                                    {"ADMIT_RATE_LIMIT_EVENT", "0.01/4/open"}});
  const std::string event_id = CreateEvent(*service);
  const std::string email = NewEmail();
  ASSERT_TRUE(RegisterAs(*service, event_id, email).ok());
  // The same address, differently written (normalization), is one subject.
  std::string upper = email;
  for (size_t i = upper.find('@'); i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  }
  absl::Status s = RegisterAs(*service, event_id, upper);
  ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(RefusalOf(s).quota_subject, "policy:email");
  // The event's ceiling, 4 attempts: the refused one above gave its event
  // token back (a refund on its way can only make a refusal come early).
  int admitted = 1;
  for (;;) {
    s = RegisterAs(*service, event_id, NewEmail());
    if (!s.ok()) break;
    ASSERT_LT(++admitted, 5);
  }
  EXPECT_GE(admitted, 3);
  ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(RefusalOf(s).quota_subject, "policy:event");
  EXPECT_GE(service->RateLimited("email"), 1);
  EXPECT_GE(service->RateLimited("event"), 1);
}

TEST_F(RateLimitProcessTest, OrganizerCallsLimitedByApiKey) {
  auto service =
      StartRegistration({{"ADMIT_RATE_LIMIT_API_KEY", "0.01/3/open"}});
  const std::string event_id = CreateEvent(*service);  // 1 of 3
  auto organizer = v1::OrganizerService::NewStub(service->channel());
  auto get = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("authorization", absl::StrCat("Bearer ", admin_key_));
    v1::GetEventRequest request;
    request.set_event_id(event_id);
    v1::GetEventResponse response;
    return FromGrpcStatus(organizer->GetEvent(&context, request, &response));
  };
  ASSERT_TRUE(get().ok());
  ASSERT_TRUE(get().ok());
  // The key's verdict is asynchronous (api_keys.h): the call that spends
  // past the budget may still pass; a following one is refused.
  absl::Status refused;
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        refused = get();
        return !refused.ok();
      },
      10s, 10ms));
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  Refusal r = RefusalOf(refused);
  EXPECT_EQ(r.quota_subject, "policy:api_key");
  EXPECT_GT(r.retry_delay, 0ms);
  // Refusals remembered from that verdict (no Redis call) are counted too:
  // the metric counts every refused request the client saw.
  int refusals = 1;
  for (int i = 0; i < 3; ++i) {
    if (get().code() == absl::StatusCode::kResourceExhausted) ++refusals;
  }
  EXPECT_EQ(refusals, 4);
  EXPECT_GE(service->RateLimited("api_key"), refusals);
}

TEST_F(RateLimitProcessTest, RedisKilledFailOpenServesFailClosedUnavailable) {
  // Fail-open everywhere, and a tight email policy to see limiting work.
  auto open = StartRegistration({{"ADMIT_RATE_LIMIT_IP", kLots},
                                 {"ADMIT_RATE_LIMIT_EMAIL", "0.01/1/open"},
                                 {"ADMIT_RATE_LIMIT_EVENT", kLots}});
  // The event policy fails closed.
  auto closed =
      StartRegistration({{"ADMIT_RATE_LIMIT_IP", kLots},
                         {"ADMIT_RATE_LIMIT_EMAIL", kLots},
                         {"ADMIT_RATE_LIMIT_EVENT", "100000/100000/closed"}});
  const std::string event_id = CreateEvent(*open);
  const std::string before = NewEmail();
  ASSERT_TRUE(RegisterAs(*open, event_id, before).ok());
  ASSERT_EQ(RegisterAs(*open, event_id, before).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] { return RegisterAs(*closed, event_id, NewEmail()).ok(); }, 10s));

  ASSERT_TRUE(redis_.Stop().ok());
  // Every call answers well within its 10 s deadline: open serves (new
  // registrations), closed is UNAVAILABLE.
  for (int i = 0; i < 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::Status o = RegisterAs(*open, event_id, NewEmail());
    absl::Status c = RegisterAs(*closed, event_id, NewEmail());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_TRUE(o.ok()) << i << ": " << o;
    EXPECT_EQ(c.code(), absl::StatusCode::kUnavailable) << i << ": " << c;
  }

  ASSERT_TRUE(redis_.Start().ok());
  // Limiting resumes in the same processes (reconnect, breaker probe,
  // script reloaded after NOSCRIPT).
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] { return RegisterAs(*closed, event_id, NewEmail()).ok(); }, 20s,
      100ms));
  const std::string after = NewEmail();
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        return RegisterAs(*open, event_id, after).code() ==
               absl::StatusCode::kResourceExhausted;
      },
      20s, 100ms));
}

TEST_F(RateLimitProcessTest, ResendConfirmationLimitedPerRegistration) {
  auto registration = StartRegistration({});
  Service confirmation(
      ADMIT_CONFIRMATION_BINARY,
      {{"ADMIT_PG_URL", url_},
       {"ADMIT_REDIS_URL", redis_.Url()},
       {"ADMIT_REGISTRATION_ADDR", registration->target()},
       {"ADMIT_CONFIRMATION_TOKEN_KEY", crypto::Sealer::NewBase64Key()},
       {"ADMIT_TICKET_KEY", crypto::Sealer::NewBase64Key()},
       {"ADMIT_CONFIRMATION_DRAINERS", "0"},
       {"ADMIT_RATE_LIMIT_RESEND", "0.001/2/closed"},
       {"ADMIT_LOG_LEVEL", "warn"}});
  ASSERT_TRUE(confirmation.Start());
  // A registration with a token.
  const std::string event_id = CreateEvent(*registration);
  auto stub = v1::RegistrationService::NewStub(registration->channel());
  v1::RegisterResponse registered;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Status s = stub->Register(
        &context, RegisterRequestFor(event_id, "general", NewEmail()),
        &registered);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto resend = [&] {
    auto c = v1::ConfirmationService::NewStub(confirmation.channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::ResendConfirmationRequest request;
    request.set_registration_id(registered.registration().id());
    request.set_manage_token(registered.manage_token());
    v1::ResendConfirmationResponse response;
    return FromGrpcStatus(c->ResendConfirmation(&context, request, &response));
  };
  // The two of the burst reach the registration service (whatever it
  // answers); the third is refused here, before any database work.
  for (int i = 0; i < 2; ++i) {
    absl::Status s = resend();
    EXPECT_NE(s.code(), absl::StatusCode::kResourceExhausted) << s;
  }
  absl::Status refused = resend();
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  Refusal r = RefusalOf(refused);
  EXPECT_EQ(r.quota_subject, "policy:resend");
  EXPECT_GT(r.retry_delay, 60s);
  EXPECT_GE(confirmation.RateLimited("resend"), 1);
}

}  // namespace
}  // namespace admit::registration
