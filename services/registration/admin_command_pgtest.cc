// The `keys` admin command end to end against real Postgres
// (ADMIT_TEST_PG_URL): its output, its exit codes, and that the keys it
// creates and revokes are what the server's authenticator accepts.
#include "services/registration/admin_command.h"

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_store.h"
#include "services/registration/events_testing.h"

namespace admit::registration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace admit::registration::testing;  // NOLINT: test helpers

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class AdminCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    pool_ = NewPool(url_);
    ASSERT_NE(pool_, nullptr);
    auth_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::nullopt);
  }

  CommandRun Keys(std::vector<std::string> args,
                  std::map<std::string, std::string> env = {}) {
    env.emplace("ADMIT_PG_URL", url_);
    args.insert(args.begin(), {"admit-registration", "keys"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    std::ostringstream out, err;
    CommandRun run;
    run.exit_code = RunAdminCommand(
        static_cast<int>(argv.size()), argv.data(), out, err,
        [env](const std::string& name) -> std::optional<std::string> {
          auto it = env.find(name);
          if (it == env.end()) return std::nullopt;
          return it->second;
        });
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  // The value of "<field>  <value>" in create's output.
  static std::string Field(const std::string& out, const std::string& name) {
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      std::vector<std::string> parts =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (parts.size() >= 2 && parts[0] == name) return parts[1];
    }
    return "";
  }

  std::string url_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<ApiKeyAuthenticator> auth_;
};

TEST_F(AdminCommandTest, CreateListRevoke) {
  CommandRun created =
      Keys({"create", "--scope", "admin", "--name", "ops-team"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = Field(created.out, "id");
  const std::string key = Field(created.out, "key");
  auto parts = ParseApiKey(key);
  ASSERT_TRUE(parts.has_value()) << created.out;
  EXPECT_EQ(parts->id, id);
  EXPECT_THAT(created.err, HasSubstr("shown only this once"));

  ASSERT_TRUE(auth_->Refresh().ok());
  auto caller = auth_->Authenticate("Bearer " + key);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->scope, KeyScope::kAdmin);

  CommandRun listed = Keys({"list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(id));
  EXPECT_THAT(listed.out, HasSubstr("ops-team"));
  EXPECT_THAT(listed.out, Not(HasSubstr(parts->secret)));

  CommandRun revoked = Keys({"revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_THAT(revoked.out, HasSubstr("revoked " + id));
  ASSERT_TRUE(auth_->Refresh().ok());
  EXPECT_EQ(auth_->Authenticate("Bearer " + key).status().code(),
            absl::StatusCode::kUnauthenticated);

  // The list shows the key with two times: created and revoked.
  CommandRun after = Keys({"list"});
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(after.out, '\n')) {
    if (!absl::StartsWith(line, id)) continue;
    ++lines;
    std::vector<std::string> times;
    for (absl::string_view word :
         absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      if (absl::EndsWith(word, "Z") && word.size() == 20) {
        times.emplace_back(word);
      }
    }
    EXPECT_EQ(times.size(), 2u) << line;
  }
  EXPECT_EQ(lines, 1);
}

TEST_F(AdminCommandTest, OrganizerKeyForAnEvent) {
  EventStore store(pool_.get());
  const std::string event_id = RandomEventId("cli");
  ASSERT_TRUE(CreateReadyEvent(store, SampleEvent(event_id)).ok());
  CommandRun created = Keys(
      {"create", "--scope", "organizer", "--event", event_id, "--read-only"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(Field(created.out, "events"), event_id);
  EXPECT_EQ(Field(created.out, "read-only"), "yes");
  ASSERT_TRUE(auth_->Refresh().ok());
  auto caller = auth_->Authenticate("Bearer " + Field(created.out, "key"));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_TRUE(Authorize(*caller, OrganizerCall::kRead, event_id).ok());
  EXPECT_FALSE(Authorize(*caller, OrganizerCall::kWrite, event_id).ok());
}

TEST_F(AdminCommandTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Keys({}).exit_code, 2);
  EXPECT_EQ(Keys({"create"}).exit_code, 2);  // --scope is required
  EXPECT_EQ(Keys({"create", "--scope", "root"}).exit_code, 2);
  CommandRun no_event = Keys({"create", "--scope", "organizer"});
  EXPECT_EQ(no_event.exit_code, 2);
  EXPECT_THAT(no_event.err, HasSubstr("event"));
  EXPECT_EQ(Keys({"revoke"}).exit_code, 2);
  CommandRun bad_env = Keys({"list"}, {{"ADMIT_PG_POOL_SIZE", "many"}});
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_THAT(bad_env.err, HasSubstr("ADMIT_PG_POOL_SIZE"));
}

TEST_F(AdminCommandTest, HelpExitsZero) {
  CommandRun help = Keys({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("create"));
}

TEST_F(AdminCommandTest, FailuresExitOne) {
  CommandRun unknown = Keys({"revoke", NewApiKey().id});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no API key"));
  CommandRun missing_event = Keys(
      {"create", "--scope", "organizer", "--event", RandomEventId("none")});
  EXPECT_EQ(missing_event.exit_code, 1);
  CommandRun no_db = Keys(
      {"list"}, {{"ADMIT_PG_URL", "postgresql://postgres@127.0.0.1:1/admit"},
                 {"ADMIT_PG_CONNECT_TIMEOUT", "1s"}});
  EXPECT_EQ(no_db.exit_code, 1);
}

TEST_F(AdminCommandTest, BootstrapPrintsAUsableKeyWithoutTheDatabase) {
  CommandRun boot = Keys(
      {"bootstrap"}, {{"ADMIT_PG_URL", "postgresql://postgres@127.0.0.1:1/x"}});
  ASSERT_EQ(boot.exit_code, 0) << boot.err;
  std::string key(absl::StripAsciiWhitespace(boot.out));
  auto parsed = ParseBootstrapKey(key);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->has_value());
}

}  // namespace
}  // namespace admit::registration
