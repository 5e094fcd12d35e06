// PgRegistrationStore against real Postgres (ADMIT_TEST_PG_URL): how one
// group-commit batch decides duplicates within itself and against stored
// rows, waitlist sequence numbers and positions, abandoned holds, Cancel.
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/registration/pg_registration_store.h"
#include "services/registration/registration_testing.h"

namespace admit::registration {
namespace {

using namespace admit::registration::testing;  // NOLINT: test helpers

template <typename T, typename Start>
absl::StatusOr<T> Wait(Start start) {
  std::promise<absl::StatusOr<T>> promise;
  auto future = promise.get_future();
  start([&promise](absl::StatusOr<T> r) { promise.set_value(std::move(r)); });
  return future.get();
}

class RegistrationStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = DatabaseUrl();
    ASSERT_FALSE(url.empty());
    auto pool = pg::Pool::Create({.url = url, .size = 2});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    store_ = std::make_unique<PgRegistrationStore>(pool_.get());
    event_ = quota::testing::RandomEventId("store");
  }

  NewRegistration Row(const std::string& request, const std::string& email,
                      const std::string& hold = "",
                      const std::string& type = "a") {
    NewRegistration r;
    // Unique per run (the event id is random): tests rerun on one database.
    r.registration_id =
        absl::StrCat("id-", event_, "-", request, "-", ++serial_);
    r.event_id = event_;
    r.ticket_type_id = type;
    r.request_id = request;
    r.fingerprint = "fp";
    r.attendee = {email, "Name", "", "", "CH"};
    r.status = hold.empty() ? RegistrationStatus::kWaitlisted
                            : RegistrationStatus::kPendingConfirmation;
    r.hold_id = hold;
    if (!hold.empty()) r.hold_expires_at = absl::Now() + absl::Minutes(5);
    r.token_hash = std::string(32, 'h');
    r.token_sealed = "sealed";
    return r;
  }

  absl::StatusOr<std::vector<absl::StatusOr<InsertResult>>> Insert(
      std::vector<NewRegistration> rows) {
    return Wait<std::vector<absl::StatusOr<InsertResult>>>([&](auto done) {
      store_->InsertBatch(event_, std::move(rows), std::move(done));
    });
  }

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<PgRegistrationStore> store_;
  std::string event_;
  int serial_ = 0;
};

TEST_F(RegistrationStoreTest, OneBatchDecidesDuplicatesInArrivalOrder) {
  auto first = Insert({Row("r1", "x@ex.org", "h1")});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string stored_id = (*first)[0]->record.registration_id;

  auto batch = Insert({
      Row("r2", "y@ex.org"),           // waitlisted, inserted
      Row("r1", "x@ex.org", "h1"),     // same request as a stored row
      Row("r3", "x@ex.org", "h3"),     // email of a stored live row
      Row("r4", "z@ex.org"),           // inserted
      Row("r4", "z@ex.org"),           // repeat of r4 within the batch
      Row("r5", "z@ex.org", "h5"),     // email taken earlier in the batch
      Row("r6", "w@ex.org", "", "b"),  // another type's waitlist
  });
  ASSERT_TRUE(batch.ok()) << batch.status();
  const auto& r = *batch;
  ASSERT_EQ(r.size(), 7u);
  for (const auto& one : r) ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(r[0]->outcome, InsertOutcome::kInserted);
  EXPECT_EQ(r[0]->record.waitlist_position, 1);
  EXPECT_EQ(r[1]->outcome, InsertOutcome::kSameRequest);
  EXPECT_EQ(r[1]->record.registration_id, stored_id);
  EXPECT_EQ(r[2]->outcome, InsertOutcome::kEmailTaken);
  EXPECT_EQ(r[3]->outcome, InsertOutcome::kInserted);
  EXPECT_EQ(r[3]->record.waitlist_position, 2);
  EXPECT_EQ(r[4]->outcome, InsertOutcome::kSameRequest);
  EXPECT_EQ(r[4]->record.registration_id, r[3]->record.registration_id);
  EXPECT_EQ(r[5]->outcome, InsertOutcome::kEmailTaken);
  EXPECT_EQ(r[6]->outcome, InsertOutcome::kInserted);
  EXPECT_EQ(r[6]->record.waitlist_position, 1);

  auto rows = ReadEventRows(*pool_, event_);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->by_status[1], 1);
  EXPECT_EQ(rows->by_status[3], 3);
  EXPECT_EQ(rows->outbox_rows, 4);
  EXPECT_EQ(rows->waitlist_counter["a"], 2);
  EXPECT_EQ(rows->waitlist_counter["b"], 1);
}

TEST_F(RegistrationStoreTest, CancelShortensTheWaitlistBehindIt) {
  auto batch = Insert(
      {Row("q1", "1@ex.org"), Row("q2", "2@ex.org"), Row("q3", "3@ex.org")});
  ASSERT_TRUE(batch.ok());
  const std::string first = (*batch)[0]->record.registration_id;
  const std::string third = (*batch)[2]->record.registration_id;
  auto cancelled = Wait<CancelResult>(
      [&](auto done) { store_->Cancel(first, std::move(done)); });
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->previous, RegistrationStatus::kWaitlisted);
  EXPECT_EQ(cancelled->record.status, RegistrationStatus::kCancelled);
  auto again = Wait<CancelResult>(
      [&](auto done) { store_->Cancel(first, std::move(done)); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->previous, RegistrationStatus::kCancelled);
  auto got = Wait<RegistrationRecord>(
      [&](auto done) { store_->Get(third, std::move(done)); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->waitlist_position, 2);  // was 3
  auto counts = Wait<std::map<std::string, int32_t>>(
      [&](auto done) { store_->WaitlistCounts(event_, std::move(done)); });
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->at("a"), 2);
  // The next one still gets a fresh sequence number: position 3, not 4.
  auto next = Insert({Row("q4", "4@ex.org")});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)[0]->record.waitlist_position, 3);
}

TEST_F(RegistrationStoreTest, AbandonedHoldsAreNotStoredAndOwnedOnesKept) {
  auto owned = Insert({Row("o1", "o@ex.org", "hold-owned")});
  ASSERT_TRUE(owned.ok());
  auto keep = Wait<bool>([&](auto done) {
    store_->AbandonHold(event_, "hold-owned", std::move(done));
  });
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_FALSE(*keep);  // a registration owns it

  auto release = Wait<bool>([&](auto done) {
    store_->AbandonHold(event_, "hold-gone", std::move(done));
  });
  ASSERT_TRUE(release.ok());
  EXPECT_TRUE(*release);
  auto batch =
      Insert({Row("g1", "g@ex.org", "hold-gone"), Row("g2", "k@ex.org", "h")});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ((*batch)[0].status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE((*batch)[1].ok());
  EXPECT_EQ((*batch)[1]->outcome, InsertOutcome::kInserted);
}

TEST_F(RegistrationStoreTest, UnknownIdsAreNotFound) {
  auto got = Wait<RegistrationRecord>(
      [&](auto done) { store_->Get("no-such-id", std::move(done)); });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  auto cancelled = Wait<CancelResult>(
      [&](auto done) { store_->Cancel("no-such-id", std::move(done)); });
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace admit::registration
