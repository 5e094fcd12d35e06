// RegistrationService through gRPC against real Postgres (ADMIT_TEST_PG_URL)
// and an in-process quota replica: validation, idempotency and duplicate
// emails under races, Get/Cancel with the manage token, availability and
// hold expiry.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/server/testdata/probe_client.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "services/registration/registration_testing.h"
#include "tests/support/test_support.h"

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> out;
  for (const auto& v : GetFieldViolations(status)) out.push_back(v.field);
  return out;
}

class RegistrationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    qt::ReplicaOptions quota_options;
    quota_options.sweeper = true;  // expiry test
    quota_ = qt::Replica::Start(url_, quota_options);
    ASSERT_NE(quota_, nullptr);
    const std::string target = QuotaTarget({quota_.get()});
    RegistrationReplicaOptions options;
    options.availability_ttl = absl::Milliseconds(200);
    a_ = RegistrationReplica::Start(url_, target, &events_, options);
    b_ = RegistrationReplica::Start(url_, target, &events_, options);
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    event_id_ = qt::RandomEventId("svc");
  }

  void CreateEvent(const v1::Event& event) {
    events_.Put(event);
    ASSERT_TRUE(SetEventQuotas(quota_->stub(), event).ok());
  }

  int32_t Held(const std::string& key = "event") {
    auto quotas = ReadQuotas(a_->pool(), event_id_);
    EXPECT_TRUE(quotas.ok()) << quotas.status();
    return quotas.ok() && quotas->contains(key) ? quotas->at(key).held : -1;
  }

  std::string url_;
  StaticEventSource events_;
  std::unique_ptr<qt::Replica> quota_;
  std::unique_ptr<RegistrationReplica> a_;
  std::unique_ptr<RegistrationReplica> b_;
  std::string event_id_;
};

TEST_F(RegistrationServiceTest, EachBadFieldIsNamed) {
  CreateEvent(MakeEvent(event_id_, 10, {{"delegate", 0}}));
  const v1::RegisterRequest good =
      RegisterRequestFor(event_id_, "delegate", "ann@example.org");
  struct Case {
    std::string field;
    std::function<void(v1::RegisterRequest&)> spoil;
  };
  const std::vector<Case> cases = {
      {"request_id", [](auto& r) { r.clear_request_id(); }},
      {"request_id", [](auto& r) { r.set_request_id(std::string(129, 'x')); }},
      {"event_id", [](auto& r) { r.set_event_id("Not A Slug"); }},
      {"ticket_type_id", [](auto& r) { r.set_ticket_type_id(""); }},
      {"attendee", [](auto& r) { r.clear_attendee(); }},
      {"attendee.email",
       [](auto& r) { r.mutable_attendee()->set_email("no-at-sign"); }},
      {"attendee.email",
       [](auto& r) {
         r.mutable_attendee()->set_email(std::string(250, 'a') + "@ex.org");
       }},
      {"attendee.full_name",
       [](auto& r) { r.mutable_attendee()->set_full_name("  "); }},
      {"attendee.full_name",
       [](auto& r) { r.mutable_attendee()->set_full_name("Ann\nLee"); }},
      {"attendee.organization",
       [](auto& r) {
         r.mutable_attendee()->set_organization(std::string(201, 'o'));
       }},
      {"attendee.country_code",
       [](auto& r) { r.mutable_attendee()->set_country_code("ZZ"); }},
  };
  for (const Case& c : cases) {
    v1::RegisterRequest bad = good;
    c.spoil(bad);
    auto answer = Register(a_->stub(), bad);
    ASSERT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument)
        << c.field << ": " << answer.status();
    std::vector<std::string> fields = Fields(answer.status());
    EXPECT_NE(std::find(fields.begin(), fields.end(), c.field), fields.end())
        << c.field << ": " << answer.status();
    EXPECT_EQ(GetErrorReason(answer.status()), "INVALID_FIELDS") << c.field;
  }
  // Several bad fields at once: every one is named.
  v1::RegisterRequest worse = good;
  worse.clear_request_id();
  worse.mutable_attendee()->set_email("x");
  worse.mutable_attendee()->set_country_code("");
  std::vector<std::string> fields =
      Fields(Register(a_->stub(), worse).status());
  for (const char* f :
       {"request_id", "attendee.email", "attendee.country_code"}) {
    EXPECT_NE(std::find(fields.begin(), fields.end(), f), fields.end()) << f;
  }
  // Nothing was stored for any of them.
  auto rows = ReadEventRows(a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->by_status.empty());
}

TEST_F(RegistrationServiceTest, GarbageDoesNotHurtTheServer) {
  CreateEvent(MakeEvent(event_id_, 10, {{"delegate", 0}}));
  // Huge strings in every field: INVALID_ARGUMENT.
  v1::RegisterRequest huge;
  huge.set_request_id(std::string(100000, 'r'));
  huge.set_event_id(std::string(100000, 'e'));
  huge.set_ticket_type_id(std::string(100000, 't'));
  huge.mutable_attendee()->set_email(std::string(1 << 20, '@'));
  huge.mutable_attendee()->set_full_name(std::string(100000, 'n'));
  huge.mutable_attendee()->set_organization(std::string(100000, ' '));
  huge.mutable_attendee()->set_country_code(std::string(100000, 'c'));
  EXPECT_EQ(Register(a_->stub(), huge).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Invalid UTF-8 and NULs: refused (by protobuf's parser or by us).
  v1::RegisterRequest garbage = huge;
  garbage.set_request_id(std::string("\xff\xfe\x00\x01", 4));
  garbage.set_ticket_type_id(std::string(1, '\0'));
  garbage.mutable_attendee()->set_full_name("\xc3\x28 \xed\xa0\x80");
  garbage.mutable_attendee()->set_country_code("\xe2\x82");
  EXPECT_FALSE(Register(a_->stub(), garbage).ok());
  // Raw bytes that are not a RegisterRequest at all.
  grpc::GenericStub generic(grpc::CreateChannel(
      a_->server().grpc_target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  const std::string junk = "\x0a\xff\xff\xff\xff\x0f garbage";
  grpc::Slice slice(junk);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status raw_status;
  generic.UnaryCall(&context, "/admit.v1.RegistrationService/Register",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      raw_status = s;
                      done = true;
                      cv.notify_all();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done; }));
  }
  EXPECT_FALSE(raw_status.ok());
  // Still healthy and still registering.
  auto health = server::testdata::CheckHealth(
      grpc::CreateChannel(a_->server().grpc_target(),
                          grpc::InsecureChannelCredentials()),
      "", 2s);
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, server::testdata::HealthCheckResponse::SERVING);
  auto ok = Register(a_->stub(),
                     RegisterRequestFor(event_id_, "delegate", "a@ex.org"));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(RegistrationServiceTest, EventChecksComeBeforeAnySeat) {
  v1::Event event = MakeEvent(event_id_, 10, {{"delegate", 0}});
  CreateEvent(event);
  auto unknown_event = Register(
      a_->stub(), RegisterRequestFor("no-such-event", "delegate", "a@ex.org"));
  EXPECT_EQ(unknown_event.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(unknown_event.status()), "EVENT_NOT_FOUND");
  auto unknown_type = Register(
      a_->stub(), RegisterRequestFor(event_id_, "speaker", "a@ex.org"));
  EXPECT_EQ(unknown_type.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(unknown_type.status()), "TICKET_TYPE_NOT_FOUND");

  v1::Event later = event;
  later.mutable_registration_opens_at()->set_seconds(
      absl::ToUnixSeconds(absl::Now() + absl::Hours(2)));
  events_.Put(later);
  auto early = Register(a_->stub(),
                        RegisterRequestFor(event_id_, "delegate", "a@ex.org"));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(early.status()), "REGISTRATION_NOT_OPEN_YET");

  v1::Event closed = event;
  closed.mutable_registration_closes_at()->set_seconds(
      absl::ToUnixSeconds(absl::Now() - absl::Minutes(1)));
  events_.Put(closed);
  auto late = Register(a_->stub(),
                       RegisterRequestFor(event_id_, "delegate", "a@ex.org"));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(late.status()), "REGISTRATION_CLOSED");
  EXPECT_EQ(Held(), 0);
}

TEST_F(RegistrationServiceTest, TenRacingCopiesMakeOneRegistration) {
  CreateEvent(MakeEvent(event_id_, 10, {{"delegate", 0}}));
  const v1::RegisterRequest request =
      RegisterRequestFor(event_id_, "delegate", "Ann.Lee@Example.ORG");
  std::vector<v1::RegisterRequest> copies(10, request);
  ConcurrentRegisterResult result =
      RegisterConcurrently({&a_->stub(), &b_->stub()}, copies);
  std::set<std::string> ids, tokens;
  for (const auto& answer : result.answers) {
    if (answer.status().code() == absl::StatusCode::kAborted) continue;
    ASSERT_TRUE(answer.ok()) << answer.status();
    ids.insert(answer->registration().id());
    tokens.insert(answer->manage_token());
    EXPECT_EQ(answer->registration().attendee().email(), "Ann.Lee@example.org");
  }
  ASSERT_EQ(ids.size(), 1u);
  ASSERT_EQ(tokens.size(), 1u);
  // A later retry gets the same answer, token included.
  auto retry = Register(b_->stub(), request);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->registration().id(), *ids.begin());
  EXPECT_EQ(retry->manage_token(), *tokens.begin());
  auto rows = ReadEventRows(a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->by_status[1], 1);
  EXPECT_EQ(rows->outbox_rows, 1);
  EXPECT_EQ(Held(), 1);  // one seat, however many copies
}

TEST_F(RegistrationServiceTest, SameRequestIdWithAnotherPayloadIsRefused) {
  CreateEvent(MakeEvent(event_id_, 10, {{"delegate", 0}, {"speaker", 0}}));
  v1::RegisterRequest first =
      RegisterRequestFor(event_id_, "delegate", "ann@example.org");
  ASSERT_TRUE(Register(a_->stub(), first).ok());
  v1::RegisterRequest other = first;
  other.mutable_attendee()->set_full_name("Someone Else");
  auto reused = Register(b_->stub(), other);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(reused.status()), "REQUEST_ID_REUSED");
  EXPECT_EQ(Fields(reused.status()), std::vector<std::string>{"request_id"});
  // Racing, with different ticket types: one wins, the other is refused.
  v1::RegisterRequest x =
      RegisterRequestFor(event_id_, "delegate", "bob@example.org");
  v1::RegisterRequest y = x;
  y.set_ticket_type_id("speaker");
  ConcurrentRegisterResult race =
      RegisterConcurrently({&a_->stub(), &b_->stub()}, {x, y, x, y});
  int ok = 0, reused_count = 0;
  for (const auto& answer : race.answers) {
    if (answer.ok()) ++ok;
    if (GetErrorReason(answer.status()) == "REQUEST_ID_REUSED") ++reused_count;
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(reused_count, 1);
  auto rows = ReadEventRows(a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->by_status[1], 2);  // ann and bob, once each
  EXPECT_EQ(Held(), 2);
}

TEST_F(RegistrationServiceTest, DuplicateEmailRaceLeavesOneLiveAndNoLeak) {
  CreateEvent(MakeEvent(event_id_, 100, {{"delegate", 0}}));
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 20; ++i) {  // 20 different requests, one address
    requests.push_back(
        RegisterRequestFor(event_id_, "delegate", "same@example.org"));
  }
  ConcurrentRegisterResult result =
      RegisterConcurrently({&a_->stub(), &b_->stub()}, requests);
  int ok = 0, exists = 0;
  for (const auto& answer : result.answers) {
    if (answer.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(answer.status().code(), absl::StatusCode::kAlreadyExists)
          << answer.status();
      EXPECT_EQ(GetErrorReason(answer.status()), "EMAIL_ALREADY_REGISTERED");
      ++exists;
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(exists, 19);
  // Every hold taken by a loser is released: held == live pending rows.
  ASSERT_TRUE(admit::testing::WaitFor([&] { return Held() == 1; }, 10s))
      << "held " << Held();
  auto rows = ReadEventRows(a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->by_status[1], 1);
  absl::Status audit = qt::AuditEvent(quota_->pool(), event_id_);
  EXPECT_TRUE(audit.ok()) << audit;
}

TEST_F(RegistrationServiceTest, SameEmailOnOneReplicaTakesOneSeatOnly) {
  // Requests with one address on one replica run one at a time past the
  // event check: the later ones find the first in their pre-check and never
  // reserve a seat (no hold to give back).
  CreateEvent(MakeEvent(event_id_, 100, {{"delegate", 0}}));
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 20; ++i) {
    requests.push_back(
        RegisterRequestFor(event_id_, "delegate", "one@example.org"));
  }
  ConcurrentRegisterResult result =
      RegisterConcurrently({&a_->stub()}, requests);
  int ok = 0;
  for (const auto& answer : result.answers) {
    if (answer.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(answer.status().code(), absl::StatusCode::kAlreadyExists)
          << answer.status();
    }
  }
  EXPECT_EQ(ok, 1);
  absl::StatusOr<int64_t> holds = quota_->pool().Run(
      [this](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
        pqxx::nontransaction tx(conn);
        return tx
            .exec_params("SELECT count(*) FROM quota.holds WHERE event_id = $1",
                         event_id_)[0][0]
            .as<int64_t>();
      });
  ASSERT_TRUE(holds.ok()) << holds.status();
  EXPECT_EQ(*holds, 1);
  EXPECT_EQ(Held(), 1);
}

TEST_F(RegistrationServiceTest, AReplicaOverItsInFlightLimitShedsAtOnce) {
  CreateEvent(MakeEvent(event_id_, 100, {{"delegate", 0}}));
  RegistrationReplicaOptions options;
  options.max_in_flight = 1;
  auto c = RegistrationReplica::Start(url_, QuotaTarget({quota_.get()}),
                                      &events_, options);
  ASSERT_NE(c, nullptr);
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 20; ++i) {
    requests.push_back(RegisterRequestFor(
        event_id_, "delegate", absl::StrCat("shed", i, "@example.org")));
  }
  ConcurrentRegisterResult result =
      RegisterConcurrently({&c->stub()}, requests);
  int ok = 0, busy = 0;
  for (const auto& answer : result.answers) {
    if (answer.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable)
          << answer.status();
      EXPECT_NE(answer.status().message().find("busy"), std::string::npos)
          << answer.status();
      ++busy;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
  // A shed request took no seat.
  EXPECT_EQ(Held(), ok);
}

TEST_F(RegistrationServiceTest, GetAndCancelNeedTheRightToken) {
  CreateEvent(MakeEvent(event_id_, 1, {{"delegate", 0}}));
  auto mine = Register(a_->stub(),
                       RegisterRequestFor(event_id_, "delegate", "a@ex.org"));
  ASSERT_TRUE(mine.ok()) << mine.status();
  auto theirs = Register(a_->stub(),
                         RegisterRequestFor(event_id_, "delegate", "b@ex.org"));
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  ASSERT_EQ(theirs->registration().status(),
            v1::REGISTRATION_STATUS_WAITLISTED);
  EXPECT_EQ(theirs->registration().waitlist_position(), 1);
  const std::string id = mine->registration().id();
  const std::string token = mine->manage_token();

  auto got = GetRegistration(b_->stub(), id, token);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status(), v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);
  EXPECT_EQ(got->attendee().email(), "a@ex.org");

  // A wrong token and an unknown id are the same NOT_FOUND.
  for (const auto& [rid, tok] :
       std::vector<std::pair<std::string, std::string>>{
           {id, theirs->manage_token()},
           {"00000000-0000-4000-8000-000000000000", token}}) {
    auto denied = GetRegistration(b_->stub(), rid, tok);
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(GetErrorReason(denied.status()), "REGISTRATION_NOT_FOUND");
    auto not_cancelled = CancelRegistration(b_->stub(), rid, tok);
    EXPECT_EQ(not_cancelled.status().code(), absl::StatusCode::kNotFound);
  }
  // Malformed ones are INVALID_ARGUMENT naming the field.
  auto malformed = GetRegistration(b_->stub(), "", "short");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(malformed.status()),
            (std::vector<std::string>{"registration_id", "manage_token"}));
  EXPECT_EQ(Held(), 1);

  // Cancel releases the seat; cancelling again is OK and changes nothing.
  auto cancelled = CancelRegistration(b_->stub(), id, token);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->status(), v1::REGISTRATION_STATUS_CANCELLED);
  EXPECT_TRUE(cancelled->has_cancelled_at());
  EXPECT_EQ(Held(), 0);
  auto again = CancelRegistration(a_->stub(), id, token);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status(), v1::REGISTRATION_STATUS_CANCELLED);
  EXPECT_EQ(Held(), 0);

  // The waitlisted one can cancel too; it leaves the waitlist count.
  auto left = CancelRegistration(a_->stub(), theirs->registration().id(),
                                 theirs->manage_token());
  ASSERT_TRUE(left.ok()) << left.status();
  auto rows = ReadEventRows(a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->waitlist_counter["delegate"], 0);
  EXPECT_EQ(rows->by_status[4], 2);

  // A cancelled registration no longer blocks its email.
  auto back = Register(a_->stub(),
                       RegisterRequestFor(event_id_, "delegate", "a@ex.org"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->registration().status(),
            v1::REGISTRATION_STATUS_PENDING_CONFIRMATION);
  EXPECT_NE(back->registration().id(), id);
}

TEST_F(RegistrationServiceTest, AvailabilityFollowsTheQuotasAndWaitlists) {
  CreateEvent(MakeEvent(event_id_, 5, {{"delegate", 3}, {"observer", 0}}));
  auto before = GetAvailability(a_->stub(), event_id_);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->capacity(), 5);
  EXPECT_EQ(before->remaining(), 5);
  EXPECT_TRUE(before->registration_open());
  ASSERT_EQ(before->ticket_types_size(), 2);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Register(a_->stub(),
                         RegisterRequestFor(event_id_, "delegate",
                                            absl::StrCat("d", i, "@ex.org")))
                    .ok());
  }
  // 3 delegates hold seats, 1 waits; the event has 2 left.
  v1::Availability now;
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto a = GetAvailability(b_->stub(), event_id_);
        if (!a.ok()) return false;
        now = *a;
        return a->remaining() == 2;
      },
      10s));
  std::map<std::string, v1::TicketTypeAvailability> types;
  for (const auto& t : now.ticket_types()) types[t.ticket_type_id()] = t;
  EXPECT_EQ(types["delegate"].capacity(), 3);
  EXPECT_EQ(types["delegate"].remaining(), 0);
  EXPECT_EQ(types["delegate"].waitlisted(), 1);
  EXPECT_EQ(types["observer"].capacity(), 5);
  EXPECT_EQ(types["observer"].remaining(), 2);
  EXPECT_EQ(types["observer"].waitlisted(), 0);
  EXPECT_TRUE(now.has_as_of());

  auto missing = GetAvailability(a_->stub(), "no-such-event");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto bad = GetAvailability(a_->stub(), "Bad Id");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistrationServiceTest, ExpiredHoldsGiveTheirSeatsBack) {
  CreateEvent(MakeEvent(event_id_, 3, {{"delegate", 0}}, 1s));
  std::vector<v1::RegisterResponse> pending;
  for (int i = 0; i < 3; ++i) {
    auto r = Register(a_->stub(),
                      RegisterRequestFor(event_id_, "delegate",
                                         absl::StrCat("e", i, "@ex.org")));
    ASSERT_TRUE(r.ok()) << r.status();
    pending.push_back(*r);
  }
  auto full = GetAvailability(a_->stub(), event_id_);
  ASSERT_TRUE(full.ok());
  // (May be up to the cache TTL stale; the holds were just taken.)
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto a = GetAvailability(a_->stub(), event_id_);
        return a.ok() && a->remaining() == 0;
      },
      5s));
  // The quota sweeper frees the seats after the 1 s TTL.
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto a = GetAvailability(a_->stub(), event_id_);
        return a.ok() && a->remaining() == 3;
      },
      15s));
  auto got = GetRegistration(a_->stub(), pending[0].registration().id(),
                             pending[0].manage_token());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status(), v1::REGISTRATION_STATUS_EXPIRED);
  EXPECT_FALSE(got->has_hold_expires_at());
  EXPECT_TRUE(got->has_expired_at());
  auto cancel = CancelRegistration(a_->stub(), pending[0].registration().id(),
                                   pending[0].manage_token());
  EXPECT_EQ(cancel.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(cancel.status()), "REGISTRATION_EXPIRED");
}

}  // namespace
}  // namespace admit::registration
