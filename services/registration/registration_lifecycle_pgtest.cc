// The registration side of email confirmation against real Postgres
// (ADMIT_TEST_PG_URL) and in-process quota replicas: the Register outbox
// payload, hold expiry, waitlist promotion (after expiry, after
// cancellation, with two replicas at once), and RegistrationLifecycleService
// (ConfirmRegistration, QueueConfirmationEmail).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "admit/v1/lifecycle.grpc.pb.h"
#include "common/pg/migrations.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pqxx/pqxx"
#include "services/registration/lifecycle_store.h"
#include "services/registration/registration_testing.h"
#include "tests/support/scratch_database.h"
#include "tests/support/test_support.h"

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

absl::StatusOr<v1::Registration> Confirm(
    v1::RegistrationLifecycleService::Stub& stub, const std::string& id,
    const std::string& code) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::LifecycleConfirmRequest request;
  request.set_registration_id(id);
  request.set_ticket_code(code);
  v1::Registration response;
  grpc::Status status = stub.ConfirmRegistration(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::QueueConfirmationEmailResponse> Resend(
    v1::RegistrationLifecycleService::Stub& stub, const std::string& id,
    const std::string& token, int max_per_hour = 0) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::QueueConfirmationEmailRequest request;
  request.set_registration_id(id);
  request.set_manage_token(token);
  request.set_max_per_hour(max_per_hour);
  v1::QueueConfirmationEmailResponse response;
  grpc::Status status =
      stub.QueueConfirmationEmail(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// One row of registration.outbox.
struct OutboxRow {
  int64_t id = 0;
  std::string kind;
  std::string registration_id;
  nlohmann::json payload;
};

struct RegRow {
  int status = 0;
  int64_t seq = -1;
  std::string hold_id;
  bool has_hold_expiry = false;
  std::string ticket_code;
};

class LifecycleTest : public ::testing::Test {
 protected:
  // A database of the suite's own: the replicas' expiry sweepers and
  // promoters work on every event they find, and other tests leave events
  // (unknown to this suite's EventSource) with expired holds and waitlists
  // in the shared one, which delayed these tests' own promotions.
  static void SetUpTestSuite() {
    db_ = new ::admit::testing::ScratchDatabase();
    if (db_->url().empty()) return;
    migrated_ =
        pg::ApplyMigrations(db_->url(), "quota", ADMIT_QUOTA_SCHEMA_DIR).ok() &&
        pg::ApplyMigrations(db_->url(), "registration",
                            ADMIT_REGISTRATION_SCHEMA_DIR)
            .ok();
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }

  void SetUp() override {
    ASSERT_FALSE(db_->url().empty());
    ASSERT_TRUE(migrated_) << "migrations on " << db_->url();
    url_ = db_->url();
    qt::ReplicaOptions quota_options;
    quota_options.sweeper = true;
    quota_ = qt::Replica::Start(url_, quota_options);
    ASSERT_NE(quota_, nullptr);
    event_id_ = qt::RandomEventId("life");
  }

  void StartReplicas(int n, bool background) {
    RegistrationReplicaOptions options;
    options.background = background;
    options.expiry_interval = absl::Milliseconds(100);
    options.promotion_interval = absl::Milliseconds(500);
    for (int i = 0; i < n; ++i) {
      replicas_.push_back(RegistrationReplica::Start(
          url_, QuotaTarget({quota_.get()}), &events_, options));
      ASSERT_NE(replicas_.back(), nullptr);
    }
  }
  RegistrationReplica& a() { return *replicas_[0]; }

  void CreateEvent(int32_t capacity, std::chrono::seconds hold_ttl) {
    v1::Event event =
        MakeEvent(event_id_, capacity, {{"delegate", 0}}, hold_ttl);
    event.set_name("Launch Conf");
    event.set_time_zone("Europe/Zurich");
    event.mutable_ticket_types(0)->set_name("Delegate");
    events_.Put(event);
    event_ = event;
    ASSERT_TRUE(SetEventQuotas(quota_->stub(), event).ok());
  }

  // Registers `n` attendees one after the other (so their waitlist order is
  // their index order); ids and manage tokens in order.
  void RegisterMany(int n, std::vector<v1::RegisterResponse>* out) {
    for (int i = 0; i < n; ++i) {
      auto answer = Register(
          a().stub(), RegisterRequestFor(event_id_, "delegate",
                                         absl::StrCat("p", i, "@example.org")));
      ASSERT_TRUE(answer.ok()) << answer.status();
      out->push_back(*answer);
    }
  }

  std::vector<OutboxRow> Outbox() {
    auto rows = a().pool().Run([this](pqxx::connection& conn)
                                   -> absl::StatusOr<std::vector<OutboxRow>> {
      pqxx::nontransaction tx(conn);
      std::vector<OutboxRow> out;
      for (const auto& row : tx.exec_params(
               "SELECT outbox_id, kind, registration_id, payload::text "
               "FROM registration.outbox WHERE event_id = $1 ORDER BY "
               "outbox_id",
               event_id_)) {
        out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(),
                       row[2].as<std::string>(),
                       nlohmann::json::parse(row[3].as<std::string>())});
      }
      return out;
    });
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<OutboxRow>{};
  }

  std::vector<OutboxRow> OutboxOf(const std::string& kind) {
    std::vector<OutboxRow> out;
    for (OutboxRow& r : Outbox()) {
      if (r.kind == kind) out.push_back(std::move(r));
    }
    return out;
  }

  std::map<std::string, RegRow> Rows() {
    auto rows =
        a().pool().Run([this](pqxx::connection& conn)
                           -> absl::StatusOr<std::map<std::string, RegRow>> {
          pqxx::nontransaction tx(conn);
          std::map<std::string, RegRow> out;
          for (const auto& row : tx.exec_params(
                   "SELECT registration_id, status, COALESCE(waitlist_seq, "
                   "-1), COALESCE(hold_id, ''), hold_expires_at IS NOT NULL, "
                   "COALESCE(ticket_code, '') FROM registration.registrations "
                   "WHERE event_id = $1",
                   event_id_)) {
            out[row[0].as<std::string>()] =
                RegRow{row[1].as<int>(), row[2].as<int64_t>(),
                       row[3].as<std::string>(), row[4].as<bool>(),
                       row[5].as<std::string>()};
          }
          return out;
        });
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::map<std::string, RegRow>{};
  }

  int CountStatus(int status) {
    int n = 0;
    for (const auto& [id, row] : Rows()) n += row.status == status ? 1 : 0;
    return n;
  }

  // One count of the event's rows: `sql` selects it with $1 = the event.
  int64_t CountOf(const char* sql) {
    auto n =
        a().pool().Run([&](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
          pqxx::read_transaction tx(conn);
          return tx.exec_params1(sql, event_id_)[0].as<int64_t>();
        });
    return n.ok() ? *n : -1;
  }

  // PENDING registrations whose hold has not expired yet. (A registration
  // whose hold expired stays PENDING until the next expiry sweep, while its
  // seat may already be someone else's.)
  int64_t CountLivePending() {
    return CountOf(
        "SELECT count(*) FROM registration.registrations WHERE "
        "event_id = $1 AND status = 1 AND hold_expires_at > now()");
  }

  int64_t WaitlistCounter() {
    return CountOf(
        "SELECT coalesce(sum(waitlisted), 0) FROM "
        "registration.waitlist_counters WHERE event_id = $1");
  }

  QuotaRow EventQuota() {
    auto quotas = ReadQuotas(a().pool(), event_id_);
    EXPECT_TRUE(quotas.ok()) << quotas.status();
    return quotas.ok() && quotas->contains("event") ? quotas->at("event")
                                                    : QuotaRow{};
  }

  void ExpectPayload(const OutboxRow& row, const std::string& reason,
                     int status) {
    const nlohmann::json& p = row.payload;
    EXPECT_EQ(p.value("v", 0), 1) << p;
    EXPECT_EQ(p.value("reason", ""), reason) << p;
    EXPECT_EQ(p.value("registration_id", ""), row.registration_id) << p;
    EXPECT_EQ(p.value("event_id", ""), event_id_) << p;
    EXPECT_EQ(p.value("ticket_type_id", ""), "delegate") << p;
    EXPECT_EQ(p.value("status", 0), status) << p;
    EXPECT_NE(p["attendee"].value("email", ""), "") << p;
    EXPECT_NE(p["attendee"].value("full_name", ""), "") << p;
    EXPECT_EQ(p["event"].value("name", ""), "Launch Conf") << p;
    EXPECT_EQ(p["event"].value("time_zone", ""), "Europe/Zurich") << p;
    EXPECT_EQ(p["event"].value("starts_at", "").size(), 20u) << p;  // ..:00Z
    EXPECT_EQ(p["event"].value("starts_at", "").back(), 'Z') << p;
    EXPECT_EQ(p["event"].value("ends_at", "").size(), 20u) << p;
    EXPECT_EQ(p.value("ticket_type_name", ""), "Delegate") << p;
  }

  static inline ::admit::testing::ScratchDatabase* db_ = nullptr;
  static inline bool migrated_ = false;
  std::string url_;
  StaticEventSource events_;
  v1::Event event_;
  std::unique_ptr<qt::Replica> quota_;
  std::vector<std::unique_ptr<RegistrationReplica>> replicas_;
  std::string event_id_;
};

TEST_F(LifecycleTest, RegisterWritesTheFullPayload) {
  StartReplicas(1, false);
  CreateEvent(1, 600s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(2, &regs);
  std::vector<OutboxRow> rows = Outbox();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].kind, "confirmation");
  ExpectPayload(rows[0], "registered", 1);
  EXPECT_EQ(rows[0].payload["attendee"].value("email", ""), "p0@example.org");
  const std::string expiry = rows[0].payload.value("hold_expires_at", "");
  EXPECT_EQ(expiry.size(), 27u) << expiry;  // 2026-11-28T20:15:00.123456Z
  EXPECT_EQ(rows[0].payload.value("waitlist_position", -1), 0);
  EXPECT_EQ(rows[0].payload.value("ticket_code", "x"), "");
  EXPECT_EQ(rows[1].kind, "waitlist");
  ExpectPayload(rows[1], "waitlisted", 3);
  EXPECT_EQ(rows[1].payload.value("waitlist_position", 0), 1);
  EXPECT_FALSE(rows[1].payload.contains("hold_expires_at"));
}

TEST_F(LifecycleTest, ExpiredHoldsGoToTheWaitlistInOrder) {
  StartReplicas(1, true);
  CreateEvent(10, 2s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(15, &regs);
  std::vector<std::string> waitlisted;
  for (int i = 0; i < 15; ++i) {
    const auto status = regs[i].registration().status();
    EXPECT_EQ(status, i < 10 ? v1::REGISTRATION_STATUS_PENDING_CONFIRMATION
                             : v1::REGISTRATION_STATUS_WAITLISTED);
    if (i >= 10) waitlisted.push_back(regs[i].registration().id());
  }
  // The 10 pending expire; the 5 waitlisted get their seats, in order.
  std::map<std::string, RegRow> rows;
  ASSERT_TRUE(::admit::testing::WaitFor(
      [&] {
        if (OutboxOf("promotion").size() != 5) return false;
        rows = Rows();
        for (int i = 0; i < 10; ++i) {
          if (rows[regs[i].registration().id()].status != 5) return false;
        }
        return true;
      },
      20s));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rows[regs[i].registration().id()].status, 5) << i;
  }
  std::vector<OutboxRow> promotions = OutboxOf("promotion");
  for (size_t i = 0; i < promotions.size(); ++i) {
    EXPECT_EQ(promotions[i].registration_id, waitlisted[i]) << i;
    ExpectPayload(promotions[i], "promoted", 1);
    EXPECT_EQ(promotions[i].payload.value("hold_expires_at", "").size(), 27u);
    const RegRow& row = rows[waitlisted[i]];
    // PENDING with the promotion's hold (or already expired again: 2 s).
    EXPECT_TRUE(row.status == 1 || row.status == 5) << row.status;
    EXPECT_EQ(row.hold_id, PromotionHoldId(waitlisted[i], 0));
  }
  // The public view of a promoted one.
  auto promoted =
      GetRegistration(a().stub(), waitlisted[0], regs[10].manage_token());
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_NE(promoted->status(), v1::REGISTRATION_STATUS_WAITLISTED);
  auto rows_after = ReadEventRows(a().pool(), event_id_);
  ASSERT_TRUE(rows_after.ok());
  EXPECT_EQ(rows_after->waitlist_counter["delegate"], 0);
  EXPECT_LE(EventQuota().held + EventQuota().sold, 10);
}

TEST_F(LifecycleTest, CancellingAPendingRegistrationPromotesTheNext) {
  StartReplicas(1, true);
  CreateEvent(2, 600s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(4, &regs);
  ASSERT_EQ(regs[2].registration().status(),
            v1::REGISTRATION_STATUS_WAITLISTED);
  auto cancelled = CancelRegistration(a().stub(), regs[0].registration().id(),
                                      regs[0].manage_token());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_TRUE(::admit::testing::WaitFor(
      [&] {
        auto r = GetRegistration(a().stub(), regs[2].registration().id(),
                                 regs[2].manage_token());
        return r.ok() &&
               r->status() == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION;
      },
      10s));
  auto next = GetRegistration(a().stub(), regs[2].registration().id(),
                              regs[2].manage_token());
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->has_hold_expires_at());
  auto last = GetRegistration(a().stub(), regs[3].registration().id(),
                              regs[3].manage_token());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->status(), v1::REGISTRATION_STATUS_WAITLISTED);
  EXPECT_EQ(last->waitlist_position(), 1);
  std::vector<OutboxRow> promotions = OutboxOf("promotion");
  ASSERT_EQ(promotions.size(), 1u);
  EXPECT_EQ(promotions[0].registration_id, regs[2].registration().id());
  EXPECT_EQ(EventQuota().held, 2);
}

TEST_F(LifecycleTest, AHeadRefusedOnlyByItsAllotmentKeepsItsPlace) {
  StartReplicas(1, true);
  CreateEvent(2, 600s);
  // Acme's delegation may hold 1 of the 2 seats.
  ASSERT_TRUE(qt::SetQuotas(
                  quota_->stub(),
                  qt::SetRequest(event_id_, {qt::Limit(qt::EventKey(), 2),
                                             qt::Limit(qt::OrgKey("acme"), 1)}))
                  .ok());
  auto reg = [&](const std::string& email, const std::string& org) {
    auto answer = Register(
        a().stub(), RegisterRequestFor(event_id_, "delegate", email, org));
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : v1::RegisterResponse{};
  };
  const v1::RegisterResponse acme1 = reg("a1@example.org", "Acme");
  const v1::RegisterResponse other1 = reg("o1@example.org", "Other");
  const v1::RegisterResponse acme2 = reg("a2@example.org", "Acme");
  const v1::RegisterResponse other2 = reg("o2@example.org", "Other");
  ASSERT_EQ(acme2.registration().status(), v1::REGISTRATION_STATUS_WAITLISTED);
  ASSERT_EQ(other2.registration().status(), v1::REGISTRATION_STATUS_WAITLISTED);
  // A non-Acme seat frees up: Acme's head cannot take it, the next can.
  ASSERT_TRUE(CancelRegistration(a().stub(), other1.registration().id(),
                                 other1.manage_token())
                  .ok());
  ASSERT_TRUE(::admit::testing::WaitFor(
      [&] { return OutboxOf("promotion").size() == 1; }, 10s));
  EXPECT_EQ(OutboxOf("promotion")[0].registration_id,
            other2.registration().id());
  auto head = GetRegistration(a().stub(), acme2.registration().id(),
                              acme2.manage_token());
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status(), v1::REGISTRATION_STATUS_WAITLISTED);
  EXPECT_EQ(head->waitlist_position(), 1);
  // Acme's own seat frees up: its head gets it.
  ASSERT_TRUE(CancelRegistration(a().stub(), acme1.registration().id(),
                                 acme1.manage_token())
                  .ok());
  ASSERT_TRUE(::admit::testing::WaitFor(
      [&] { return OutboxOf("promotion").size() == 2; }, 10s));
  EXPECT_EQ(OutboxOf("promotion")[1].registration_id,
            acme2.registration().id());
}

TEST_F(LifecycleTest, TwoReplicasNeverPromoteTwiceNorPastCapacity) {
  StartReplicas(2, true);
  CreateEvent(5, 1s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(25, &regs);
  // Holds last 1 s: on a loaded machine the first ones expire while the
  // later ones register, and those get a seat at once. The waitlisted ones,
  // in order, are the ones to promote (20 on a machine that keeps up).
  std::vector<std::string> waitlisted;
  for (const v1::RegisterResponse& r : regs) {
    if (r.registration().status() == v1::REGISTRATION_STATUS_WAITLISTED) {
      waitlisted.push_back(r.registration().id());
    }
  }
  ASSERT_FALSE(waitlisted.empty());
  // Every 1 s the pending expire and both replicas race to promote the
  // next ones, until the waitlist is empty.
  bool within_capacity = true;
  ASSERT_TRUE(::admit::testing::WaitFor(
      [&] {
        const QuotaRow q = EventQuota();
        if (q.held + q.sold > 5 || CountLivePending() > 5) {
          within_capacity = false;
        }
        return OutboxOf("promotion").size() >= waitlisted.size() &&
               CountStatus(3) == 0;
      },
      40s, 50ms))
      << "promotions " << OutboxOf("promotion").size() << " of "
      << waitlisted.size() << ", waitlisted " << CountStatus(3) << ", pending "
      << CountStatus(1) << ", expired " << CountStatus(5) << ", quota held "
      << EventQuota().held << " sold " << EventQuota().sold
      << ", waitlist counter " << WaitlistCounter();
  EXPECT_TRUE(within_capacity);
  std::vector<OutboxRow> promotions = OutboxOf("promotion");
  EXPECT_EQ(promotions.size(), waitlisted.size());
  std::set<std::string> promoted;
  for (size_t i = 0; i < promotions.size(); ++i) {
    EXPECT_TRUE(promoted.insert(promotions[i].registration_id).second)
        << "promoted twice: " << i;
    if (i < waitlisted.size()) {
      EXPECT_EQ(promotions[i].registration_id, waitlisted[i])
          << "FIFO at " << i;
    }
  }
  auto rows = ReadEventRows(a().pool(), event_id_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->waitlist_counter["delegate"], 0);
}

TEST_F(LifecycleTest, ConfirmCommitsTheHoldAndWritesATicketRow) {
  StartReplicas(1, false);
  CreateEvent(1, 600s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(2, &regs);
  const std::string id = regs[0].registration().id();
  auto confirmed = Confirm(a().lifecycle_stub(), id, "TK-0001");
  ASSERT_TRUE(confirmed.ok()) << confirmed.status();
  EXPECT_EQ(confirmed->status(), v1::REGISTRATION_STATUS_CONFIRMED);
  EXPECT_EQ(confirmed->ticket_code(), "TK-0001");
  EXPECT_TRUE(confirmed->has_confirmed_at());
  EXPECT_FALSE(confirmed->has_hold_expires_at());
  EXPECT_EQ(Rows()[id].ticket_code, "TK-0001");
  EXPECT_FALSE(Rows()[id].has_hold_expiry);
  EXPECT_EQ(EventQuota().sold, 1);
  EXPECT_EQ(EventQuota().held, 0);
  std::vector<OutboxRow> tickets = OutboxOf("ticket");
  ASSERT_EQ(tickets.size(), 1u);
  ExpectPayload(tickets[0], "confirmed", 2);
  EXPECT_EQ(tickets[0].payload.value("ticket_code", ""), "TK-0001");

  // Idempotent, whatever the code says.
  auto again = Confirm(a().lifecycle_stub(), id, "TK-OTHER");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ticket_code(), "TK-0001");
  EXPECT_EQ(OutboxOf("ticket").size(), 1u);
  // The public Get shows the code.
  auto got = GetRegistration(a().stub(), id, regs[0].manage_token());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->ticket_code(), "TK-0001");

  // Waitlisted.
  auto waitlisted =
      Confirm(a().lifecycle_stub(), regs[1].registration().id(), "TK-2");
  EXPECT_EQ(waitlisted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(waitlisted.status()), "REGISTRATION_NOT_PENDING");
  // Unknown, invalid.
  auto unknown = Confirm(a().lifecycle_stub(), "no-such-registration", "TK");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(unknown.status()), "REGISTRATION_NOT_FOUND");
  auto invalid = Confirm(a().lifecycle_stub(), id, "");
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LifecycleTest, ConfirmRefusesExpiredAndCancelled) {
  StartReplicas(1, false);
  CreateEvent(5, 1s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(3, &regs);
  auto cancelled = CancelRegistration(a().stub(), regs[1].registration().id(),
                                      regs[1].manage_token());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  auto c = Confirm(a().lifecycle_stub(), regs[1].registration().id(), "TK");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(c.status()), "REGISTRATION_CANCELLED");
  // Lapsed but not swept yet, then swept. Wait for the later of the two
  // holds (regs[2] registered last: on a loaded machine its hold may end a
  // second or more after regs[0]'s).
  const absl::Time expiry = absl::FromUnixSeconds(
      std::max(regs[0].registration().hold_expires_at().seconds(),
               regs[2].registration().hold_expires_at().seconds()) +
      1);
  ASSERT_TRUE(
      ::admit::testing::WaitFor([&] { return absl::Now() > expiry; }, 5s));
  auto lapsed =
      Confirm(a().lifecycle_stub(), regs[0].registration().id(), "TK");
  EXPECT_EQ(lapsed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(lapsed.status()), "REGISTRATION_EXPIRED");
  auto swept = a().sweeper().SweepOnce();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_GE(*swept, 2);  // and lapsed rows of other tests' events
  EXPECT_EQ(Rows()[regs[2].registration().id()].status, 5);
  auto expired =
      Confirm(a().lifecycle_stub(), regs[2].registration().id(), "TK");
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(expired.status()), "REGISTRATION_EXPIRED");
  EXPECT_EQ(OutboxOf("ticket").size(), 0u);
  EXPECT_EQ(EventQuota().held, 0);
}

TEST_F(LifecycleTest, QueueConfirmationEmailChecksTokenAndRateLimits) {
  StartReplicas(1, false);
  CreateEvent(1, 600s);
  std::vector<v1::RegisterResponse> regs;
  RegisterMany(2, &regs);
  const std::string id = regs[0].registration().id();
  const std::string token = regs[0].manage_token();
  // Wrong token (another registration's) = unknown id.
  auto wrong = Resend(a().lifecycle_stub(), id, regs[1].manage_token());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(wrong.status()), "REGISTRATION_NOT_FOUND");

  const int64_t first_id = Outbox().back().id;
  auto one = Resend(a().lifecycle_stub(), id, token, 2);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_GT(one->outbox_id(), first_id);
  EXPECT_TRUE(one->has_queued_at());
  EXPECT_EQ(one->registration().id(), id);
  auto two = Resend(a().lifecycle_stub(), id, token, 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_GT(two->outbox_id(), one->outbox_id());
  auto three = Resend(a().lifecycle_stub(), id, token, 2);
  ASSERT_EQ(three.status().code(), absl::StatusCode::kResourceExhausted)
      << three.status();
  EXPECT_EQ(GetErrorReason(three.status()), "RATE_LIMITED");
  auto retry =
      three.status().GetPayload("type.googleapis.com/google.rpc.RetryInfo");
  ASSERT_TRUE(retry.has_value());
  google::rpc::RetryInfo info;
  ASSERT_TRUE(info.ParseFromString(std::string(*retry)));
  EXPECT_GT(info.retry_delay().seconds(), 3500);
  EXPECT_LE(info.retry_delay().seconds(), 3600);

  std::vector<OutboxRow> confirmations = OutboxOf("confirmation");
  ASSERT_EQ(confirmations.size(), 3u);
  ExpectPayload(confirmations[1], "resend", 1);
  EXPECT_EQ(confirmations[1].payload.value("hold_expires_at", "").size(), 27u);
  // The default limit (3) allows one more.
  auto four = Resend(a().lifecycle_stub(), id, token);
  ASSERT_TRUE(four.ok()) << four.status();

  // Not pending.
  auto waitlisted = Resend(a().lifecycle_stub(), regs[1].registration().id(),
                           regs[1].manage_token());
  EXPECT_EQ(waitlisted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(waitlisted.status()), "REGISTRATION_NOT_PENDING");
}

}  // namespace
}  // namespace admit::registration
