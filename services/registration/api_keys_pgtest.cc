// API keys stored in real Postgres (ADMIT_TEST_PG_URL): create, list,
// revoke, and the authenticator loading from the table. Other tests create
// keys in the same table at the same time, so assertions look at this
// test's keys only.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/crypto/token.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_store.h"
#include "services/registration/events_testing.h"

namespace admit::registration {
namespace {

using namespace admit::registration::testing;  // NOLINT: test helpers

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = DatabaseUrl();
    ASSERT_FALSE(url.empty());
    pool_ = NewPool(url);
    ASSERT_NE(pool_, nullptr);
    store_ = std::make_unique<EventStore>(pool_.get());
    auth_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::nullopt);
  }

  std::string Bearer(const std::string& key) { return "Bearer " + key; }

  const ApiKeyRecord* Listed(const std::vector<ApiKeyRecord>& keys,
                             const std::string& id) {
    auto it = std::find_if(keys.begin(), keys.end(),
                           [&](const ApiKeyRecord& k) { return k.id == id; });
    return it == keys.end() ? nullptr : &*it;
  }

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<ApiKeyAuthenticator> auth_;
};

TEST_F(ApiKeysTest, CreatedKeyAuthenticatesAfterARefresh) {
  ApiKeySpec spec;
  spec.name = "ops";
  auto created = CreateApiKey(*pool_, spec);
  ASSERT_TRUE(created.ok()) << created.status();
  auto parts = ParseApiKey(created->key);
  ASSERT_TRUE(parts.has_value()) << "not a well-formed key";
  EXPECT_EQ(parts->id, created->record.id);
  EXPECT_EQ(created->record.secret_hash, HashSecret(parts->secret));

  ASSERT_TRUE(auth_->Refresh().ok());
  auto caller = auth_->Authenticate(Bearer(created->key));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->key_id, created->record.id);
  EXPECT_EQ(caller->scope, KeyScope::kAdmin);

  KeyParts wrong{parts->id, crypto::NewToken()};
  auto rejected = auth_->Authenticate(Bearer(FormatApiKey(wrong)));
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetErrorReason(rejected.status()), "API_KEY_INVALID");
}

TEST_F(ApiKeysTest, StoredHashIsNotTheSecret) {
  auto created = CreateApiKey(*pool_, {});
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string secret = ParseApiKey(created->key)->secret;
  auto rows = pool_->Run([&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::read_transaction tx(c);
    // Any column holding the secret in any form would match.
    auto r = tx.exec_params(
        "SELECT count(*) FROM registration.api_keys k WHERE k.id = $1 AND "
        "(position($2 in k::text) > 0)",
        created->record.id, secret);
    return r[0][0].as<int64_t>();
  });
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 0);
}

TEST_F(ApiKeysTest, RevokedKeyIsRefusedAfterARefresh) {
  auto created = CreateApiKey(*pool_, {});
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(auth_->Refresh().ok());
  ASSERT_TRUE(auth_->Authenticate(Bearer(created->key)).ok());

  auto revoked = RevokeApiKey(*pool_, created->record.id);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_TRUE(revoked->revoked_at.has_value());
  ASSERT_TRUE(auth_->Refresh().ok());
  auto refused = auth_->Authenticate(Bearer(created->key));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetErrorReason(refused.status()), "API_KEY_INVALID");

  // Revoking again keeps the first time.
  auto again = RevokeApiKey(*pool_, created->record.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->revoked_at, revoked->revoked_at);
}

TEST_F(ApiKeysTest, RevokingAnUnknownKeyIsNotFound) {
  EXPECT_EQ(RevokeApiKey(*pool_, NewApiKey().id).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ApiKeysTest, ListShowsKeysWithTheirStateButNoSecret) {
  const std::string event_id = RandomEventId("keys");
  ASSERT_TRUE(CreateReadyEvent(*store_, SampleEvent(event_id)).ok());
  ApiKeySpec spec;
  spec.scope = KeyScope::kOrganizer;
  spec.event_ids = {event_id};
  spec.read_only = true;
  spec.name = "dashboard";
  auto organizer = CreateApiKey(*pool_, spec);
  ASSERT_TRUE(organizer.ok()) << organizer.status();
  auto admin = CreateApiKey(*pool_, {});
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(RevokeApiKey(*pool_, admin->record.id).ok());

  auto keys = ListApiKeys(*pool_);
  ASSERT_TRUE(keys.ok()) << keys.status();
  const ApiKeyRecord* o = Listed(*keys, organizer->record.id);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->scope, KeyScope::kOrganizer);
  EXPECT_EQ(o->event_ids, std::vector<std::string>{event_id});
  EXPECT_TRUE(o->read_only);
  EXPECT_EQ(o->name, "dashboard");
  EXPECT_FALSE(o->revoked_at.has_value());
  const ApiKeyRecord* a = Listed(*keys, admin->record.id);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->revoked_at.has_value());
}

TEST_F(ApiKeysTest, OrganizerKeyNeedsExistingEvents) {
  ApiKeySpec spec;
  spec.scope = KeyScope::kOrganizer;
  spec.event_ids = {RandomEventId("missing")};
  auto created = CreateApiKey(*pool_, spec);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(created.status()), "EVENT_NOT_FOUND");
}

TEST_F(ApiKeysTest, BadSpecsAreInvalid) {
  ApiKeySpec organizer_without_events;
  organizer_without_events.scope = KeyScope::kOrganizer;
  ApiKeySpec admin_with_events;
  admin_with_events.event_ids = {"pp-2026"};
  ApiKeySpec bad_event;
  bad_event.scope = KeyScope::kOrganizer;
  bad_event.event_ids = {"Not A Slug"};
  ApiKeySpec bad_name;
  bad_name.name = "line\nbreak";
  for (const ApiKeySpec& spec :
       {organizer_without_events, admin_with_events, bad_event, bad_name}) {
    auto created = CreateApiKey(*pool_, spec);
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument)
        << created.status();
    EXPECT_FALSE(GetFieldViolations(created.status()).empty());
  }
}

}  // namespace
}  // namespace admit::registration
