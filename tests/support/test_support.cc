#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace admit::testing {

std::string RequireEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << name
                  << " is not set: integration tests need the servers that "
                     "tests/run.sh starts; run them through it";
    return "";
  }
  return value;
}

std::string RepoRoot() {
  const char* root = std::getenv("ADMIT_REPO_ROOT");
  if (root != nullptr && *root != '\0') return root;
  return ADMIT_SOURCE_DIR;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds deadline,
             std::chrono::milliseconds poll) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

PrivateServer::PrivateServer(std::string script)
    : script_(std::move(script)), port_(FreePort()) {
  // Under the repo's .run/ so that the postgres user can reach it (the
  // scripts make that path traversable); unique per process and server.
  std::filesystem::path base =
      std::filesystem::path(RepoRoot()) / ".run" / "private";
  std::filesystem::create_directories(base);
  std::string templ = (base / "srv-XXXXXX").string();
  if (::mkdtemp(templ.data()) != nullptr) dir_ = templ;
}

PrivateServer::~PrivateServer() {
  if (running_) (void)Stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

absl::Status PrivateServer::RunScript(const std::string& verb) {
  if (dir_.empty() || port_ == 0) {
    return absl::InternalError("could not create a directory or find a port");
  }
  std::string command = absl::StrCat(
      "bash '", RepoRoot(), "/deploy/local/", script_, "' ", verb, " '",
      dir_, "'", verb == "start" ? absl::StrCat(" ", port_) : "",
      " >>'", dir_, "/control.log' 2>&1");
  int rc = std::system(command.c_str());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat(
        script_, " ", verb, " failed (", WEXITSTATUS(rc), "); see ", dir_,
        "/control.log"));
  }
  return absl::OkStatus();
}

absl::Status PrivateServer::Start() {
  absl::Status status = RunScript("start");
  if (status.ok()) running_ = true;
  return status;
}

absl::Status PrivateServer::Stop() {
  absl::Status status = RunScript("stop");
  if (status.ok()) running_ = false;
  return status;
}

std::string PrivatePostgres::Url() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port(), "/admit");
}

std::string PrivateRedis::Url() const {
  return absl::StrCat("redis://127.0.0.1:", port());
}

}  // namespace admit::testing
