// The smoke run of admit-loadtest (label integration): the real admit-quota
// and admit-registration binaries on free ports against ADMIT_TEST_PG_URL, a
// small spike with retried request_ids, duplicate emails and invalid
// requests, then the tool's own invariant checks. Asserts that the tool found
// no violation and that every attempt got an expected answer; never timing.
// The follow-through test adds admit-confirmation and the harness's SMTP sink
// and confirms half of the seats with the tokens of the delivered emails.
// The organizer test adds counts pollers, watch streams and exports.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/sealer.h"
#include "common/crypto/token.h"
#include "common/server/testdata/probe_client.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/scratch_database.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace admit::loadtest {
namespace {

using namespace std::chrono_literals;

// A child process with the parent's environment minus ADMIT_* plus `env`;
// stdout and stderr to `log`. Killed (SIGTERM, then SIGKILL) on destruction.
class Child {
 public:
  Child(std::vector<std::string> argv,
        const std::map<std::string, std::string>& env, std::string log)
      : log_(std::move(log)) {
    std::map<std::string, std::string> all;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      const size_t eq = kv.find('=');
      if (eq != std::string::npos && kv.rfind("ADMIT_", 0) != 0) {
        all[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    for (const auto& [k, v] : env) all[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : all) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(),
                    envp.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (!admit::testing::WaitFor([&] { return Exited(); }, 15s)) {
        ::kill(pid_, SIGKILL);
        (void)Wait();
      }
    }
  }
  pid_t pid() const { return pid_; }
  // Non-blocking: true once the child has exited (and is reaped).
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      pid_ = -1;
      return true;
    }
    return false;
  }
  int Wait() {
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      status_ = status;
      pid_ = -1;
    }
    return status_;
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = -1;
};

bool Serving(const std::string& target, Child& child) {
  auto channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  return admit::testing::WaitFor(
             [&] {
               if (child.Exited())
                 return true;  // gives up at once; checked below
               auto health = server::testdata::CheckHealth(channel, "", 500ms);
               return health.ok() &&
                      *health == server::testdata::HealthCheckResponse::SERVING;
             },
             60s, 50ms) &&
         !child.Exited();
}

std::string Tmp(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "loadtest-smoke-", getpid(), "-",
                      name);
}

// The environment of a service under test: its database, gRPC address, no
// metrics port, warn logs, plus `extra`.
std::map<std::string, std::string> ServiceEnv(
    const std::string& pg_url, const std::string& listen,
    std::map<std::string, std::string> extra = {}) {
  extra.insert({{"ADMIT_PG_URL", pg_url},
                {"ADMIT_GRPC_LISTEN", listen},
                {"ADMIT_METRICS_LISTEN", ""},
                {"ADMIT_LOG_LEVEL", "warn"}});
  return extra;
}

// admit-registration's: ServiceEnv plus its quota service, a fresh token key,
// the bootstrap admin key and the rate limiter off (tested elsewhere; here it
// would refuse the spike).
std::map<std::string, std::string> RegistrationEnv(
    const std::string& pg_url, const std::string& listen,
    const std::string& quota_addr, const std::string& admin_key,
    std::map<std::string, std::string> extra = {}) {
  extra.insert(
      {{"ADMIT_QUOTA_ADDR", quota_addr},
       {"ADMIT_REGISTRATION_TOKEN_KEY", crypto::Sealer::NewBase64Key()},
       {"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key},
       {"ADMIT_RATE_LIMIT_ENABLED", "false"}});
  return ServiceEnv(pg_url, listen, std::move(extra));
}

TEST(LoadtestSmoke, SpikeAgainstRealBinariesKeepsEveryInvariant) {
  const std::string url = admit::testing::RequireEnv("ADMIT_TEST_PG_URL");
  ASSERT_FALSE(url.empty());
  const std::string quota_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string registration_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string admin_key =
      absl::StrCat("admit_bootstrap_", crypto::NewToken());

  Child quota({ADMIT_QUOTA_BINARY}, ServiceEnv(url, quota_addr),
              Tmp("quota.log"));
  ASSERT_TRUE(Serving(quota_addr, quota)) << quota.Log();
  Child registration(
      {ADMIT_REGISTRATION_BINARY},
      RegistrationEnv(url, registration_addr, quota_addr, admin_key),
      Tmp("registration.log"));
  ASSERT_TRUE(Serving(registration_addr, registration)) << registration.Log();

  const std::string json_path = Tmp("spike.json");
  const std::string report_path = Tmp("spike.html");
  Child tool({ADMIT_LOADTEST_BINARY,
              "spike",
              "--registration",
              registration_addr,
              "--attempts",
              "300",
              "--capacity",
              "100",
              "--clients",
              "16",
              "--ticket-types",
              "2",
              "--retry-fraction",
              "0.1",
              "--duplicate-fraction",
              "0.1",
              "--invalid-fraction",
              "0.05",
              "--pid",
              absl::StrCat("quota=", quota.pid()),
              "--pid",
              absl::StrCat("registration=", registration.pid()),
              "--json",
              json_path,
              "--report",
              report_path,
              "--require-all-answered"},
             {{"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key}, {"ADMIT_PG_URL", url}},
             Tmp("tool.log"));
  const int status = tool.Wait();
  std::cout << tool.Log();
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0)
      << "admit-loadtest failed; see its output above";

  std::ifstream json_file(json_path);
  const nlohmann::json j = nlohmann::json::parse(json_file);
  EXPECT_EQ(j["answered"], 300);
  EXPECT_EQ(j["unexpected"], 0);
  EXPECT_TRUE(j["violations"].empty());
  EXPECT_TRUE(j["database_checked"]);
  // The spike overflowed the capacity, so both outcomes were exercised.
  EXPECT_GT(j["by_status"].value("PENDING_CONFIRMATION", 0), 0);
  EXPECT_GT(j["by_status"].value("WAITLISTED", 0), 0);
  EXPECT_GT(j["by_code"].value("ALREADY_EXISTS", 0), 0);
  EXPECT_GT(j["by_code"].value("INVALID_ARGUMENT", 0), 0);
  EXPECT_TRUE(j["processes"]["registration"]["found"]);
  std::ifstream report(report_path);
  std::stringstream html;
  html << report.rdbuf();
  EXPECT_NE(html.str().find("<svg"), std::string::npos);

  // The gRPC ceiling scenario answers too (health Check on the same server).
  Child ceiling(
      {ADMIT_LOADTEST_BINARY, "grpc-ceiling", "--target", registration_addr,
       "--attempts", "200", "--clients", "8", "--require-all-answered"},
      {}, Tmp("ceiling.log"));
  const int ceiling_status = ceiling.Wait();
  ASSERT_TRUE(WIFEXITED(ceiling_status) && WEXITSTATUS(ceiling_status) == 0)
      << ceiling.Log();
}

// Registration, quota and confirmation on a database of their own (the
// drainer sends every pending outbox row it sees), mail to the harness's
// sink: a spike overflowing 60 seats, then the tool waits for every email,
// confirms half of the PENDING registrations with the tokens it read from
// them and waits for their ticket emails.
TEST(LoadtestSmoke, SpikeFollowedThroughConfirmationKeepsEveryInvariant) {
  const std::string smtp_url =
      admit::testing::RequireEnv("ADMIT_TEST_SMTP_URL");
  const std::string maildir = admit::testing::RequireEnv("ADMIT_TEST_MAILDIR");
  admit::testing::ScratchDatabase db;
  ASSERT_FALSE(db.url().empty());
  const std::string quota_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string registration_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string confirmation_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string admin_key =
      absl::StrCat("admit_bootstrap_", crypto::NewToken());
  const std::string ticket_key = crypto::Sealer::NewBase64Key();

  Child quota({ADMIT_QUOTA_BINARY}, ServiceEnv(db.url(), quota_addr),
              Tmp("follow-quota.log"));
  ASSERT_TRUE(Serving(quota_addr, quota)) << quota.Log();
  Child registration(
      {ADMIT_REGISTRATION_BINARY},
      RegistrationEnv(db.url(), registration_addr, quota_addr, admin_key,
                      {{"ADMIT_TICKET_KEY", ticket_key}}),
      Tmp("follow-registration.log"));
  ASSERT_TRUE(Serving(registration_addr, registration)) << registration.Log();
  Child confirmation({ADMIT_CONFIRMATION_BINARY},
                     ServiceEnv(db.url(), confirmation_addr,
                                {{"ADMIT_REGISTRATION_ADDR", registration_addr},
                                 {"ADMIT_SMTP_URL", smtp_url},
                                 {"ADMIT_CONFIRMATION_TOKEN_KEY",
                                  crypto::Sealer::NewBase64Key()},
                                 {"ADMIT_TICKET_KEY", ticket_key},
                                 {"ADMIT_CONFIRMATION_POLL_INTERVAL", "100ms"},
                                 {"ADMIT_RATE_LIMIT_ENABLED", "false"}}),
                     Tmp("follow-confirmation.log"));
  ASSERT_TRUE(Serving(confirmation_addr, confirmation)) << confirmation.Log();

  const std::string json_path = Tmp("follow.json");
  Child tool(
      {ADMIT_LOADTEST_BINARY,
       "spike",
       "--registration",
       registration_addr,
       "--attempts",
       "200",
       "--capacity",
       "60",
       "--clients",
       "16",
       "--confirm-fraction",
       "0.5",
       "--confirmation",
       confirmation_addr,
       "--maildir",
       maildir,
       "--mail-deadline-s",
       "240",
       "--wait-tickets",
       "--json",
       json_path,
       "--require-all-answered"},
      {{"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key}, {"ADMIT_PG_URL", db.url()}},
      Tmp("follow-tool.log"));
  const int status = tool.Wait();
  std::cout << tool.Log();
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0)
      << "admit-loadtest failed; see its output above\n"
      << confirmation.Log();

  std::ifstream json_file(json_path);
  const nlohmann::json j = nlohmann::json::parse(json_file);
  EXPECT_EQ(j["answered"], 200);
  EXPECT_EQ(j["unexpected"], 0);
  EXPECT_TRUE(j["violations"].empty()) << j["violations"].dump(2);
  const nlohmann::json& c = j["confirmation"];
  // Every seat went to a PENDING registration, the rest waited.
  EXPECT_EQ(c["pending"], 60);
  EXPECT_EQ(c["waitlisted"], 140);
  EXPECT_EQ(c["delivered"], 200);
  EXPECT_TRUE(c["all_delivered"]);
  // Half of the seats confirmed with the tokens read from the emails.
  EXPECT_EQ(c["confirmed"], 30);
  EXPECT_EQ(c["confirmed_stored"], 30);
  EXPECT_TRUE(c["tickets_checked"]);
  EXPECT_EQ(c["tickets_delivered"], 30);
}

// The organizer scenario: during a spike, GetRegistrationCounts pollers, 50
// WatchRegistrationCounts streams and an export; afterwards the tool checks
// the counts against a scan of the registrations, every stream's last
// message and a final export (attendees spread over organizations and
// countries, so every dimension of the counts is compared).
TEST(LoadtestSmoke, OrganizerScenarioCountsWatchersAndExportsAreExact) {
  const std::string url = admit::testing::RequireEnv("ADMIT_TEST_PG_URL");
  ASSERT_FALSE(url.empty());
  const std::string quota_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string registration_addr =
      absl::StrCat("127.0.0.1:", admit::testing::FreePort());
  const std::string admin_key =
      absl::StrCat("admit_bootstrap_", crypto::NewToken());

  Child quota({ADMIT_QUOTA_BINARY}, ServiceEnv(url, quota_addr),
              Tmp("organizer-quota.log"));
  ASSERT_TRUE(Serving(quota_addr, quota)) << quota.Log();
  Child registration(
      {ADMIT_REGISTRATION_BINARY},
      RegistrationEnv(url, registration_addr, quota_addr, admin_key),
      Tmp("organizer-registration.log"));
  ASSERT_TRUE(Serving(registration_addr, registration)) << registration.Log();

  const std::string json_path = Tmp("organizer.json");
  Child tool({ADMIT_LOADTEST_BINARY,
              "organizer",
              "--registration",
              registration_addr,
              "--attempts",
              "300",
              "--capacity",
              "100",
              "--clients",
              "16",
              "--ticket-types",
              "2",
              "--retry-fraction",
              "0.05",
              "--duplicate-fraction",
              "0.05",
              "--invalid-fraction",
              "0.05",
              "--watchers",
              "50",
              "--pollers",
              "2",
              "--settle-s",
              "60",
              "--json",
              json_path,
              "--require-all-answered"},
             {{"ADMIT_BOOTSTRAP_ADMIN_KEY", admin_key}, {"ADMIT_PG_URL", url}},
             Tmp("organizer-tool.log"));
  const int status = tool.Wait();
  std::cout << tool.Log();
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0)
      << "admit-loadtest failed; see its output above\n"
      << registration.Log();

  std::ifstream json_file(json_path);
  const nlohmann::json j = nlohmann::json::parse(json_file);
  EXPECT_EQ(j["answered"], 300);
  EXPECT_EQ(j["unexpected"], 0);
  EXPECT_TRUE(j["violations"].empty()) << j["violations"].dump(2);
  int64_t stored = 0;
  for (const auto& [name, n] : j["database"]["rows_by_status"].items())
    stored += n.get<int64_t>();
  const nlohmann::json& o = j["organizer"];
  // The final counts are the scan's, in every group: the event, 2 ticket
  // types, 6 organizations (none and Org 1..5 in two spellings each), 4
  // countries.
  EXPECT_TRUE(o["counts_checked"]);
  EXPECT_TRUE(o["counts_match"]);
  EXPECT_EQ(o["registrations"], stored);
  EXPECT_EQ(o["counts_total"], stored);
  EXPECT_EQ(o["count_groups"], 13);
  EXPECT_GT(o["count_codes"].value("OK", 0), 0);
  EXPECT_EQ(o["count_codes"].size(), 1u) << o["count_codes"].dump();
  // Every stream got messages and ended on the final counts.
  EXPECT_EQ(o["watchers"], 50);
  EXPECT_EQ(o["watchers_with_message"], 50);
  EXPECT_EQ(o["watchers_final"], 50);
  EXPECT_TRUE(o["watch_ended_early"].empty()) << o["watch_ended_early"];
  // The export after the spike holds every registration once; the one
  // during it completed.
  EXPECT_EQ(o["export_after"]["code"], "OK");
  EXPECT_EQ(o["export_after"]["rows"], stored);
  EXPECT_EQ(o["export_after"]["distinct_ids"], stored);
  EXPECT_TRUE(o["export_during"]["ran"]);
  EXPECT_EQ(o["export_during"]["code"], "OK");
  EXPECT_EQ(o["export_during"]["duplicate_ids"], 0);
}

}  // namespace
}  // namespace admit::loadtest
