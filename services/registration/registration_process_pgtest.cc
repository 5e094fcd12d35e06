// The real admit-registration binary as a child process, against real
// Postgres (ADMIT_TEST_PG_URL) and an in-process quota replica: an
// acknowledged registration survives SIGKILL in the middle of a load, holds
// the killed process took without storing a registration are released by
// the quota sweeper, retries after the restart register each request once.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "common/crypto/token.h"
#include "common/server/testdata/probe_client.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "services/registration/registration_testing.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

// Retries connecting every 100-200 ms with a subchannel of its own, so the
// test sees a (re)started server as soon as it listens.
std::shared_ptr<grpc::Channel> FastChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

bool Listening(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// admit-registration started with posix_spawn; its output goes to a log file
// printed when a test fails.
class RegistrationProcess {
 public:
  RegistrationProcess(std::map<std::string, std::string> env, int grpc_port)
      : env_(std::move(env)), grpc_port_(grpc_port) {
    log_path_ = absl::StrCat(::testing::TempDir(), "admit-registration-",
                             getpid(), "-", grpc_port, ".log");
  }
  ~RegistrationProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)Wait();
    }
    if (::testing::Test::HasFailure()) {
      std::ifstream log(log_path_);
      std::stringstream text;
      text << log.rdbuf();
      std::cerr << "--- admit-registration log ---\n"
                << text.str() << std::endl;
    }
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

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
    env["ADMIT_GRPC_LISTEN"] = target();
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string binary = ADMIT_REGISTRATION_BINARY;
    char* argv[] = {binary.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return ::testing::AssertionFailure() << "spawn: " << rc;
    if (!admit::testing::WaitFor([&] { return Listening(grpc_port_); }, 60s)) {
      return ::testing::AssertionFailure() << "never listened";
    }
    channel_ = FastChannel(target());
    const bool serving = admit::testing::WaitFor(
        [&] {
          auto health = server::testdata::CheckHealth(channel_, "", 500ms);
          return health.ok() &&
                 *health == server::testdata::HealthCheckResponse::SERVING;
        },
        30s, 50ms);
    if (!serving) return ::testing::AssertionFailure() << "never SERVING";
    return ::testing::AssertionSuccess();
  }

  void Kill() {
    ::kill(pid_, SIGKILL);
    const int status = Wait();
    EXPECT_TRUE(WIFSIGNALED(status));
  }

  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return r < 0 ? -1 : status;
  }

  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  std::map<std::string, std::string> env_;
  int grpc_port_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

// Straight from the database: registration id -> (status, hold_id).
using StoredRows = std::map<std::string, std::pair<int, std::string>>;

StoredRows Registrations(pg::Pool& pool, const std::string& event_id) {
  auto rows = pool.Run([&](pqxx::connection& conn)
                           -> absl::StatusOr<StoredRows> {
    pqxx::work tx(conn);
    StoredRows out;
    for (const auto& r : tx.exec_params(
             "SELECT registration_id, status, COALESCE(hold_id, '') FROM "
             "registration.registrations WHERE event_id = $1",
             event_id)) {
      out[r[0].as<std::string>()] = {r[1].as<int>(), r[2].as<std::string>()};
    }
    return out;
  });
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : StoredRows{};
}

// HELD holds of the event that no registration row refers to.
int64_t OrphanHolds(pg::Pool& pool, const std::string& event_id) {
  auto n = pool.Run([&](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
    pqxx::work tx(conn);
    return tx
        .exec_params(
            "SELECT count(*) FROM quota.holds h WHERE h.event_id = $1 AND "
            "h.state = 1 AND NOT EXISTS (SELECT 1 FROM "
            "registration.registrations r WHERE r.event_id = $1 AND "
            "r.hold_id = h.hold_id)",
            event_id)[0][0]
        .as<int64_t>();
  });
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? *n : -1;
}

TEST(RegistrationProcess, AcknowledgedRegistrationsSurviveSigkill) {
  const std::string url = DatabaseUrl();
  ASSERT_FALSE(url.empty());
  qt::ReplicaOptions quota_options;
  quota_options.sweeper = true;
  auto quota = qt::Replica::Start(url, quota_options);
  ASSERT_NE(quota, nullptr);
  const std::string admin_key =
      absl::StrCat("admit_bootstrap_", crypto::NewToken());
  RegistrationProcess process(
      {{"ADMIT_PG_URL", url},
       {"ADMIT_METRICS_LISTEN", ""},
       {"ADMIT_QUOTA_ADDR", quota->server().grpc_target()},
       {"ADMIT_REGISTRATION_TOKEN_KEY", crypto::Sealer::NewBase64Key()},
       {"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key},
       // 400 calls at once from 127.0.0.1: rate limiting is another test's
       // subject (rate_limit_process_pgtest).
       {"ADMIT_RATE_LIMIT_ENABLED", "false"},
       {"ADMIT_LOG_LEVEL", "warn"}},
      admit::testing::FreePort());
  ASSERT_TRUE(process.Start());

  // The event, through the binary's OrganizerService (which also sets the
  // quotas). Short holds, so that the orphans' expiry is quick.
  const std::string event_id = qt::RandomEventId("proc");
  constexpr int kCapacity = 150;
  {
    auto organizer = v1::OrganizerService::NewStub(process.channel());
    v1::CreateEventRequest request;
    *request.mutable_event() =
        MakeEvent(event_id, kCapacity, {{"delegate", 0}}, 2s);
    request.mutable_event()->clear_registration_opens_at();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("authorization", absl::StrCat("Bearer ", admin_key));
    v1::CreateEventResponse response;
    grpc::Status status = organizer->CreateEvent(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // The load: 400 registrations fired at once; killed once 50 are answered.
  constexpr int kRequests = 400;
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < kRequests; ++i) {
    requests.push_back(RegisterRequestFor(
        event_id, "delegate", absl::StrCat("crash", i, "@example.org")));
  }
  auto stub = v1::RegistrationService::NewStub(process.channel());
  struct Call {
    grpc::ClientContext context;
    v1::RegisterResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int remaining = kRequests;
  std::atomic<int> ok_answers{0};
  for (int i = 0; i < kRequests; ++i) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->context.set_deadline(std::chrono::system_clock::now() + 30s);
    stub->async()->Register(&call->context, &requests[i], &call->response,
                            [&, call](grpc::Status status) {
                              call->status = std::move(status);
                              if (call->status.ok()) ++ok_answers;
                              std::lock_guard<std::mutex> lock(mu);
                              if (--remaining == 0) cv.notify_all();
                            });
  }
  ASSERT_TRUE(
      admit::testing::WaitFor([&] { return ok_answers >= 50; }, 30s, 1ms));
  process.Kill();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return remaining == 0; }));
  }
  std::map<std::string, int> acknowledged;  // id -> status answered
  std::vector<int> unanswered;
  for (int i = 0; i < kRequests; ++i) {
    if (calls[i]->status.ok()) {
      acknowledged[calls[i]->response.registration().id()] =
          calls[i]->response.registration().status();
    } else {
      unanswered.push_back(i);
    }
  }
  std::cout << "crash: " << acknowledged.size() << " acknowledged, "
            << unanswered.size() << " without an answer when killed"
            << std::endl;

  // Every acknowledged registration is stored, with the status answered.
  auto pool = pg::Pool::Create({.url = url, .size = 2});
  ASSERT_TRUE(pool.ok());
  auto stored = Registrations(**pool, event_id);
  for (const auto& [id, status] : acknowledged) {
    ASSERT_TRUE(stored.contains(id)) << id;
    EXPECT_EQ(stored[id].first, status) << id;
  }
  const int64_t orphans = OrphanHolds(**pool, event_id);
  std::cout << "crash: " << orphans << " holds without a registration"
            << std::endl;

  // Restarted (same port, same database): the clients' retries with the
  // same request_id register each request exactly once.
  ASSERT_TRUE(process.Start());
  stub = v1::RegistrationService::NewStub(process.channel());
  std::vector<v1::RegisterRequest> retries;
  for (int i : unanswered) retries.push_back(requests[i]);
  ConcurrentRegisterResult again = RegisterConcurrently({stub.get()}, retries);
  for (const auto& answer : again.answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
  }
  stored = Registrations(**pool, event_id);
  EXPECT_EQ(stored.size(), static_cast<size_t>(kRequests));
  // A retry of an acknowledged request answers the same registration.
  auto replay = Register(*stub, requests[0]);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(stored.contains(replay->registration().id()));

  // Holds without a registration are released by the quota sweeper (2 s
  // TTL + sweeps), and the quota counters agree with the holds.
  EXPECT_TRUE(admit::testing::WaitFor(
      [&] { return OrphanHolds(**pool, event_id) == 0; }, 30s, 100ms));
  auto quotas = ReadQuotas(**pool, event_id);
  ASSERT_TRUE(quotas.ok()) << quotas.status();
  EXPECT_LE(quotas->at("event").held + quotas->at("event").sold, kCapacity);
  absl::Status audit = qt::AuditEvent(quota->pool(), event_id);
  EXPECT_TRUE(audit.ok()) << audit;
}

}  // namespace
}  // namespace admit::registration
