// API keys without a database: the text form, the permission table, and
// the authenticator over a fake key loader with a fake clock.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/token.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/api_key.h"
#include "services/registration/api_keys.h"

namespace admit::registration {
namespace {

TEST(ApiKeyText, NewKeyParsesBackToItsParts) {
  const KeyParts parts = NewApiKey();
  EXPECT_EQ(parts.id.size(), 16u);
  EXPECT_TRUE(IsApiKeyId(parts.id));
  EXPECT_TRUE(crypto::IsWellFormedToken(parts.secret));
  const std::string text = FormatApiKey(parts);
  EXPECT_EQ(text.rfind("admit_", 0), 0u);
  std::optional<KeyParts> parsed = ParseApiKey(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->id, parts.id);
  EXPECT_EQ(parsed->secret, parts.secret);
}

TEST(ApiKeyText, NewKeysDiffer) {
  std::set<std::string> ids, secrets;
  for (int i = 0; i < 100; ++i) {
    KeyParts k = NewApiKey();
    ids.insert(k.id);
    secrets.insert(k.secret);
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(secrets.size(), 100u);
}

TEST(ApiKeyText, SecretMayContainUnderscores) {
  // Base64url secrets can contain '_': only the first one after the id
  // separates.
  std::string secret;
  for (int i = 0; i < 1000 && secret.find('_') == std::string::npos; ++i) {
    secret = crypto::NewToken();
  }
  ASSERT_NE(secret.find('_'), std::string::npos);
  auto parsed = ParseApiKey(FormatApiKey({"abc123", secret}));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->id, "abc123");
  EXPECT_EQ(parsed->secret, secret);
}

TEST(ApiKeyText, MalformedKeysAreRejected) {
  const std::string secret = crypto::NewToken();
  for (const std::string& bad : std::vector<std::string>{
           "",
           "admit_",
           "admit_abc",
           "admit__" + secret,                              // empty id
           "admit_ABC_" + secret,                           // upper-case id
           "admit_" + std::string(33, 'a') + "_" + secret,  // id too long
           "admin_abc_" + secret,                           // wrong prefix
           "admit_abc_" + secret + "x",                     // secret too long
           "admit_abc_" + secret.substr(1),                 // secret too short
           "admit_abc_" + std::string(22, '*'),
           " admit_abc_" + secret,
       }) {
    EXPECT_FALSE(ParseApiKey(bad).has_value()) << bad;
  }
}

ApiKeyRecord Record(const std::string& id, const std::string& secret,
                    KeyScope scope = KeyScope::kAdmin,
                    std::vector<std::string> events = {},
                    bool read_only = false) {
  ApiKeyRecord r;
  r.id = id;
  r.secret_hash = HashSecret(secret);
  r.scope = scope;
  r.event_ids = std::move(events);
  r.read_only = read_only;
  return r;
}

TEST(ApiKeySecret, OnlyTheRightSecretMatches) {
  const std::string secret = crypto::NewToken();
  const ApiKeyRecord record = Record("abc", secret);
  EXPECT_EQ(record.secret_hash.size(), 32u);
  EXPECT_TRUE(SecretMatches(record, secret));
  EXPECT_FALSE(SecretMatches(record, crypto::NewToken()));
  std::string one_off = secret;
  one_off.back() = one_off.back() == 'A' ? 'Q' : 'A';
  EXPECT_FALSE(SecretMatches(record, one_off));
}

// --- permissions (organizer.proto, "Authentication") -----------------------

Caller Admin(bool read_only = false) {
  return Caller{"k", KeyScope::kAdmin, read_only, {}};
}
Caller Organizer(std::vector<std::string> events, bool read_only = false) {
  return Caller{"k", KeyScope::kOrganizer, read_only, std::move(events)};
}

void ExpectDenied(const absl::Status& s) {
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(GetErrorReason(s), "API_KEY_NOT_PERMITTED");
}

TEST(Authorize, AdminMayDoEverything) {
  EXPECT_TRUE(Authorize(Admin(), OrganizerCall::kCreateEvent, "").ok());
  EXPECT_TRUE(Authorize(Admin(), OrganizerCall::kRead, "any").ok());
  EXPECT_TRUE(Authorize(Admin(), OrganizerCall::kWrite, "any").ok());
}

TEST(Authorize, ReadOnlyAdminMayOnlyRead) {
  EXPECT_TRUE(Authorize(Admin(true), OrganizerCall::kRead, "any").ok());
  ExpectDenied(Authorize(Admin(true), OrganizerCall::kWrite, "any"));
  ExpectDenied(Authorize(Admin(true), OrganizerCall::kCreateEvent, ""));
}

TEST(Authorize, OrganizerMayUseOnlyItsEventsAndNeverCreate) {
  const Caller c = Organizer({"pp-2026", "wtsa-24"});
  EXPECT_TRUE(Authorize(c, OrganizerCall::kRead, "pp-2026").ok());
  EXPECT_TRUE(Authorize(c, OrganizerCall::kWrite, "wtsa-24").ok());
  ExpectDenied(Authorize(c, OrganizerCall::kRead, "other"));
  ExpectDenied(Authorize(c, OrganizerCall::kWrite, "other"));
  ExpectDenied(Authorize(c, OrganizerCall::kCreateEvent, ""));
}

TEST(Authorize, ReadOnlyOrganizerMayOnlyReadItsEvents) {
  const Caller c = Organizer({"pp-2026"}, true);
  EXPECT_TRUE(Authorize(c, OrganizerCall::kRead, "pp-2026").ok());
  ExpectDenied(Authorize(c, OrganizerCall::kWrite, "pp-2026"));
  ExpectDenied(Authorize(c, OrganizerCall::kRead, "other"));
}

// --- the authenticator -----------------------------------------------------

void ExpectInvalid(const absl::StatusOr<Caller>& c) {
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated)
      << c.status();
  EXPECT_EQ(GetErrorReason(c.status()), "API_KEY_INVALID");
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest() {
    admin_ = NewApiKey();
    organizer_ = NewApiKey();
    keys_ = {Record(admin_.id, admin_.secret),
             Record(organizer_.id, organizer_.secret, KeyScope::kOrganizer,
                    {"pp-2026"}, true)};
  }

  std::unique_ptr<ApiKeyAuthenticator> Make(
      std::optional<ApiKeyRecord> bootstrap = std::nullopt) {
    ApiKeyCacheOptions options;
    options.max_staleness = std::chrono::seconds(60);
    return std::make_unique<ApiKeyAuthenticator>(
        [this]() -> absl::StatusOr<std::vector<ApiKeyRecord>> {
          ++loads_;
          if (!load_error_.ok()) return load_error_;
          return keys_;
        },
        std::move(bootstrap), options, [this] { return now_; });
  }

  static std::string Bearer(const KeyParts& k) {
    return "Bearer " + FormatApiKey(k);
  }

  KeyParts admin_, organizer_;
  std::vector<ApiKeyRecord> keys_;
  absl::Status load_error_;
  int loads_ = 0;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(AuthenticatorTest, StoredKeysAuthenticateWithTheirScope) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  auto admin = auth->Authenticate(Bearer(admin_));
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->key_id, admin_.id);
  EXPECT_EQ(admin->scope, KeyScope::kAdmin);
  EXPECT_FALSE(admin->read_only);
  auto organizer = auth->Authenticate(Bearer(organizer_));
  ASSERT_TRUE(organizer.ok()) << organizer.status();
  EXPECT_EQ(organizer->scope, KeyScope::kOrganizer);
  EXPECT_TRUE(organizer->read_only);
  EXPECT_EQ(organizer->event_ids, std::vector<std::string>{"pp-2026"});
}

TEST_F(AuthenticatorTest, SchemeIsCaseInsensitiveAndSpacesAreTolerated) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  EXPECT_TRUE(auth->Authenticate("bearer " + FormatApiKey(admin_)).ok());
  EXPECT_TRUE(
      auth->Authenticate("  BEARER   " + FormatApiKey(admin_) + " ").ok());
}

TEST_F(AuthenticatorTest, BadCredentialsAreUnauthenticated) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  ExpectInvalid(auth->Authenticate(std::nullopt));
  ExpectInvalid(auth->Authenticate(""));
  ExpectInvalid(auth->Authenticate(FormatApiKey(admin_)));  // no scheme
  ExpectInvalid(auth->Authenticate("Basic " + FormatApiKey(admin_)));
  ExpectInvalid(auth->Authenticate("Bearer"));
  ExpectInvalid(auth->Authenticate("Bearer not-a-key"));
  ExpectInvalid(auth->Authenticate(Bearer(NewApiKey())));  // unknown id
  KeyParts wrong_secret{admin_.id, crypto::NewToken()};
  ExpectInvalid(auth->Authenticate(Bearer(wrong_secret)));
}

TEST_F(AuthenticatorTest, MessagesNeverContainTheKey) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  KeyParts wrong_secret{admin_.id, crypto::NewToken()};
  auto result = auth->Authenticate(Bearer(wrong_secret));
  EXPECT_EQ(std::string(result.status().message()).find(wrong_secret.secret),
            std::string::npos);
}

TEST_F(AuthenticatorTest, RevokedKeyStopsWorkingAtTheNextRefresh) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  ASSERT_TRUE(auth->Authenticate(Bearer(admin_)).ok());
  keys_[0].revoked_at = now_;  // what LoadActiveApiKeys would no longer list
  ASSERT_TRUE(auth->Authenticate(Bearer(admin_)).ok());  // not reloaded yet
  ASSERT_TRUE(auth->Refresh().ok());
  ExpectInvalid(auth->Authenticate(Bearer(admin_)));
  EXPECT_TRUE(auth->Authenticate(Bearer(organizer_)).ok());
}

TEST_F(AuthenticatorTest, NewKeyWorksAfterTheNextRefresh) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  KeyParts fresh = NewApiKey();
  keys_.push_back(Record(fresh.id, fresh.secret));
  ExpectInvalid(auth->Authenticate(Bearer(fresh)));
  ASSERT_TRUE(auth->Refresh().ok());
  EXPECT_TRUE(auth->Authenticate(Bearer(fresh)).ok());
}

TEST_F(AuthenticatorTest, StoredKeysAreUnavailableBeforeTheFirstLoad) {
  auto auth = Make();
  EXPECT_EQ(auth->Authenticate(Bearer(admin_)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(AuthenticatorTest, LastLoadedKeysServeUntilMaxStaleness) {
  auto auth = Make();
  ASSERT_TRUE(auth->Refresh().ok());
  load_error_ = absl::UnavailableError("postgres down");
  now_ += absl::Seconds(30);
  EXPECT_EQ(auth->Refresh().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(auth->Authenticate(Bearer(admin_)).ok());
  now_ += absl::Seconds(31);  // 61 s since the last good load
  EXPECT_EQ(auth->Authenticate(Bearer(admin_)).status().code(),
            absl::StatusCode::kUnavailable);
  load_error_ = absl::OkStatus();
  ASSERT_TRUE(auth->Refresh().ok());
  EXPECT_TRUE(auth->Authenticate(Bearer(admin_)).ok());
}

TEST_F(AuthenticatorTest, RefresherThreadReloads) {
  ApiKeyCacheOptions options;
  options.refresh_interval = std::chrono::milliseconds(10);
  std::atomic<int> loads{0};
  ApiKeyAuthenticator auth(
      [&]() -> absl::StatusOr<std::vector<ApiKeyRecord>> {
        ++loads;
        return std::vector<ApiKeyRecord>{};
      },
      std::nullopt, options);
  auth.Start();
  // Polls with a deadline: three reloads without anyone calling Refresh().
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (loads.load() < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(loads.load(), 3);
  auth.Stop();  // joins the thread (a hang here fails the test by timeout)
}

// --- the bootstrap key -----------------------------------------------------

TEST(BootstrapKey, EmptyMeansNone) {
  std::string value;
  auto parsed = ParseBootstrapKey(value);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->has_value());
}

TEST(BootstrapKey, MalformedNamesTheVariableAndIsWiped) {
  std::string value = "admit_abc_short";
  auto parsed = ParseBootstrapKey(value);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("ADMIT_BOOTSTRAP_ADMIN_KEY"),
            absl::string_view::npos);
  EXPECT_EQ(parsed.status().message().find("short"), absl::string_view::npos);
  EXPECT_TRUE(value.empty());
}

TEST_F(AuthenticatorTest, BootstrapKeyIsAnAdminWithoutTheDatabase) {
  const KeyParts boot = NewApiKey();
  std::string value = FormatApiKey(boot);
  auto parsed = ParseBootstrapKey(value);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->has_value());
  EXPECT_TRUE(value.empty());  // wiped
  EXPECT_EQ((*parsed)->secret_hash, HashSecret(boot.secret));

  load_error_ = absl::UnavailableError("postgres down");
  auto auth = Make(**parsed);
  EXPECT_FALSE(auth->Refresh().ok());
  auto caller = auth->Authenticate(Bearer(boot));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->scope, KeyScope::kAdmin);
  EXPECT_FALSE(caller->read_only);
  EXPECT_TRUE(Authorize(*caller, OrganizerCall::kCreateEvent, "").ok());

  KeyParts wrong{boot.id, crypto::NewToken()};
  ExpectInvalid(auth->Authenticate(Bearer(wrong)));
}

}  // namespace
}  // namespace admit::registration
