// Helpers for integration tests: where the harness's servers are, private
// servers a test can stop and start itself, and condition waits.
//
// tests/run.sh starts Postgres, Redis and an SMTP sink and exports their
// addresses as ADMIT_TEST_PG_URL, ADMIT_TEST_REDIS_URL, ADMIT_TEST_SMTP_URL
// and ADMIT_TEST_MAILDIR. A test that must restart a server (to prove a
// client reconnects) starts its own with PrivatePostgres / PrivateRedis,
// through the same deploy/local scripts, so it never disturbs other tests.
#ifndef ADMIT_TESTS_SUPPORT_TEST_SUPPORT_H_
#define ADMIT_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace admit::testing {

// The value of an ADMIT_TEST_* variable. Integration tests run only under the
// harness; when it is missing this fails the test with a message saying to
// use tests/run.sh (and returns "").
std::string RequireEnv(const char* name);

// The repository root (ADMIT_REPO_ROOT, else the source dir at build time).
std::string RepoRoot();

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Polls `condition` every `poll` until it returns true or `deadline` passes.
// Returns whether it became true. The only way tests wait for things.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds deadline,
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

// A server started with deploy/local/<script> start <dir> <port>, in a fresh
// temporary directory, on a free port; stopped (and its directory removed)
// on destruction. Start/Stop may be called repeatedly: the port and data
// survive a Stop, which is how tests simulate a server restart.
class PrivateServer {
 public:
  // `script` is "postgres.sh" or "redis.sh".
  explicit PrivateServer(std::string script);
  ~PrivateServer();
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  absl::Status Start();
  absl::Status Stop();
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  absl::Status RunScript(const std::string& verb);

  std::string script_;
  std::string dir_;
  int port_;
  bool running_ = false;
};

// A private Postgres 15; Url() is postgresql://postgres@127.0.0.1:PORT/admit.
class PrivatePostgres : public PrivateServer {
 public:
  PrivatePostgres() : PrivateServer("postgres.sh") {}
  std::string Url() const;
};

// A private Redis; Url() is redis://127.0.0.1:PORT.
class PrivateRedis : public PrivateServer {
 public:
  PrivateRedis() : PrivateServer("redis.sh") {}
  std::string Url() const;
};

}  // namespace admit::testing

#endif  // ADMIT_TESTS_SUPPORT_TEST_SUPPORT_H_
