// The quota service through its real gRPC API, in-process, against real
// Postgres (ADMIT_TEST_PG_URL). Each test uses its own random event ids.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/metrics/metrics_testing.h"
#include "common/server/testdata/probe_client.h"
#include "common/status/status.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "services/quota/errors.h"
#include "services/quota/quota_testing.h"
#include "tests/support/test_support.h"

namespace admit::quota {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using namespace admit::quota::testing;  // NOLINT: test helpers

std::vector<std::string> Texts(
    const google::protobuf::RepeatedPtrField<v1::QuotaUsage>& quotas) {
  std::vector<std::string> out;
  for (const auto& q : quotas) {
    out.push_back(QuotaKey{static_cast<QuotaKind>(q.key().kind()),
                           q.key().ticket_type_id(), q.key().organization()}
                      .Text());
  }
  return out;
}

const v1::QuotaUsage* Find(const v1::GetUsageResponse& usage,
                           const std::string& text) {
  for (const auto& q : usage.quotas()) {
    if (QuotaKey{static_cast<QuotaKind>(q.key().kind()),
                 q.key().ticket_type_id(), q.key().organization()}
            .Text() == text) {
      return &q;
    }
  }
  return nullptr;
}

class QuotaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    replica_ = Replica::Start(url_);
    ASSERT_NE(replica_, nullptr);
    event_ = RandomEventId("svc");
  }

  v1::QuotaService::Stub& stub() { return replica_->stub(); }

  // Reserve that must succeed with a new hold; returns its id.
  std::string MustReserve(const std::string& type,
                          const std::string& org = "") {
    auto r = Reserve(stub(), ReserveRequestFor(event_, type, org));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
    return r->hold().hold_id();
  }

  std::string url_;
  std::unique_ptr<Replica> replica_;
  std::string event_;
};

// --- SetQuotas / GetUsage ---------------------------------------------------

TEST_F(QuotaServiceTest, SetQuotasThenGetUsageListsEveryQuotaInOrder) {
  auto set = SetQuotas(
      stub(),
      SetRequest(event_,
                 {Limit(OrgKey("itu", "delegate"), 3),
                  Limit(TypeKey("speaker"), 50), Limit(OrgKey("itu"), 5),
                  Limit(EventKey(), 1300), Limit(TypeKey("delegate"), 1200)}));
  ASSERT_TRUE(set.ok()) << set.status();
  const std::vector<std::string> order = {"event", "type:delegate",
                                          "type:speaker", "org:itu",
                                          "org:itu/type:delegate"};
  EXPECT_EQ(Texts(set->quotas()), order);

  auto usage = GetUsage(stub(), event_);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->event_id(), event_);
  EXPECT_EQ(Texts(usage->quotas()), order);
  EXPECT_GT(usage->as_of().seconds(), 0);
  const v1::QuotaUsage* ev = Find(*usage, "event");
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->capacity(), 1300);
  EXPECT_EQ(ev->held(), 0);
  EXPECT_EQ(ev->sold(), 0);
  EXPECT_EQ(ev->remaining(), 1300);

  // A later call changes, adds and removes; unknown removals are ignored.
  v1::SetQuotasRequest change = SetRequest(
      event_, {Limit(TypeKey("speaker"), 40), Limit(TypeKey("observer"), 7)});
  *change.add_remove() = OrgKey("itu", "delegate");
  *change.add_remove() = OrgKey("nobody");
  set = SetQuotas(stub(), change);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Texts(set->quotas()),
            (std::vector<std::string>{"event", "type:delegate", "type:observer",
                                      "type:speaker", "org:itu"}));
  EXPECT_EQ(set->quotas(3).capacity(), 40);
}

TEST_F(QuotaServiceTest, FirstSetQuotasMustSetTheEventQuota) {
  auto set = SetQuotas(stub(), SetRequest(event_, {Limit(TypeKey("a"), 5)}));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolationFields(set.status()), ElementsAre("set"));
  EXPECT_EQ(GetUsage(stub(), event_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(QuotaServiceTest, UnknownEventIsNotFound) {
  auto usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(usage.status()), "EVENT_NOT_FOUND");
  auto r = Reserve(stub(), ReserveRequestFor(event_, "delegate"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(r.status()), "EVENT_NOT_FOUND");
}

TEST_F(QuotaServiceTest, CapacityBelowUseIsRefusedAndChangesNothing) {
  ASSERT_TRUE(SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 10),
                                                    Limit(TypeKey("a"), 5)}))
                  .ok());
  const std::string h1 = MustReserve("a");
  MustReserve("a");
  MustReserve("a");
  ASSERT_TRUE(Commit(stub(), h1).ok());

  auto set = SetQuotas(
      stub(), SetRequest(event_, {Limit(EventKey(), 2), Limit(TypeKey("a"), 1),
                                  Limit(TypeKey("b"), 9)}));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(set.status()), "CAPACITY_BELOW_USAGE");
  auto violations = GetPreconditionViolations(set.status());
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].first, "event");
  EXPECT_THAT(violations[0].second, HasSubstr("2 held + 1 sold"));
  EXPECT_EQ(violations[1].first, "type:a");

  auto usage = GetUsage(stub(), event_);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(Texts(usage->quotas()),
            (std::vector<std::string>{"event", "type:a"}));  // b not added
  EXPECT_EQ(usage->quotas(0).capacity(), 10);

  // Down to exactly the use is fine.
  EXPECT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 3)})).ok());
  auto full = Reserve(stub(), ReserveRequestFor(event_, "a"));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);
}

TEST_F(QuotaServiceTest, ANewQuotaCountsTheLiveHoldsItAppliesTo) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 100)})).ok());
  const std::string a = MustReserve("delegate", "itu");
  const std::string b = MustReserve("delegate", "itu");
  MustReserve("speaker", "itu");
  MustReserve("delegate", "other");
  ASSERT_TRUE(Commit(stub(), a).ok());

  // Too small for what itu already holds: refused.
  auto set = SetQuotas(stub(), SetRequest(event_, {Limit(OrgKey("itu"), 2)}));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);

  set =
      SetQuotas(stub(), SetRequest(event_, {Limit(OrgKey("itu"), 4),
                                            Limit(OrgKey("itu", "delegate"), 2),
                                            Limit(TypeKey("delegate"), 10)}));
  ASSERT_TRUE(set.ok()) << set.status();
  auto usage = GetUsage(stub(), event_);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(Find(*usage, "org:itu")->held(), 2);
  EXPECT_EQ(Find(*usage, "org:itu")->sold(), 1);
  EXPECT_EQ(Find(*usage, "org:itu/type:delegate")->held(), 1);
  EXPECT_EQ(Find(*usage, "org:itu/type:delegate")->sold(), 1);
  EXPECT_EQ(Find(*usage, "type:delegate")->held(), 2);  // b and other's
  EXPECT_EQ(Find(*usage, "type:delegate")->sold(), 1);

  // The adopted holds now draw from the new quotas: the allotment is full...
  auto r = Reserve(stub(), ReserveRequestFor(event_, "delegate", "itu"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);
  EXPECT_THAT(r->full_quotas(), ::testing::SizeIs(1));
  // ...and releasing one frees a seat in them too.
  ASSERT_TRUE(Release(stub(), b).ok());
  usage = GetUsage(stub(), event_);
  EXPECT_EQ(Find(*usage, "org:itu/type:delegate")->held(), 0);
  auto hold = GetHold(stub(), a);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(hold->hold().quotas_size(), 4);  // event, type, org, org/type
  EXPECT_TRUE(AuditEvent(replica_->pool(), event_).ok())
      << AuditEvent(replica_->pool(), event_);
}

TEST_F(QuotaServiceTest, ARemovedQuotaStopsLimitingAndItsHoldsStillRelease) {
  ASSERT_TRUE(SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 10),
                                                    Limit(TypeKey("a"), 1)}))
                  .ok());
  const std::string first = MustReserve("a");
  auto r = Reserve(stub(), ReserveRequestFor(event_, "a"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);

  v1::SetQuotasRequest remove;
  remove.set_event_id(event_);
  *remove.add_remove() = TypeKey("a");
  ASSERT_TRUE(SetQuotas(stub(), remove).ok());
  MustReserve("a");
  // Re-created: starts from the live holds, not from stale counters.
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(TypeKey("a"), 5)})).ok());
  ASSERT_TRUE(Release(stub(), first).ok());
  auto usage = GetUsage(stub(), event_);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(Find(*usage, "event")->held(), 1);
  EXPECT_EQ(Find(*usage, "type:a")->held(), 1);
  EXPECT_TRUE(AuditEvent(replica_->pool(), event_).ok())
      << AuditEvent(replica_->pool(), event_);
}

// --- Reserve ----------------------------------------------------------------

TEST_F(QuotaServiceTest, ReserveReturnsAHeldHoldWithItsQuotasAndExpiry) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 10),
                                            Limit(TypeKey("delegate"), 5),
                                            Limit(OrgKey("itu"), 2)}))
          .ok());
  const std::string id = RandomHoldId();
  auto r =
      Reserve(stub(), ReserveRequestFor(event_, "delegate", "itu", 90s, id));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  const v1::Hold& h = r->hold();
  EXPECT_EQ(h.hold_id(), id);
  EXPECT_EQ(h.event_id(), event_);
  EXPECT_EQ(h.state(), v1::HOLD_STATE_HELD);
  EXPECT_EQ(h.expires_at().seconds() - h.created_at().seconds(), 90);
  ASSERT_EQ(h.quotas_size(), 3);
  EXPECT_EQ(h.quotas(2).organization(), "itu");
  EXPECT_TRUE(r->full_quotas().empty());
  auto usage = GetUsage(stub(), event_);
  for (const auto& q : usage->quotas()) EXPECT_EQ(q.held(), 1);
}

TEST_F(QuotaServiceTest, SoldOutIsAnAnswerNamingTheFullQuotas) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 10),
                                            Limit(TypeKey("speaker"), 1),
                                            Limit(OrgKey("itu"), 0)}))
          .ok());
  const std::string first = MustReserve("speaker");
  auto r = Reserve(stub(), ReserveRequestFor(event_, "speaker", "itu"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);
  EXPECT_FALSE(r->has_hold());
  ASSERT_EQ(r->full_quotas_size(), 2);
  EXPECT_EQ(r->full_quotas(0).kind(), v1::QUOTA_KIND_TICKET_TYPE);
  EXPECT_EQ(r->full_quotas(1).kind(), v1::QUOTA_KIND_ORGANIZATION);
  auto usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).held(), 1);  // nothing taken by sold-out calls

  // Not remembered: once a seat is freed, a retry with the same hold_id
  // gets it.
  const v1::ReserveRequest again = ReserveRequestFor(event_, "speaker");
  ASSERT_EQ(Reserve(stub(), again)->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);
  ASSERT_TRUE(Release(stub(), first).ok());
  r = Reserve(stub(), again);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  EXPECT_EQ(r->hold().hold_id(), again.hold_id());
}

TEST_F(QuotaServiceTest, ReserveIsIdempotentOnHoldIdUnderConcurrency) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 5)})).ok());
  const v1::ReserveRequest request = ReserveRequestFor(event_, "delegate");
  auto second = Replica::Start(url_);
  ASSERT_NE(second, nullptr);
  std::vector<v1::ReserveRequest> copies(10, request);
  ConcurrentResult result =
      ReserveConcurrently({&stub(), &second->stub()}, copies);
  std::set<int64_t> created;
  for (const auto& a : result.answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->outcome(), v1::RESERVE_OUTCOME_RESERVED);
    EXPECT_EQ(a->hold().hold_id(), request.hold_id());
    EXPECT_EQ(a->hold().state(), v1::HOLD_STATE_HELD);
    created.insert(a->hold().created_at().seconds() * 1000000000 +
                   a->hold().created_at().nanos());
  }
  EXPECT_EQ(created.size(), 1u);  // every copy describes the same hold
  auto usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).held(), 1);

  // A retry later returns the hold as it is now, without a second seat.
  ASSERT_TRUE(Commit(stub(), request.hold_id()).ok());
  auto retry = Reserve(stub(), request);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  EXPECT_EQ(retry->hold().state(), v1::HOLD_STATE_COMMITTED);
  usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).held(), 0);
  EXPECT_EQ(usage->quotas(0).sold(), 1);
}

TEST_F(QuotaServiceTest, AHoldIdReusedForAnotherRequestIsInvalidArgument) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 5)})).ok());
  const v1::ReserveRequest request = ReserveRequestFor(event_, "delegate");
  ASSERT_TRUE(Reserve(stub(), request).ok());
  v1::ReserveRequest other = request;
  other.set_ticket_type_id("speaker");
  auto r = Reserve(stub(), other);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(r.status()), "REQUEST_ID_REUSED");
  EXPECT_THAT(ViolationFields(r.status()), ElementsAre("hold_id"));
}

// --- Commit / Release / GetHold
// -----------------------------------------------

TEST_F(QuotaServiceTest, CommitMovesTheSeatToSoldAndIsIdempotent) {
  ASSERT_TRUE(SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 5),
                                                    Limit(TypeKey("a"), 2)}))
                  .ok());
  const std::string id = MustReserve("a");
  auto c1 = Commit(stub(), id);
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->hold().state(), v1::HOLD_STATE_COMMITTED);
  EXPECT_TRUE(c1->hold().has_committed_at());
  auto c2 = Commit(stub(), id);
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->hold().committed_at().seconds(),
            c1->hold().committed_at().seconds());
  EXPECT_EQ(c2->hold().committed_at().nanos(),
            c1->hold().committed_at().nanos());
  auto usage = GetUsage(stub(), event_);
  for (const auto& q : usage->quotas()) {
    EXPECT_EQ(q.held(), 0);
    EXPECT_EQ(q.sold(), 1);
  }
  auto unknown = Commit(stub(), RandomHoldId());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(unknown.status()), "HOLD_NOT_FOUND");
}

TEST_F(QuotaServiceTest, ReleaseFreesHeldAndSoldSeatsAndIsIdempotent) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 2)})).ok());
  const std::string held = MustReserve("a");
  const std::string sold = MustReserve("a");
  ASSERT_TRUE(Commit(stub(), sold).ok());
  auto full = Reserve(stub(), ReserveRequestFor(event_, "a"));
  ASSERT_EQ(full->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);

  auto r1 = Release(stub(), held, v1::RELEASE_REASON_ABANDONED);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->hold().state(), v1::HOLD_STATE_RELEASED);
  EXPECT_EQ(r1->hold().release_reason(), v1::RELEASE_REASON_ABANDONED);
  EXPECT_TRUE(r1->hold().has_ended_at());
  auto r2 = Release(stub(), sold);  // a sale: frees a sold seat
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->hold().state(), v1::HOLD_STATE_RELEASED);
  EXPECT_TRUE(r2->hold().has_committed_at());
  auto usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).held(), 0);
  EXPECT_EQ(usage->quotas(0).sold(), 0);

  // Again: unchanged, nothing freed twice.
  auto again = Release(stub(), held, v1::RELEASE_REASON_CANCELLED);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->hold().release_reason(), v1::RELEASE_REASON_ABANDONED);
  usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).remaining(), 2);

  // A released hold cannot be committed.
  auto commit = Commit(stub(), held);
  EXPECT_EQ(commit.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(commit.status()), "HOLD_RELEASED");
  EXPECT_TRUE(AuditEvent(replica_->pool(), event_).ok());
}

TEST_F(QuotaServiceTest, ReleaseOfAnUnknownIdBurnsIt) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 2)})).ok());
  const std::string id = RandomHoldId();
  auto burned = Release(stub(), id, v1::RELEASE_REASON_ABANDONED);
  ASSERT_TRUE(burned.ok()) << burned.status();
  EXPECT_EQ(burned->hold().state(), v1::HOLD_STATE_RELEASED);
  EXPECT_EQ(burned->hold().event_id(), "");
  // The Reserve arriving late takes no seat.
  auto late = Reserve(stub(), ReserveRequestFor(event_, "a", "", 60s, id));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(late->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  EXPECT_EQ(late->hold().state(), v1::HOLD_STATE_RELEASED);
  auto usage = GetUsage(stub(), event_);
  EXPECT_EQ(usage->quotas(0).held(), 0);
  auto hold = GetHold(stub(), id);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(hold->hold().state(), v1::HOLD_STATE_RELEASED);
  auto missing = GetHold(stub(), RandomHoldId());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(missing.status()), "HOLD_NOT_FOUND");
}

// --- Expiry -----------------------------------------------------------------

TEST_F(QuotaServiceTest, AnExpiredHoldCannotBeCommittedEvenBeforeItIsSwept) {
  // This replica runs no sweeper.
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 3)})).ok());
  auto r = Reserve(stub(), ReserveRequestFor(event_, "a", "", 1s));
  ASSERT_TRUE(r.ok());
  const std::string id = r->hold().hold_id();
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto h = GetHold(stub(), id);
        return h.ok() && h->hold().state() == v1::HOLD_STATE_EXPIRED;
      },
      10s));
  auto commit = Commit(stub(), id);
  EXPECT_EQ(commit.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(commit.status()), "HOLD_EXPIRED");
  // Release ends it EXPIRED, freeing the seat (unless a sweeper of another
  // test process got there first: the same outcome).
  auto released = Release(stub(), id);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->hold().state(), v1::HOLD_STATE_EXPIRED);
  EXPECT_EQ(GetUsage(stub(), event_)->quotas(0).held(), 0);
}

TEST_F(QuotaServiceTest, TheSweeperReturnsExpiredSeats) {
  auto swept = Replica::Start(url_, {.sweeper = true, .sweep_interval = 100ms});
  ASSERT_NE(swept, nullptr);
  ASSERT_TRUE(SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 4),
                                                    Limit(TypeKey("a"), 4)}))
                  .ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = Reserve(stub(), ReserveRequestFor(event_, "a", "", 1s));
    ASSERT_TRUE(r.ok());
    ids.push_back(r->hold().hold_id());
  }
  const std::string kept = MustReserve("a");  // 10 min TTL: stays
  auto full = Reserve(stub(), ReserveRequestFor(event_, "a"));
  ASSERT_EQ(full->outcome(), v1::RESERVE_OUTCOME_SOLD_OUT);
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto u = GetUsage(stub(), event_);
        return u.ok() && u->quotas(0).held() == 1 && u->quotas(1).held() == 1;
      },
      10s))
      << "the sweeper did not release the expired holds";
  EXPECT_EQ(GetHold(stub(), kept)->hold().state(), v1::HOLD_STATE_HELD);
  for (const std::string& id : ids) {
    auto h = GetHold(stub(), id);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->hold().state(), v1::HOLD_STATE_EXPIRED);
    EXPECT_EQ(h->hold().ended_at().seconds(), h->hold().expires_at().seconds());
  }
  EXPECT_TRUE(AuditEvent(replica_->pool(), event_).ok());
  auto text =
      metrics::testing::HttpGet(swept->server().metrics_port(), "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  // Exported; not checked for >= 3: a sweeper of another test process on
  // the same database may have expired some of these holds first.
  EXPECT_TRUE(
      metrics::testing::SampleValue(*text, "admit_quota_holds_expired_total")
          .ok());
}

// --- Validation, robustness, metrics
// ------------------------------------------

TEST_F(QuotaServiceTest, BadInputIsInvalidArgumentNamingTheField) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 3)})).ok());
  struct Case {
    v1::ReserveRequest request;
    std::vector<std::string> fields;
  };
  v1::ReserveRequest good = ReserveRequestFor(event_, "delegate", "itu");
  std::vector<Case> cases;
  {
    Case c{good, {"hold_id"}};
    c.request.set_hold_id("");
    cases.push_back(c);
  }
  {
    Case c{good, {"event_id"}};
    c.request.set_event_id("Not A Slug");
    cases.push_back(c);
  }
  {
    Case c{good, {"ticket_type_id"}};
    c.request.clear_ticket_type_id();
    cases.push_back(c);
  }
  {
    Case c{good, {"organization"}};
    c.request.set_organization("ITU ");
    cases.push_back(c);
  }
  {
    Case c{good, {"ttl"}};
    c.request.clear_ttl();
    cases.push_back(c);
  }
  {
    Case c{good, {"ttl"}};
    c.request.mutable_ttl()->set_seconds(8 * 24 * 3600);
    cases.push_back(c);
  }
  {
    Case c{good, {"ttl"}};
    c.request.mutable_ttl()->set_seconds(5);
    c.request.mutable_ttl()->set_nanos(-1);  // signs disagree: malformed
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    auto r = Reserve(stub(), c.request);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << c.request.ShortDebugString();
    EXPECT_EQ(ViolationFields(r.status()), c.fields)
        << c.request.ShortDebugString();
    EXPECT_EQ(GetErrorReason(r.status()), "INVALID_FIELDS");
  }

  v1::SetQuotasRequest bad_set =
      SetRequest(event_, {Limit(TypeKey(""), 5), Limit(EventKey(), -1)});
  *bad_set.add_remove() = EventKey();
  auto set = SetQuotas(stub(), bad_set);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolationFields(set.status()),
              ElementsAre("set[0].key.ticket_type_id", "set[1].capacity",
                          "remove[0].kind"));
  EXPECT_THAT(ViolationFields(Commit(stub(), "").status()),
              ElementsAre("hold_id"));
  EXPECT_THAT(ViolationFields(GetHold(stub(), std::string(129, 'x')).status()),
              ElementsAre("hold_id"));
  EXPECT_THAT(ViolationFields(GetUsage(stub(), "").status()),
              ElementsAre("event_id"));
  EXPECT_THAT(
      ViolationFields(
          Release(stub(), "h", static_cast<v1::ReleaseReason>(42)).status()),
      ElementsAre("reason"));
}

TEST_F(QuotaServiceTest, GarbageOnTheWireLeavesTheServerHealthy) {
  ASSERT_TRUE(
      SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 3)})).ok());
  grpc::GenericStub generic(replica_->channel());
  for (const char* method :
       {"/admit.v1.QuotaService/Reserve", "/admit.v1.QuotaService/SetQuotas",
        "/admit.v1.QuotaService/GetUsage"}) {
    for (std::string bytes :
         {std::string("\xff\xff\xff\xff\x0f", 5), std::string(1000, '\x0a')}) {
      grpc::Slice slice(bytes);
      grpc::ByteBuffer request(&slice, 1);
      grpc::ByteBuffer response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      grpc::Status status;
      generic.UnaryCall(&context, method, grpc::StubOptions(), &request,
                        &response, [&](grpc::Status s) {
                          std::lock_guard<std::mutex> lock(mu);
                          status = s;
                          done = true;
                          cv.notify_all();
                        });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done; });
      EXPECT_FALSE(status.ok()) << method;
    }
  }
  auto health = server::testdata::CheckHealth(replica_->channel(), "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, server::testdata::HealthCheckResponse::SERVING);
  EXPECT_TRUE(GetUsage(stub(), event_).ok());
  auto r = Reserve(stub(), ReserveRequestFor(event_, "a"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
}

TEST_F(QuotaServiceTest, MetricsShowRemainingSeatsAndPassPromtool) {
  ASSERT_TRUE(SetQuotas(stub(), SetRequest(event_, {Limit(EventKey(), 10),
                                                    Limit(OrgKey("itu"), 4)}))
                  .ok());
  MustReserve("a", "itu");
  MustReserve("a", "itu");
  auto text =
      metrics::testing::HttpGet(replica_->server().metrics_port(), "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  auto remaining = metrics::testing::SampleValue(
      *text, "admit_quota_remaining", {{"event", event_}, {"quota", "event"}});
  ASSERT_TRUE(remaining.ok()) << remaining.status();
  EXPECT_EQ(*remaining, 8);
  auto org =
      metrics::testing::SampleValue(*text, "admit_quota_remaining",
                                    {{"event", event_}, {"quota", "org:itu"}});
  ASSERT_TRUE(org.ok());
  EXPECT_EQ(*org, 2);
  auto reserved = metrics::testing::SampleValue(
      *text, "admit_quota_reservations_total", {{"outcome", "reserved"}});
  ASSERT_TRUE(reserved.ok());
  EXPECT_GE(*reserved, 2);
  EXPECT_TRUE(metrics::testing::SampleValue(
                  *text, "admit_quota_reserve_batch_size_count")
                  .ok());
  absl::Status lint = metrics::testing::PromtoolCheckMetrics(*text);
  EXPECT_TRUE(lint.ok()) << lint;
}

}  // namespace
}  // namespace admit::quota
