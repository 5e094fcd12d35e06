// OrganizerService (CreateEvent, GetEvent) through a real gRPC channel, with
// a real in-process quota service, against real Postgres
// (ADMIT_TEST_PG_URL). Each test uses its own random event ids.
#include "services/registration/organizer_service.h"

#include <future>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/server/server.h"
#include "common/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/quota/quota_testing.h"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_cache.h"
#include "services/registration/event_store.h"
#include "services/registration/events_testing.h"
#include "tests/support/test_support.h"

namespace admit::registration {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::UnorderedElementsAre;
using namespace admit::registration::testing;  // NOLINT: test helpers

// One OrganizerService on its own in-process gRPC server.
struct Organizer {
  std::unique_ptr<OrganizerService> service;
  std::unique_ptr<server::Server> server;
  std::unique_ptr<v1::OrganizerService::Stub> stub;

  static std::unique_ptr<Organizer> Start(
      EventStore* store, ApiKeyAuthenticator* keys,
      v1::QuotaService::StubInterface* quota, EventCache* cache) {
    auto o = std::make_unique<Organizer>();
    OrganizerServiceOptions options;
    options.set_quotas_timeout = std::chrono::milliseconds(2000);
    o->service =
        std::make_unique<OrganizerService>(store, keys, quota, cache, options);
    server::ServerOptions server_options;
    server_options.grpc_listen = "127.0.0.1:0";
    server_options.metrics_listen = "127.0.0.1:0";
    server_options.drain_timeout = std::chrono::seconds(5);
    o->server = std::make_unique<server::Server>(server_options);
    o->server->AddService(o->service.get());
    if (absl::Status s = o->server->Start(); !s.ok()) {
      ADD_FAILURE() << "server: " << s;
      return nullptr;
    }
    o->stub = v1::OrganizerService::NewStub(grpc::CreateChannel(
        o->server->grpc_target(), grpc::InsecureChannelCredentials()));
    return o;
  }

  ~Organizer() {
    stub.reset();
    if (server) server->Shutdown();
    service.reset();  // waits for creates in flight
  }
};

class OrganizerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = DatabaseUrl();
    ASSERT_FALSE(url.empty());
    ASSERT_FALSE(quota::testing::DatabaseUrl().empty());
    quota_ = quota::testing::Replica::Start(url);
    ASSERT_NE(quota_, nullptr);
    pool_ = NewPool(url);
    ASSERT_NE(pool_, nullptr);
    store_ = std::make_unique<EventStore>(pool_.get());
    cache_ = std::make_unique<EventCache>(LoadFromStore(store_.get()));

    const KeyParts boot = NewApiKey();
    admin_key_ = FormatApiKey(boot);
    std::string value = admin_key_;
    auto bootstrap = ParseBootstrapKey(value);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    keys_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::move(*bootstrap));
    ASSERT_TRUE(keys_->Refresh().ok());

    organizer_ = Organizer::Start(store_.get(), keys_.get(), &quota_->stub(),
                                  cache_.get());
    ASSERT_NE(organizer_, nullptr);
    id_ = RandomEventId("org");
  }

  void TearDown() override {
    organizer_.reset();
    keys_.reset();
    cache_.reset();
    store_.reset();
    pool_.reset();
    quota_.reset();
  }

  v1::OrganizerService::Stub& stub() { return *organizer_->stub; }

  static absl::StatusOr<v1::Event> Create(v1::OrganizerService::Stub& stub,
                                          const v1::Event& event,
                                          const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    v1::CreateEventRequest request;
    *request.mutable_event() = event;
    v1::CreateEventResponse response;
    grpc::Status status = stub.CreateEvent(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response.event();
  }
  absl::StatusOr<v1::Event> Create(const v1::Event& event) {
    return Create(stub(), event, admin_key_);
  }

  absl::StatusOr<v1::Event> Get(const std::string& event_id,
                                const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    v1::GetEventRequest request;
    request.set_event_id(event_id);
    v1::GetEventResponse response;
    grpc::Status status = stub().GetEvent(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response.event();
  }

  // A stored key, usable at once (the authenticator is refreshed).
  std::string StoredKey(const ApiKeySpec& spec) {
    auto created = CreateApiKey(*pool_, spec);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return "";
    EXPECT_TRUE(keys_->Refresh().ok());
    return created->key;
  }
  std::string OrganizerKey(const std::string& event_id,
                           bool read_only = false) {
    ApiKeySpec spec;
    spec.scope = KeyScope::kOrganizer;
    spec.event_ids = {event_id};
    spec.read_only = read_only;
    return StoredKey(spec);
  }

  // "event=10 type:delegate=5"-style capacities of the event's quotas.
  std::vector<std::string> Capacities(const std::string& event_id) {
    auto usage = quota::testing::GetUsage(quota_->stub(), event_id);
    std::vector<std::string> out;
    if (!usage.ok()) {
      out.push_back(std::string(usage.status().message()));
      return out;
    }
    for (const auto& q : usage->quotas()) {
      const std::string key = q.key().kind() == v1::QUOTA_KIND_EVENT
                                  ? "event"
                                  : "type:" + q.key().ticket_type_id();
      out.push_back(absl::StrCat(key, "=", q.capacity()));
    }
    return out;
  }

  static void ExpectCode(const absl::Status& s, absl::StatusCode code,
                         const std::string& reason) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_EQ(GetErrorReason(s), reason) << s;
  }

  std::unique_ptr<quota::testing::Replica> quota_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<EventCache> cache_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
  std::unique_ptr<Organizer> organizer_;
  std::string admin_key_;
  std::string id_;
};

// --- authentication and permissions ----------------------------------------

TEST_F(OrganizerServiceTest, CreateEventWithoutAValidKeyIsUnauthenticated) {
  const v1::Event event = SampleEvent(id_);
  ExpectCode(Create(stub(), event, "").status(),
             absl::StatusCode::kUnauthenticated, "API_KEY_INVALID");
  ExpectCode(Create(stub(), event, "not-a-key").status(),
             absl::StatusCode::kUnauthenticated, "API_KEY_INVALID");
  ExpectCode(Create(stub(), event, FormatApiKey(NewApiKey())).status(),
             absl::StatusCode::kUnauthenticated, "API_KEY_INVALID");
  const std::string revoked = StoredKey({});
  ASSERT_TRUE(RevokeApiKey(*pool_, ParseApiKey(revoked)->id).ok());
  ASSERT_TRUE(keys_->Refresh().ok());
  ExpectCode(Create(stub(), event, revoked).status(),
             absl::StatusCode::kUnauthenticated, "API_KEY_INVALID");
  // Nothing was created.
  ExpectCode(Get(id_, admin_key_).status(), absl::StatusCode::kNotFound,
             "EVENT_NOT_FOUND");
}

TEST_F(OrganizerServiceTest, OnlyWritingAdminKeysMayCreateEvents) {
  const std::string existing = RandomEventId("org-existing");
  ASSERT_TRUE(Create(SampleEvent(existing)).ok());
  ExpectCode(Create(stub(), SampleEvent(id_), OrganizerKey(existing)).status(),
             absl::StatusCode::kPermissionDenied, "API_KEY_NOT_PERMITTED");
  ApiKeySpec read_only_admin;
  read_only_admin.read_only = true;
  ExpectCode(
      Create(stub(), SampleEvent(id_), StoredKey(read_only_admin)).status(),
      absl::StatusCode::kPermissionDenied, "API_KEY_NOT_PERMITTED");
  // A stored (not bootstrap) admin key may.
  EXPECT_TRUE(Create(stub(), SampleEvent(id_), StoredKey({})).ok());
}

TEST_F(OrganizerServiceTest, GetEventFollowsTheKeysScope) {
  const std::string other = RandomEventId("org-other");
  ASSERT_TRUE(Create(SampleEvent(id_)).ok());
  ASSERT_TRUE(Create(SampleEvent(other)).ok());
  const std::string mine = OrganizerKey(id_, /*read_only=*/true);
  EXPECT_TRUE(Get(id_, mine).ok());
  ExpectCode(Get(other, mine).status(), absl::StatusCode::kPermissionDenied,
             "API_KEY_NOT_PERMITTED");
  // The same answer whether or not the event exists.
  ExpectCode(Get(RandomEventId("org-none"), mine).status(),
             absl::StatusCode::kPermissionDenied, "API_KEY_NOT_PERMITTED");
  ExpectCode(Get(id_, "").status(), absl::StatusCode::kUnauthenticated,
             "API_KEY_INVALID");
}

// --- validation --------------------------------------------------------------

TEST_F(OrganizerServiceTest, InvalidEventIsRejectedNamingEachField) {
  v1::Event event = SampleEvent(id_);
  event.set_name("");
  event.mutable_ticket_types(1)->set_id("Not A Slug");
  auto created = Create(event);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(quota::testing::ViolationFields(created.status()),
              UnorderedElementsAre("event.name", "event.ticket_types[1].id"));
  // No quotas were set for it.
  EXPECT_EQ(quota::testing::GetUsage(quota_->stub(), id_).status().code(),
            absl::StatusCode::kNotFound);

  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + admin_key_);
  v1::CreateEventResponse response;
  auto missing = FromGrpcStatus(
      stub().CreateEvent(&context, v1::CreateEventRequest(), &response));
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(quota::testing::ViolationFields(missing),
              UnorderedElementsAre("event"));
}

TEST_F(OrganizerServiceTest, GetEventValidatesTheId) {
  auto empty = Get("", admin_key_);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(quota::testing::ViolationFields(empty.status()),
              UnorderedElementsAre("event_id"));
  EXPECT_EQ(Get("Bad_Id", admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
  ExpectCode(Get(id_, admin_key_).status(), absl::StatusCode::kNotFound,
             "EVENT_NOT_FOUND");
}

// --- create
// --------------------------------------------------------------------

TEST_F(OrganizerServiceTest, CreatedEventIsReturnedByGetEventAndHasItsQuotas) {
  const v1::Event event = SampleEvent(id_);
  auto created = Create(event);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id(), id_);
  EXPECT_TRUE(created->has_created_at());
  EXPECT_TRUE(created->registration_open());  // opened an hour ago
  v1::Event expected = event;
  *expected.mutable_created_at() = created->created_at();
  *expected.mutable_updated_at() = created->updated_at();
  expected.set_registration_open(true);
  EXPECT_TRUE(MessageDifferencer::Equals(*created, expected))
      << created->DebugString();

  auto got = Get(id_, admin_key_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got, *created)) << got->DebugString();

  // The event total and the delegate type's own limit; observer has none.
  EXPECT_THAT(Capacities(id_),
              UnorderedElementsAre("event=10", "type:delegate=5"));
}

TEST_F(OrganizerServiceTest, DuplicateCreateIsAlreadyExistsAndKeepsTheQuotas) {
  ASSERT_TRUE(Create(SampleEvent(id_)).ok());
  // A seat is taken, so a quota overwrite would also show in held.
  auto hold = quota::testing::Reserve(
      quota_->stub(), quota::testing::ReserveRequestFor(id_, "delegate"));
  ASSERT_TRUE(hold.ok()) << hold.status();

  v1::Event bigger = SampleEvent(id_);
  bigger.set_capacity(500);
  bigger.mutable_ticket_types(0)->set_capacity(400);
  bigger.mutable_ticket_types(1)->set_capacity(100);
  ExpectCode(Create(bigger).status(), absl::StatusCode::kAlreadyExists,
             "EVENT_ALREADY_EXISTS");
  // The very same request again (a retry of a create that succeeded).
  ExpectCode(Create(SampleEvent(id_)).status(),
             absl::StatusCode::kAlreadyExists, "EVENT_ALREADY_EXISTS");

  EXPECT_THAT(Capacities(id_),
              UnorderedElementsAre("event=10", "type:delegate=5"));
  auto usage = quota::testing::GetUsage(quota_->stub(), id_);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->quotas(0).held(), 1);
  auto got = Get(id_, admin_key_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->capacity(), 10);
}

TEST_F(OrganizerServiceTest, ConcurrentCreatesOfOneIdHaveOneWinner) {
  constexpr int kCreates = 6;
  std::vector<absl::StatusOr<v1::Event>> results(kCreates,
                                                 absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      v1::Event event = SampleEvent(id_);
      event.set_capacity(10 + i);
      results[i] = Create(event);
    });
  }
  for (auto& t : threads) t.join();
  int winner = -1;
  for (int i = 0; i < kCreates; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(winner, -1) << "two winners";
      winner = i;
    } else {
      ExpectCode(results[i].status(), absl::StatusCode::kAlreadyExists,
                 "EVENT_ALREADY_EXISTS");
    }
  }
  ASSERT_NE(winner, -1);
  EXPECT_THAT(Capacities(id_),
              UnorderedElementsAre(absl::StrCat("event=", 10 + winner),
                                   "type:delegate=5"));
}

TEST_F(OrganizerServiceTest, ServerAssignsTheIdAndFillsTheDefaults) {
  v1::Event event = SampleEvent("");
  event.set_name("World Telecommunication Assembly");
  event.clear_registration_opens_at();
  event.clear_registration_closes_at();
  event.clear_hold_ttl();
  const absl::Time before = absl::Now();
  auto created = Create(event);
  const absl::Time after = absl::Now();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(std::regex_match(
      created->id(),
      std::regex("world-telecommunication-assembly-[a-z0-9]{8}")))
      << created->id();
  const absl::Time opens = TimeFromProto(created->registration_opens_at());
  EXPECT_GE(opens, before - absl::Microseconds(1));
  EXPECT_LE(opens, after);
  EXPECT_TRUE(MessageDifferencer::Equals(created->registration_closes_at(),
                                         created->ends_at()));
  EXPECT_EQ(created->hold_ttl().seconds(), 1800);
  EXPECT_TRUE(created->registration_open());
  EXPECT_THAT(Capacities(created->id()),
              UnorderedElementsAre("event=10", "type:delegate=5"));

  // Two creates of the same request give two events.
  auto second = Create(event);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->id(), created->id());
}

TEST_F(OrganizerServiceTest, RegistrationOpenFollowsTheWindow) {
  v1::Event later = SampleEvent(id_);
  TimeToProto(absl::Now() + absl::Hours(24),
              later.mutable_registration_opens_at());
  auto created = Create(later);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->registration_open());
  auto got = Get(id_, admin_key_);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->registration_open());
}

TEST_F(OrganizerServiceTest, NewEventIsVisibleInThisReplicasCacheAtOnce) {
  // A Register for the id before it existed cached "not found".
  auto before = [&] {
    std::promise<absl::StatusOr<EventSnapshot>> p;
    auto f = p.get_future();
    cache_->Get(id_, [&p](absl::StatusOr<EventSnapshot> r) {
      p.set_value(std::move(r));
    });
    return f.get();
  };
  EXPECT_EQ(before().status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Create(SampleEvent(id_)).ok());
  auto after = before();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ((*after)->capacity(), 10);
}

// --- the quota service failing between the steps
// ------------------------------

TEST_F(OrganizerServiceTest, QuotaOutageLeavesNothingVisibleAndARetryFinishes) {
  // An OrganizerService whose quota service is not there.
  auto dead = v1::QuotaService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", admit::testing::FreePort()),
      grpc::InsecureChannelCredentials()));
  auto broken =
      Organizer::Start(store_.get(), keys_.get(), dead.get(), cache_.get());
  ASSERT_NE(broken, nullptr);

  const v1::Event event = SampleEvent(id_);
  auto failed = Create(*broken->stub, event, admin_key_);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
      << failed.status();
  // Nobody sees a half-created event: not GetEvent, not Register's source.
  ExpectCode(Get(id_, admin_key_).status(), absl::StatusCode::kNotFound,
             "EVENT_NOT_FOUND");
  // Another request for the id is refused (it does not own the id).
  v1::Event other = event;
  other.set_capacity(99);
  ExpectCode(Create(other).status(), absl::StatusCode::kAlreadyExists,
             "EVENT_ALREADY_EXISTS");
  EXPECT_EQ(quota::testing::GetUsage(quota_->stub(), id_).status().code(),
            absl::StatusCode::kNotFound);

  // The same request, retried once the quota service answers, finishes it.
  auto retried = Create(event);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->capacity(), 10);
  EXPECT_TRUE(Get(id_, admin_key_).ok());
  EXPECT_THAT(Capacities(id_),
              UnorderedElementsAre("event=10", "type:delegate=5"));
}

}  // namespace
}  // namespace admit::registration
