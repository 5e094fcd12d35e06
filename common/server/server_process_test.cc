// admit-echo-server as a real child process: SIGTERM while a call is in
// flight drains it and exits 0; start-up errors exit non-zero with a clear
// message.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/metrics_testing.h"
#include "common/server/testdata/echo_service.h"
#include "common/server/testdata/probe_client.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::server {
namespace {

using ::admit::testing::Echo;
using ::admit::testing::FreePort;
using ::admit::testing::SayRequest;
using ::admit::testing::SayResponse;
using ::admit::testing::WaitFor;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kServerPath[] = ADMIT_ECHO_SERVER_PATH;

// One admit-echo-server process with its stderr in a temporary file.
class Child {
 public:
  explicit Child(const std::map<std::string, std::string>& env_overrides) {
    char templ[] = "/tmp/admit-echo-log-XXXXXX";
    int fd = ::mkstemp(templ);
    if (fd >= 0) ::close(fd);
    log_path_ = templ;

    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      std::string key = entry.substr(0, entry.find('='));
      if (!env_overrides.count(key)) env.push_back(entry);
    }
    for (const auto& [key, value] : env_overrides) {
      env.push_back(absl::StrCat(key, "=", value));
    }
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (std::string& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_path_.c_str(),
                                     O_WRONLY | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char* argv[] = {const_cast<char*>(kServerPath), nullptr};
    if (posix_spawn(&pid_, kServerPath, &actions, &attr, argv, envp.data()) !=
        0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }

  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    ::unlink(log_path_.c_str());
  }

  bool spawned() const { return pid_ > 0; }
  void Signal(int signal_number) { ::kill(pid_, signal_number); }

  // Waits for the process to exit; its exit code, or -1 on timeout or when it
  // died from a signal.
  int WaitExit(std::chrono::milliseconds timeout) {
    int status = 0;
    bool done = WaitFor(
        [&] {
          if (exited_) return true;
          pid_t r = ::waitpid(pid_, &status, WNOHANG);
          if (r == pid_) {
            exited_ = true;
            exit_status_ = status;
          }
          return exited_;
        },
        timeout);
    if (!done) return -1;
    return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }

  bool running() {
    if (exited_) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
    }
    return !exited_;
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;
  std::string log_path_;
};

std::shared_ptr<grpc::Channel> Plaintext(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

bool Serving(const std::string& target) {
  auto health = testdata::CheckHealth(Plaintext(target), "", 1s);
  return health.ok() && *health == testdata::HealthCheckResponse::SERVING;
}

bool NewCallsRefused(const std::string& target) {
  auto stub = Echo::NewStub(Plaintext(target));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 2s);
  SayRequest request;
  SayResponse response;
  return stub->Say(&context, request, &response).error_code() ==
         grpc::StatusCode::UNAVAILABLE;
}

struct Ports {
  int grpc = FreePort();
  int metrics = FreePort();
  std::string target() const { return absl::StrCat("127.0.0.1:", grpc); }
  std::map<std::string, std::string> Env() const {
    return {{"ADMIT_GRPC_LISTEN", target()},
            {"ADMIT_METRICS_LISTEN", absl::StrCat("127.0.0.1:", metrics)},
            {"ADMIT_DRAIN_TIMEOUT", "30s"},
            {"ADMIT_LOG_LEVEL", "info"}};
  }
};

TEST(EchoServerProcess, SigtermDrainsInFlightCallAndExitsZero) {
  Ports ports;
  Child child(ports.Env());
  ASSERT_TRUE(child.spawned());
  ASSERT_TRUE(WaitFor([&] { return Serving(ports.target()); }, 30s))
      << child.Log();

  // A call that takes 4 s of server time, started before the signal.
  auto stub = Echo::NewStub(Plaintext(ports.target()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 60s);
  SayRequest request;
  request.set_text("finish me");
  request.set_delay_ms(4000);
  SayResponse response;
  std::promise<grpc::Status> done;
  auto result = done.get_future();
  stub->async()->SlowSay(&context, &request, &response,
                         [&](const grpc::Status& s) { done.set_value(s); });
  // It is in the handler once the server's in-flight gauge shows it.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto text = metrics::testing::HttpGet(ports.metrics, "/metrics");
        if (!text.ok()) return false;
        auto in_flight = metrics::testing::SampleValue(
            *text, "grpc_server_in_flight", {{"grpc_method", "SlowSay"}});
        return in_flight.ok() && *in_flight == 1;
      },
      30s));

  child.Signal(SIGTERM);
  // While it drains: new calls are refused, the process is still up and the
  // old call is still running.
  bool refused_while_draining = WaitFor(
      [&] {
        return NewCallsRefused(ports.target()) && child.running() &&
               result.wait_for(0s) != std::future_status::ready;
      },
      10s);
  EXPECT_TRUE(refused_while_draining) << child.Log();

  grpc::Status status = result.get();
  EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << child.Log();
  EXPECT_EQ(response.text(), "finish me");
  EXPECT_EQ(child.WaitExit(60s), 0) << child.Log();
  std::string log = child.Log();
  EXPECT_THAT(log, HasSubstr("SIGTERM"));
  EXPECT_THAT(log, HasSubstr("shutdown complete"));
}

TEST(EchoServerProcess, SigintWhenIdleExitsZero) {
  Ports ports;
  Child child(ports.Env());
  ASSERT_TRUE(child.spawned());
  ASSERT_TRUE(WaitFor([&] { return Serving(ports.target()); }, 30s))
      << child.Log();
  child.Signal(SIGINT);
  EXPECT_EQ(child.WaitExit(30s), 0) << child.Log();
  EXPECT_TRUE(NewCallsRefused(ports.target()));
  EXPECT_THAT(child.Log(), HasSubstr("SIGINT"));
}

TEST(EchoServerProcess, TakenPortExitsOneWithAClearMessage) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  Ports ports;
  ports.grpc = ntohs(addr.sin_port);
  Child child(ports.Env());
  ASSERT_TRUE(child.spawned());
  EXPECT_EQ(child.WaitExit(30s), 1) << child.Log();
  ::close(fd);
  EXPECT_THAT(child.Log(),
              HasSubstr(absl::StrCat("cannot listen on ", ports.target(),
                                     " (address in use?)")));
}

TEST(EchoServerProcess, InvalidSettingExitsTwoNamingIt) {
  Ports ports;
  auto env = ports.Env();
  env["ADMIT_DRAIN_TIMEOUT"] = "soon";
  Child child(env);
  ASSERT_TRUE(child.spawned());
  EXPECT_EQ(child.WaitExit(30s), 2) << child.Log();
  EXPECT_THAT(child.Log(), HasSubstr("ADMIT_DRAIN_TIMEOUT"));
}

TEST(EchoServerProcess, HelpListsServerSettings) {
  std::string command = absl::StrCat("'", kServerPath, "' --help");
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  int rc = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
  for (const char* name :
       {"ADMIT_GRPC_LISTEN", "ADMIT_METRICS_LISTEN", "ADMIT_DRAIN_TIMEOUT",
        "ADMIT_TLS_CERT_FILE", "ADMIT_TLS_CLIENT_CA_FILE",
        "ADMIT_GRPC_KEEPALIVE_TIME"}) {
    EXPECT_THAT(output, HasSubstr(name));
  }
}

}  // namespace
}  // namespace admit::server
