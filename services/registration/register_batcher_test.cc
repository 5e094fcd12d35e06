// RegisterBatcher against a fake store whose batches the test completes by
// hand: grouping per event, arrival order, one batch in flight per event,
// errors fanned out, load shedding.
#include "services/registration/register_batcher.h"

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace admit::registration {
namespace {

// Holds every InsertBatch until the test completes it.
class ManualStore final : public RegistrationStore {
 public:
  struct Batch {
    std::string event_id;
    std::vector<NewRegistration> rows;
    StoreCallback<std::vector<absl::StatusOr<InsertResult>>> done;
  };

  void Lookup(std::string, std::string, std::string,
              StoreCallback<RegisterLookup> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void InsertBatch(
      std::string event_id, std::vector<NewRegistration> rows,
      StoreCallback<std::vector<absl::StatusOr<InsertResult>>> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back({std::move(event_id), std::move(rows), std::move(done)});
  }
  void AbandonHold(std::string, std::string,
                   StoreCallback<bool> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void Get(std::string, StoreCallback<RegistrationRecord> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void Cancel(std::string, StoreCallback<CancelResult> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void WaitlistCounts(
      std::string,
      StoreCallback<std::map<std::string, int32_t>> done) override {
    done(absl::UnimplementedError("not in this test"));
  }

  size_t open_batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_.size();
  }
  Batch Take() {
    std::lock_guard<std::mutex> lock(mu_);
    Batch b = std::move(batches_.front());
    batches_.pop_front();
    return b;
  }
  // Answers every row of `b` as inserted.
  static void InsertAll(Batch& b) {
    std::vector<absl::StatusOr<InsertResult>> results;
    for (const NewRegistration& r : b.rows) {
      InsertResult result;
      result.record.registration_id = r.registration_id;
      results.push_back(std::move(result));
    }
    b.done(std::move(results));
  }

 private:
  std::mutex mu_;
  std::deque<Batch> batches_;
};

NewRegistration Row(const std::string& event, const std::string& id) {
  NewRegistration r;
  r.event_id = event;
  r.registration_id = id;
  return r;
}

TEST(RegisterBatcher, GroupsWhatArrivesWhileABatchIsInFlight) {
  ManualStore store;
  std::vector<size_t> sizes;
  RegisterBatcher batcher(&store, {}, [&](size_t n) { sizes.push_back(n); });
  std::vector<std::string> answered;
  auto record = [&](absl::StatusOr<InsertResult> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    answered.push_back(r->record.registration_id);
  };
  batcher.Insert(Row("e", "a"), record);  // alone: sent at once
  ASSERT_EQ(store.open_batches(), 1u);
  batcher.Insert(Row("e", "b"), record);
  batcher.Insert(Row("e", "c"), record);
  batcher.Insert(Row("other", "x"), record);  // another event: its own batch
  ASSERT_EQ(store.open_batches(), 2u);

  ManualStore::Batch first = store.Take();
  ASSERT_EQ(first.rows.size(), 1u);
  ManualStore::InsertAll(first);  // b and c go out as one batch
  ManualStore::Batch other = store.Take();
  EXPECT_EQ(other.event_id, "other");
  ManualStore::InsertAll(other);
  ManualStore::Batch second = store.Take();
  ASSERT_EQ(second.rows.size(), 2u);
  EXPECT_EQ(second.rows[0].registration_id, "b");  // arrival order
  EXPECT_EQ(second.rows[1].registration_id, "c");
  ManualStore::InsertAll(second);

  EXPECT_EQ(answered, (std::vector<std::string>{"a", "x", "b", "c"}));
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 2}));
  batcher.WaitIdle();
  EXPECT_EQ(batcher.stats().batches, 3);
  EXPECT_EQ(batcher.stats().largest_batch, 2);
}

TEST(RegisterBatcher, ABatchErrorReachesEveryRegistrationOfIt) {
  ManualStore store;
  RegisterBatcher batcher(&store);
  int unavailable = 0;
  auto record = [&](absl::StatusOr<InsertResult> r) {
    if (r.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
  };
  batcher.Insert(Row("e", "a"), record);
  batcher.Insert(Row("e", "b"), record);
  batcher.Insert(Row("e", "c"), record);
  store.Take().done(absl::UnavailableError("db down"));
  store.Take().done(absl::UnavailableError("db down"));
  EXPECT_EQ(unavailable, 3);
  EXPECT_EQ(store.open_batches(), 0u);
}

TEST(RegisterBatcher, CapsBatchesAtMaxBatch) {
  ManualStore store;
  RegisterBatcher batcher(&store, {.max_batch = 2, .max_pending = 100});
  int ok = 0;
  auto record = [&](absl::StatusOr<InsertResult> r) { ok += r.ok(); };
  for (int i = 0; i < 6; ++i)
    batcher.Insert(Row("e", std::to_string(i)), record);
  std::vector<size_t> sizes;
  while (store.open_batches() > 0) {
    ManualStore::Batch b = store.Take();
    sizes.push_back(b.rows.size());
    ManualStore::InsertAll(b);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 2, 2, 1}));
  EXPECT_EQ(ok, 6);
}

TEST(RegisterBatcher, ShedsLoadBeyondMaxPending) {
  ManualStore store;
  RegisterBatcher batcher(&store, {.max_batch = 128, .max_pending = 2});
  std::vector<absl::StatusCode> codes;
  auto record = [&](absl::StatusOr<InsertResult> r) {
    codes.push_back(r.status().code());
  };
  batcher.Insert(Row("e", "a"), record);  // in flight, not pending
  batcher.Insert(Row("e", "b"), record);
  batcher.Insert(Row("e", "c"), record);
  batcher.Insert(Row("e", "d"), record);  // third waiting: refused
  ASSERT_EQ(codes,
            (std::vector<absl::StatusCode>{absl::StatusCode::kUnavailable}));
  ManualStore::Batch a = store.Take();
  ManualStore::InsertAll(a);
  ManualStore::Batch bc = store.Take();
  EXPECT_EQ(bc.rows.size(), 2u);
  ManualStore::InsertAll(bc);
}

}  // namespace
}  // namespace admit::registration
