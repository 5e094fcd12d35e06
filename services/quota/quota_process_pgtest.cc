// The real admit-quota binary as a child process, against real Postgres
// (ADMIT_TEST_PG_URL): durability across SIGKILL, graceful SIGTERM, --help.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/server/testdata/probe_client.h"
#include "gtest/gtest.h"
#include "services/quota/quota_testing.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::quota {
namespace {

using namespace std::chrono_literals;
using namespace admit::quota::testing;  // NOLINT: test helpers

// A channel that retries connecting every 100-200 ms (instead of gRPC's
// 1 s, 1.6 s, ... backoff) with a subchannel of its own, so a test sees a
// (re)started server as soon as it listens.
std::shared_ptr<grpc::Channel> FastChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// Whether something accepts TCP connections on 127.0.0.1:port.
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

// admit-quota started with posix_spawn; stderr goes to a log file that is
// printed when a test fails.
class QuotaProcess {
 public:
  QuotaProcess(std::string url, int grpc_port, int metrics_port)
      : url_(std::move(url)),
        grpc_port_(grpc_port),
        metrics_port_(metrics_port) {
    log_path_ = absl::StrCat(::testing::TempDir(), "admit-quota-", getpid(),
                             "-", grpc_port, ".log");
  }
  ~QuotaProcess() {
    if (pid_ > 0) {
      Signal(SIGKILL);
      (void)Wait();
    }
    if (::testing::Test::HasFailure()) {
      std::ifstream log(log_path_);
      std::stringstream text;
      text << log.rdbuf();
      std::cerr << "--- admit-quota log ---\n" << text.str() << std::endl;
    }
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

  // Spawns the binary and waits until its health check says SERVING.
  ::testing::AssertionResult Start(std::vector<std::string> args = {}) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      size_t eq = kv.find('=');
      if (eq != std::string::npos && kv.rfind("ADMIT_", 0) != 0) {
        env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    env["ADMIT_PG_URL"] = url_;
    env["ADMIT_GRPC_LISTEN"] = target();
    env["ADMIT_METRICS_LISTEN"] = absl::StrCat("127.0.0.1:", metrics_port_);
    env["ADMIT_QUOTA_SWEEP_INTERVAL"] = "200ms";
    env["ADMIT_LOG_LEVEL"] = "info";
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = {ADMIT_QUOTA_BINARY};
    for (auto& a : args) argv_strings.push_back(a);
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(),
                         envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return ::testing::AssertionFailure() << "spawn: " << rc;
    if (!args.empty()) return ::testing::AssertionSuccess();

    // Wait for the port first: a channel that tried too early backs off.
    if (!admit::testing::WaitFor([&] { return Listening(grpc_port_); }, 30s)) {
      return ::testing::AssertionFailure() << "never listened";
    }
    channel_ = FastChannel(target());
    bool serving = admit::testing::WaitFor(
        [&] {
          auto health = server::testdata::CheckHealth(channel_, "", 500ms);
          return health.ok() &&
                 *health == server::testdata::HealthCheckResponse::SERVING;
        },
        30s, 50ms);
    if (!serving) return ::testing::AssertionFailure() << "never SERVING";
    return ::testing::AssertionSuccess();
  }

  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Waits for the child; returns its wait status (or -1).
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return r < 0 ? -1 : status;
  }

  const std::string& log_path() const { return log_path_; }
  // A stub on the channel Start() checked health on.
  std::unique_ptr<v1::QuotaService::Stub> stub() {
    return v1::QuotaService::NewStub(channel_);
  }
  // Drops the channel (before a graceful stop: the server's drain then has
  // no idle connection to close).
  void CloseChannel() { channel_.reset(); }

 private:
  std::string url_;
  int grpc_port_;
  int metrics_port_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST(QuotaProcess, HoldsAndSalesSurviveSigkill) {
  const std::string url = DatabaseUrl();
  ASSERT_FALSE(url.empty());
  const int port = admit::testing::FreePort();
  QuotaProcess process(url, port, admit::testing::FreePort());
  ASSERT_TRUE(process.Start());
  auto stub = process.stub();
  const std::string event = RandomEventId("proc");
  ASSERT_TRUE(SetQuotas(*stub, SetRequest(event, {Limit(EventKey(), 50),
                                                  Limit(TypeKey("a"), 30)}))
                  .ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto r = Reserve(*stub, ReserveRequestFor(event, "a"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
    ids.push_back(r->hold().hold_id());
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Commit(*stub, ids[i]).ok());
  for (int i = 5; i < 7; ++i) ASSERT_TRUE(Release(*stub, ids[i]).ok());
  // Killed right after the last acknowledged answer: no drain, no flush.
  process.Signal(SIGKILL);
  int status = process.Wait();
  ASSERT_TRUE(WIFSIGNALED(status));

  ASSERT_TRUE(process.Start());  // same port, same database
  stub = process.stub();
  for (int i = 0; i < 20; ++i) {
    auto h = GetHold(*stub, ids[i]);
    ASSERT_TRUE(h.ok()) << h.status();
    const v1::HoldState want = i < 5   ? v1::HOLD_STATE_COMMITTED
                               : i < 7 ? v1::HOLD_STATE_RELEASED
                                       : v1::HOLD_STATE_HELD;
    EXPECT_EQ(h->hold().state(), want) << i;
  }
  auto usage = GetUsage(*stub, event);
  ASSERT_TRUE(usage.ok());
  for (const auto& q : usage->quotas()) {
    EXPECT_EQ(q.held(), 13);
    EXPECT_EQ(q.sold(), 5);
  }
  // And it keeps serving: a retried Reserve is still idempotent.
  auto retry = Reserve(*stub, ReserveRequestFor(event, "a", "", 600s, ids[10]));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->hold().state(), v1::HOLD_STATE_HELD);
  EXPECT_EQ(GetUsage(*stub, event)->quotas(0).held(), 13);

  stub.reset();
  process.CloseChannel();
  process.Signal(SIGTERM);
  status = process.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);  // graceful drain
}

TEST(QuotaProcess, HelpListsTheSettings) {
  QuotaProcess process("unused", admit::testing::FreePort(),
                       admit::testing::FreePort());
  ASSERT_TRUE(process.Start({"--help"}));
  int status = process.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream log(process.log_path());
  std::stringstream text;
  text << log.rdbuf();
  for (const char* var :
       {"ADMIT_GRPC_LISTEN", "ADMIT_PG_URL", "ADMIT_QUOTA_SWEEP_INTERVAL",
        "ADMIT_QUOTA_MAX_BATCH", "ADMIT_QUOTA_SCHEMA_DIR", "127.0.0.1:50052",
        "127.0.0.1:9462"}) {
    EXPECT_NE(text.str().find(var), std::string::npos) << var;
  }
}

}  // namespace
}  // namespace admit::quota
