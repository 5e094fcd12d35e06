// OrganizerService's writes (UpdateEvent, SetAllotment, EraseAttendeeData,
// CheckIn), their authorization and audit rows, through real gRPC channels,
// with an in-process quota replica and registration replica (Register, the
// lifecycle service, the waitlist promoter) against real Postgres
// (ADMIT_TEST_PG_URL). Each test uses its own random event ids.
//
// The promoter's periodic pass is set to an hour: a promotion seen here
// comes from the kick the write gave it.
#include "services/registration/organizer_writes.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/server/server.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "openssl/rand.h"
#include "pqxx/pqxx"
#include "services/confirmation/ticket_code.h"
#include "services/quota/quota_testing.h"
#include "services/registration/api_key.h"
#include "services/registration/api_key_store.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_cache.h"
#include "services/registration/event_store.h"
#include "services/registration/organizer_service.h"
#include "services/registration/registration_testing.h"

namespace admit::registration {
namespace {

using namespace admit::registration::testing;  // NOLINT: test helpers

constexpr auto kDeadline = std::chrono::seconds(15);

std::string RandomKeyBase64() {
  unsigned char key[32];
  RAND_bytes(key, sizeof(key));
  return absl::Base64Escape(
      std::string(reinterpret_cast<char*>(key), sizeof(key)));
}

// Polls `done` until it is true or the deadline passes.
bool WaitFor(const std::function<bool()>& done,
             std::chrono::seconds deadline = kDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class OrganizerWritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    quota_ = quota::testing::Replica::Start(url_);
    ASSERT_NE(quota_, nullptr);
    auto pool = pg::Pool::Create([&] {
      pg::PoolOptions o;
      o.url = url_;
      o.size = 4;
      return o;
    }());
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    store_ = std::make_unique<EventStore>(pool_.get());
    cache_ = std::make_unique<EventCache>(LoadFromStore(store_.get()));

    admin_key_ = FormatApiKey(NewApiKey());
    std::string value = admin_key_;
    auto bootstrap = ParseBootstrapKey(value);
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    ApiKeyCacheOptions key_options;
    key_options.refresh_interval = std::chrono::milliseconds(200);
    keys_ = std::make_unique<ApiKeyAuthenticator>(
        [this] { return LoadActiveApiKeys(*pool_); }, std::move(*bootstrap),
        key_options);
    ASSERT_TRUE(keys_->Refresh().ok());
    keys_->Start();

    RegistrationReplicaOptions replica_options;
    replica_options.background = true;
    replica_options.promotion_interval = absl::Hours(1);
    replica_options.expiry_interval = absl::Hours(1);
    replica_ = RegistrationReplica::Start(url_, QuotaTarget({quota_.get()}),
                                          cache_.get(), replica_options);
    ASSERT_NE(replica_, nullptr);

    ticket_key_ = RandomKeyBase64();
    auto coder = confirmation::TicketCoder::FromBase64Key(ticket_key_);
    ASSERT_TRUE(coder.ok());
    coder_.emplace(std::move(*coder));
    OrganizerWritesOptions writes_options;
    writes_options.ticket_key = ticket_key_;
    auto writes =
        OrganizerWrites::Create(pool_.get(), keys_.get(), &quota_->stub(),
                                cache_.get(), writes_options);
    ASSERT_TRUE(writes.ok()) << writes.status();
    writes_ = std::move(*writes);
    writes_->SetSeatsFreed(
        [this](const std::string& event_id, const std::string& type) {
          replica_->promoter().Kick(event_id, type);
        });
    service_ = std::make_unique<OrganizerService>(
        store_.get(), keys_.get(), &quota_->stub(), cache_.get());
    service_->SetWrites(writes_.get());
    server::ServerOptions server_options;
    server_options.grpc_listen = "127.0.0.1:0";
    server_options.metrics_listen = "127.0.0.1:0";
    server_options.drain_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<server::Server>(server_options);
    server_->AddService(service_.get());
    ASSERT_TRUE(server_->Start().ok());
    stub_ = v1::OrganizerService::NewStub(grpc::CreateChannel(
        server_->grpc_target(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    stub_.reset();
    if (server_) server_->Shutdown();
    service_.reset();
    writes_.reset();
    replica_.reset();
    if (keys_) keys_->Stop();
    keys_.reset();
    cache_.reset();
    store_.reset();
    pool_.reset();
    quota_.reset();
  }

  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request,
                                const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDeadline);
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    Response response;
    grpc::Status status = ((*stub_).*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // An event open now with `capacity` seats and ticket type "std" (no own
  // capacity), created through CreateEvent.
  v1::Event CreateEvent(int32_t capacity) {
    const std::string id = quota::testing::RandomEventId("ow");
    v1::CreateEventRequest request;
    *request.mutable_event() = MakeEvent(id, capacity, {{"std", 0}});
    request.mutable_event()->clear_created_at();
    request.mutable_event()->clear_updated_at();
    request.mutable_event()->clear_registration_open();
    auto created = Call<v1::CreateEventRequest, v1::CreateEventResponse>(
        &v1::OrganizerService::Stub::CreateEvent, request, admin_key_);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->event() : v1::Event();
  }

  absl::StatusOr<v1::Event> Update(const v1::Event& event,
                                   const std::vector<std::string>& paths,
                                   const std::string& key) {
    v1::UpdateEventRequest request;
    *request.mutable_event() = event;
    for (const std::string& p : paths)
      request.mutable_update_mask()->add_paths(p);
    auto r = Call<v1::UpdateEventRequest, v1::UpdateEventResponse>(
        &v1::OrganizerService::Stub::UpdateEvent, request, key);
    if (!r.ok()) return r.status();
    return r->event();
  }

  absl::StatusOr<v1::Allotment> SetAllotment(const std::string& event_id,
                                             const std::string& organization,
                                             int32_t seats,
                                             const std::string& key) {
    v1::SetAllotmentRequest request;
    request.set_event_id(event_id);
    request.set_organization(organization);
    request.set_seats(seats);
    auto r = Call<v1::SetAllotmentRequest, v1::SetAllotmentResponse>(
        &v1::OrganizerService::Stub::SetAllotment, request, key);
    if (!r.ok()) return r.status();
    return r->allotment();
  }

  absl::StatusOr<v1::CheckInResponse> CheckIn(const std::string& event_id,
                                              const std::string& code,
                                              bool allow_repeat = false) {
    v1::CheckInRequest request;
    request.set_event_id(event_id);
    request.set_ticket_code(code);
    request.set_allow_repeat(allow_repeat);
    return Call<v1::CheckInRequest, v1::CheckInResponse>(
        &v1::OrganizerService::Stub::CheckIn, request, admin_key_);
  }

  absl::StatusOr<v1::Registration> Erase(const std::string& registration_id,
                                         const std::string& key) {
    v1::EraseAttendeeDataRequest request;
    request.set_registration_id(registration_id);
    auto r = Call<v1::EraseAttendeeDataRequest, v1::EraseAttendeeDataResponse>(
        &v1::OrganizerService::Stub::EraseAttendeeData, request, key);
    if (!r.ok()) return r.status();
    return r->registration();
  }

  v1::RegisterResponse MustRegister(const std::string& event_id,
                                    const std::string& email,
                                    const std::string& organization = "") {
    auto r = Register(replica_->stub(),
                      RegisterRequestFor(event_id, "std", email, organization));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::RegisterResponse();
  }

  v1::RegistrationStatus StatusOf(const v1::RegisterResponse& r) {
    auto got = GetRegistration(replica_->stub(), r.registration().id(),
                               r.manage_token());
    return got.ok() ? got->status() : v1::REGISTRATION_STATUS_UNSPECIFIED;
  }

  // Confirms through the lifecycle service with the code the confirmation
  // service would issue; returns the code.
  std::string Confirm(const std::string& registration_id) {
    const std::string code = coder_->CodeFor(registration_id);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kDeadline);
    v1::LifecycleConfirmRequest request;
    request.set_registration_id(registration_id);
    request.set_ticket_code(code);
    v1::Registration response;
    grpc::Status status = replica_->lifecycle_stub().ConfirmRegistration(
        &context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return code;
  }

  std::string OrganizerKey(const std::vector<std::string>& event_ids,
                           bool read_only = false) {
    ApiKeySpec spec;
    spec.scope = KeyScope::kOrganizer;
    spec.event_ids = event_ids;
    spec.read_only = read_only;
    auto created = CreateApiKey(*pool_, spec);
    EXPECT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(keys_->Refresh().ok());
    last_key_id_ = created.ok() ? created->record.id : "";
    return created.ok() ? created->key : "";
  }

  std::vector<std::string> AuditActions(const std::string& event_id) {
    std::vector<std::string> out;
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    for (const auto& row : tx.exec_params(
             "SELECT action, detail::text FROM registration.audit_log "
             "WHERE event_id = $1 ORDER BY audit_id",
             event_id)) {
      out.push_back(row[0].as<std::string>());
      details_.push_back(row[1].as<std::string>());
    }
    return out;
  }

  std::string url_;
  std::unique_ptr<quota::testing::Replica> quota_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<EventCache> cache_;
  std::string admin_key_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
  std::unique_ptr<RegistrationReplica> replica_;
  std::string ticket_key_;
  std::optional<confirmation::TicketCoder> coder_;
  std::unique_ptr<OrganizerWrites> writes_;
  std::unique_ptr<OrganizerService> service_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<v1::OrganizerService::Stub> stub_;
  std::string last_key_id_;
  std::vector<std::string> details_;
};

TEST_F(OrganizerWritesTest, AuthNoKeyWrongKeyRevokedOtherEventReadOnly) {
  const v1::Event event = CreateEvent(10);
  const v1::Event other = CreateEvent(10);
  v1::Event renamed = event;
  renamed.set_name("Renamed");

  auto none = Update(renamed, {"name"}, "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetErrorReason(none.status()), "API_KEY_INVALID");
  auto wrong = Update(renamed, {"name"}, FormatApiKey(NewApiKey()));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);

  const std::string others = OrganizerKey({other.id()});
  for (auto status : {Update(renamed, {"name"}, others).status(),
                      SetAllotment(event.id(), "ACME", 1, others).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  }
  // Erase of an existing registration of another event: PERMISSION_DENIED.
  const v1::RegisterResponse reg = MustRegister(event.id(), "auth@example.org");
  EXPECT_EQ(Erase(reg.registration().id(), others).status().code(),
            absl::StatusCode::kPermissionDenied);

  const std::string read_only = OrganizerKey({event.id()}, true);
  auto ro = Update(renamed, {"name"}, read_only);
  EXPECT_EQ(ro.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GetErrorReason(ro.status()), "API_KEY_NOT_PERMITTED");
  EXPECT_EQ(Erase(reg.registration().id(), read_only).status().code(),
            absl::StatusCode::kPermissionDenied);

  const std::string mine = OrganizerKey({event.id()});
  const std::string mine_id = last_key_id_;
  auto ok = Update(renamed, {"name"}, mine);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->name(), "Renamed");

  // Revoked: refused within seconds (the key refresher, not a Refresh()).
  ASSERT_TRUE(RevokeApiKey(*pool_, mine_id).ok());
  EXPECT_TRUE(WaitFor([&] {
    return Update(renamed, {"name"}, mine).status().code() ==
           absl::StatusCode::kUnauthenticated;
  }));
}

TEST_F(OrganizerWritesTest, UpdateEventValidatesTheMask) {
  const v1::Event event = CreateEvent(10);
  EXPECT_EQ(Update(event, {}, admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Update(event, {"created_at"}, admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Update(event, {"ticket_types.capacity"}, admin_key_).status().code(),
      absl::StatusCode::kInvalidArgument);
  v1::Event bad = event;
  bad.set_capacity(0);
  auto refused = Update(bad, {"capacity"}, admin_key_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  v1::Event missing = event;
  missing.set_id("no-such-event-ow");
  EXPECT_EQ(Update(missing, {"name"}, admin_key_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(OrganizerWritesTest, RaisingCapacityPromotesLoweringBelowUsageRefused) {
  v1::Event event = CreateEvent(2);
  const v1::RegisterResponse a = MustRegister(event.id(), "a@example.org");
  const v1::RegisterResponse b = MustRegister(event.id(), "b@example.org");
  const v1::RegisterResponse c = MustRegister(event.id(), "c@example.org");
  ASSERT_EQ(c.registration().status(), v1::REGISTRATION_STATUS_WAITLISTED);

  // Below held + sold (2): refused, with a PreconditionFailure; unchanged.
  event.set_capacity(1);
  auto lower = Update(event, {"capacity"}, admin_key_);
  ASSERT_EQ(lower.status().code(), absl::StatusCode::kFailedPrecondition)
      << lower.status();
  EXPECT_EQ(GetErrorReason(lower.status()), "CAPACITY_BELOW_USAGE");
  google::rpc::PreconditionFailure failure;
  auto payload = lower.status().GetPayload(
      "type.googleapis.com/google.rpc.PreconditionFailure");
  ASSERT_TRUE(payload.has_value());
  ASSERT_TRUE(failure.ParseFromString(std::string(*payload)));
  ASSERT_EQ(failure.violations_size(), 1);
  EXPECT_EQ(failure.violations(0).subject(), "event");
  auto usage = ReadQuotas(*pool_, event.id());
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ((*usage)["event"].capacity, 2);

  // Raised: the waitlisted registration is promoted (kicked, not the
  // hourly pass).
  event.set_capacity(3);
  auto raised = Update(event, {"capacity"}, admin_key_);
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(raised->capacity(), 3);
  EXPECT_TRUE(WaitFor([&] {
    return StatusOf(c) == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION;
  }));
  EXPECT_EQ(StatusOf(a), v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);
  EXPECT_EQ(StatusOf(b), v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);
}

TEST_F(OrganizerWritesTest, ClosingRegistrationRefusesRegister) {
  v1::Event event = CreateEvent(10);
  MustRegister(event.id(), "early@example.org");
  TimeToProto(absl::Now(), event.mutable_registration_closes_at());
  auto closed = Update(event, {"registrationClosesAt"}, admin_key_);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_FALSE(closed->registration_open());
  auto late =
      Register(replica_->stub(),
               RegisterRequestFor(event.id(), "std", "late@example.org"));
  ASSERT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition)
      << late.status();
  EXPECT_EQ(GetErrorReason(late.status()), "REGISTRATION_CLOSED");
}

TEST_F(OrganizerWritesTest, ConcurrentUpdateIsAborted) {
  v1::Event event = CreateEvent(10);
  // Another writer holds the event's row (an update in progress).
  pqxx::connection conn(url_);
  pqxx::work other(conn);
  other.exec_params(
      "SELECT 1 FROM registration.events WHERE id = $1 FOR UPDATE", event.id());
  event.set_name("Loser");
  auto lost = Update(event, {"name"}, admin_key_);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted) << lost.status();
  other.commit();
  auto won = Update(event, {"name"}, admin_key_);
  ASSERT_TRUE(won.ok()) << won.status();
  EXPECT_EQ(won->name(), "Loser");
}

TEST_F(OrganizerWritesTest, TicketTypesReplaceAndInUseRefused) {
  v1::Event event = CreateEvent(10);
  MustRegister(event.id(), "std@example.org");
  v1::Event changed = event;
  changed.clear_ticket_types();
  v1::TicketType* vip = changed.add_ticket_types();
  vip->set_id("vip");
  vip->set_name("VIP");
  vip->set_capacity(2);
  auto in_use = Update(changed, {"ticket_types"}, admin_key_);
  EXPECT_EQ(in_use.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(in_use.status()), "TICKET_TYPE_IN_USE");

  *changed.add_ticket_types() = event.ticket_types(0);
  auto added = Update(changed, {"ticket_types"}, admin_key_);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->ticket_types_size(), 2);
  EXPECT_EQ(added->ticket_types(0).id(), "vip");
  auto usage = ReadQuotas(*pool_, event.id());
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ((*usage)["type:vip"].capacity, 2);
}

TEST_F(OrganizerWritesTest, AllotmentWaitlistsExtraAndRaisingPromotes) {
  const v1::Event event = CreateEvent(10);
  auto set = SetAllotment(event.id(), "  ACME   Corp ", 1, admin_key_);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->organization(), "ACME Corp");
  EXPECT_EQ(set->seats(), 1);

  const v1::RegisterResponse first =
      MustRegister(event.id(), "one@acme.example", "acme corp");
  const v1::RegisterResponse second =
      MustRegister(event.id(), "two@acme.example", "ACME Corp");
  const v1::RegisterResponse outsider =
      MustRegister(event.id(), "x@other.example", "Other");
  EXPECT_EQ(first.registration().status(),
            v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);
  EXPECT_EQ(second.registration().status(), v1::REGISTRATION_STATUS_WAITLISTED);
  EXPECT_EQ(outsider.registration().status(),
            v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);

  // Removed: the organization's waitlisted registration is promoted.
  auto low = SetAllotment(event.id(), "ACME Corp", 0, admin_key_);
  ASSERT_TRUE(low.ok()) << low.status();  // 0 removes: allowed
  EXPECT_EQ(low->seats(), 0);
  EXPECT_TRUE(WaitFor([&] {
    return StatusOf(second) == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION;
  }));
  auto again = SetAllotment(event.id(), "ACME Corp", 2, admin_key_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->held(), 2);
  auto below = SetAllotment(event.id(), "acme corp", 1, admin_key_);
  EXPECT_EQ(below.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(below.status()), "CAPACITY_BELOW_USAGE");

  const v1::RegisterResponse third =
      MustRegister(event.id(), "three@acme.example", "Acme Corp");
  EXPECT_EQ(third.registration().status(), v1::REGISTRATION_STATUS_WAITLISTED);
  auto raised = SetAllotment(event.id(), "ACME Corp", 3, admin_key_);
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_TRUE(WaitFor([&] {
    return StatusOf(third) == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION;
  }));

  v1::SetAllotmentRequest bad;
  bad.set_event_id(event.id());
  bad.set_organization("ACME");
  bad.set_seats(1);
  bad.set_ticket_type_id("nope");
  auto no_type = Call<v1::SetAllotmentRequest, v1::SetAllotmentResponse>(
      &v1::OrganizerService::Stub::SetAllotment, bad, admin_key_);
  EXPECT_EQ(no_type.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SetAllotment(event.id(), "", 1, admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OrganizerWritesTest, EraseTombstonesFreesTheEmailKeepsCounts) {
  const v1::Event event = CreateEvent(10);
  const v1::RegisterResponse reg =
      MustRegister(event.id(), "erase.me@example.org", "Org");
  auto before = ReadEventRows(*pool_, event.id());
  ASSERT_TRUE(before.ok());

  auto erased = Erase(reg.registration().id(), admin_key_);
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->attendee().email(), "");
  EXPECT_EQ(erased->attendee().full_name(), "");
  EXPECT_EQ(erased->attendee().organization(), "Org");
  EXPECT_TRUE(erased->has_erased_at());
  EXPECT_EQ(erased->status(), v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);

  // Idempotent: the same tombstone.
  auto again = Erase(reg.registration().id(), admin_key_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->erased_at().seconds(), erased->erased_at().seconds());
  EXPECT_EQ(again->erased_at().nanos(), erased->erased_at().nanos());

  auto after = ReadEventRows(*pool_, event.id());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->by_status, before->by_status);
  auto usage = ReadQuotas(*pool_, event.id());
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ((*usage)["event"].held, 1);

  {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    auto rows = tx.exec_params(
        "SELECT count(*) FILTER (WHERE payload::text LIKE '%erase.me%'), "
        "count(*) FROM registration.outbox WHERE registration_id = $1",
        reg.registration().id());
    EXPECT_EQ(rows[0][0].as<int>(), 0);
    EXPECT_GE(rows[0][1].as<int>(), 1);
    auto left = tx.exec_params(
        "SELECT count(*) FROM registration.registrations WHERE "
        "event_id = $1 AND (email LIKE '%erase.me%' OR full_name <> '' AND "
        "registration_id = $2)",
        event.id(), reg.registration().id());
    EXPECT_EQ(left[0][0].as<int>(), 0);
  }

  // The address may register again.
  auto back =
      Register(replica_->stub(),
               RegisterRequestFor(event.id(), "std", "erase.me@example.org"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_NE(back->registration().id(), reg.registration().id());

  EXPECT_EQ(Erase("no-such-registration", admin_key_).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Erase("", admin_key_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OrganizerWritesTest, CheckInOnceTwiceForgedOtherEventCancelled) {
  const v1::Event event = CreateEvent(10);
  const v1::Event other = CreateEvent(10);
  const v1::RegisterResponse reg = MustRegister(event.id(), "in@example.org");
  const std::string code = Confirm(reg.registration().id());

  auto first = CheckIn(event.id(), absl::StrCat("  ", code, " "));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_checked_in());
  EXPECT_EQ(first->registration().id(), reg.registration().id());
  EXPECT_EQ(first->registration().status(), v1::REGISTRATION_STATUS_CONFIRMED);
  ASSERT_TRUE(first->has_checked_in_at());
  // What did not happen is unset, not 1970-01-01.
  EXPECT_FALSE(first->registration().has_cancelled_at());
  EXPECT_FALSE(first->registration().has_erased_at());

  auto second = CheckIn(event.id(), code);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  google::rpc::ErrorInfo info;
  auto payload =
      second.status().GetPayload("type.googleapis.com/google.rpc.ErrorInfo");
  ASSERT_TRUE(payload.has_value());
  ASSERT_TRUE(info.ParseFromString(std::string(*payload)));
  EXPECT_EQ(info.reason(), "ALREADY_CHECKED_IN");
  EXPECT_EQ(info.metadata().at("registration_id"), reg.registration().id());
  absl::Time first_at = TimeFromProto(first->checked_in_at());
  absl::Time reported;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(
      absl::RFC3339_full, info.metadata().at("checked_in_at"), &reported, &err))
      << err;
  EXPECT_EQ(reported, first_at);

  auto repeat = CheckIn(event.id(), absl::AsciiStrToLower(code), true);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->already_checked_in());
  EXPECT_EQ(TimeFromProto(repeat->checked_in_at()), first_at);

  // Forged (well-formed, not issued), another event's, malformed.
  const std::string forged = coder_->CodeFor("not-a-registration");
  EXPECT_EQ(GetErrorReason(CheckIn(event.id(), forged).status()),
            "TICKET_NOT_FOUND");
  auto elsewhere = CheckIn(other.id(), code);
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(elsewhere.status()), "TICKET_NOT_FOUND");
  EXPECT_EQ(CheckIn(event.id(), "T123").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CheckIn(event.id(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(CheckIn("no-such-event-ow", code).status()),
            "EVENT_NOT_FOUND");

  // Cancelled after confirming.
  const v1::RegisterResponse gone =
      MustRegister(event.id(), "gone@example.org");
  const std::string gone_code = Confirm(gone.registration().id());
  ASSERT_TRUE(CancelRegistration(replica_->stub(), gone.registration().id(),
                                 gone.manage_token())
                  .ok());
  auto cancelled = CheckIn(event.id(), gone_code);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(cancelled.status()), "REGISTRATION_NOT_CONFIRMED");
}

TEST_F(OrganizerWritesTest, EveryWriteIsAudited) {
  v1::Event event = CreateEvent(10);
  const v1::RegisterResponse reg =
      MustRegister(event.id(), "audit@example.org");
  event.set_capacity(11);
  ASSERT_TRUE(Update(event, {"capacity"}, admin_key_).ok());
  ASSERT_TRUE(SetAllotment(event.id(), "ACME", 3, admin_key_).ok());
  const std::string code = Confirm(reg.registration().id());
  ASSERT_TRUE(CheckIn(event.id(), code).ok());
  ASSERT_TRUE(Erase(reg.registration().id(), admin_key_).ok());
  // CreateEvent's row is written after the answer: wait for it.
  std::vector<std::string> actions;
  EXPECT_TRUE(WaitFor([&] {
    details_.clear();
    actions = AuditActions(event.id());
    return actions.size() == 5;
  }));
  EXPECT_EQ(actions, (std::vector<std::string>{"CreateEvent", "UpdateEvent",
                                               "SetAllotment", "CheckIn",
                                               "EraseAttendeeData"}));
  for (const std::string& d : details_) {
    EXPECT_EQ(d.find("audit@example.org"), std::string::npos) << d;
    EXPECT_EQ(d.find(code), std::string::npos) << d;
  }
}

}  // namespace
}  // namespace admit::registration
