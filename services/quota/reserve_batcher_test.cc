#include "services/quota/reserve_batcher.h"

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace admit::quota {
namespace {

using ::testing::ElementsAre;

// A HoldStore whose ReserveBatch calls wait until the test completes them,
// so the test controls what is "in the transaction" and what arrives
// meanwhile.
class ManualStore final : public HoldStore {
 public:
  struct Call {
    std::string event_id;
    std::vector<ReserveCommand> commands;
    StoreCallback<ReserveBatchResult> done;
  };

  void ReserveBatch(std::string event_id, std::vector<ReserveCommand> commands,
                    StoreCallback<ReserveBatchResult> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(
        {std::move(event_id), std::move(commands), std::move(done)});
  }

  size_t pending_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

  std::vector<std::string> HoldIds(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> ids;
    for (const auto& c : calls_.at(i).commands) ids.push_back(c.hold_id);
    return ids;
  }

  std::string EventOf(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.at(i).event_id;
  }

  // Completes the oldest outstanding call: every command RESERVED with a hold
  // named after it, or `error` for the whole batch.
  void CompleteOldest(absl::Status error = absl::OkStatus()) {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call = std::move(calls_.front());
      calls_.pop_front();
    }
    if (!error.ok()) {
      call.done(error);
      return;
    }
    ReserveBatchResult result;
    for (const auto& c : call.commands) {
      ReserveResult r;
      r.outcome = ReserveOutcome::kReserved;
      r.hold.hold_id = c.hold_id;
      r.hold.event_id = c.event_id;
      result.results.push_back(r);
    }
    call.done(std::move(result));
  }

  void SetQuotas(SetQuotasCommand, StoreCallback<EventUsage> done) override {
    done(absl::UnimplementedError(""));
  }
  void Commit(std::string, StoreCallback<HoldChange> done) override {
    done(absl::UnimplementedError(""));
  }
  void Release(std::string, ReleaseReason,
               StoreCallback<HoldChange> done) override {
    done(absl::UnimplementedError(""));
  }
  void GetHold(std::string, StoreCallback<Hold> done) override {
    done(absl::UnimplementedError(""));
  }
  void GetUsage(std::string, StoreCallback<EventUsage> done) override {
    done(absl::UnimplementedError(""));
  }
  void ExpireDue(int, StoreCallback<SweepResult> done) override {
    done(absl::UnimplementedError(""));
  }

 private:
  std::mutex mu_;
  std::deque<Call> calls_;
};

ReserveCommand Command(std::string hold_id, std::string event_id = "ev") {
  return ReserveCommand{std::move(hold_id), std::move(event_id), "delegate", "",
                        absl::Seconds(60)};
}

// Collects answers by hold id.
struct Answers {
  std::mutex mu;
  std::vector<std::pair<std::string, absl::StatusOr<ReserveResult>>> got;

  ReserveBatcher::Done For(std::string hold_id) {
    return [this, hold_id](absl::StatusOr<ReserveResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      got.emplace_back(hold_id, std::move(r));
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return got.size();
  }
};

TEST(ReserveBatcher, SendsALoneRequestAtOnce) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr);
  Answers answers;
  batcher.Reserve(Command("a"), answers.For("a"));
  ASSERT_EQ(store.pending_calls(), 1u);
  EXPECT_THAT(store.HoldIds(0), ElementsAre("a"));
  store.CompleteOldest();
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers.got[0].second.ok());
  EXPECT_EQ(answers.got[0].second->hold.hold_id, "a");
}

TEST(ReserveBatcher, BatchesWhatArrivesWhileATransactionRuns) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr);
  Answers answers;
  batcher.Reserve(Command("a"), answers.For("a"));
  for (const char* id : {"b", "c", "d"})
    batcher.Reserve(Command(id), answers.For(id));
  EXPECT_EQ(store.pending_calls(), 1u);  // b, c, d wait for a's transaction
  store.CompleteOldest();
  ASSERT_EQ(store.pending_calls(), 1u);
  EXPECT_THAT(store.HoldIds(0), ElementsAre("b", "c", "d"));  // arrival order
  store.CompleteOldest();
  EXPECT_EQ(answers.size(), 4u);
  for (auto& [id, r] : answers.got) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->hold.hold_id, id);  // each caller gets its own answer
  }
  auto stats = batcher.stats();
  EXPECT_EQ(stats.batches, 2);
  EXPECT_EQ(stats.reservations, 4);
  EXPECT_EQ(stats.largest_batch, 3);
}

TEST(ReserveBatcher, CapsBatchesAtMaxBatch) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr, {.max_batch = 4});
  Answers answers;
  for (int i = 0; i < 11; ++i) {
    std::string id = absl::StrCat("h", i);
    batcher.Reserve(Command(id), answers.For(id));
  }
  std::vector<size_t> sizes;
  while (store.pending_calls() > 0) {
    sizes.push_back(store.HoldIds(0).size());
    store.CompleteOldest();
  }
  EXPECT_THAT(sizes, ElementsAre(1, 4, 4, 2));
  EXPECT_EQ(answers.size(), 11u);
}

TEST(ReserveBatcher, EventsAreBatchedIndependently) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr);
  Answers answers;
  batcher.Reserve(Command("a1", "ev-a"), answers.For("a1"));
  batcher.Reserve(Command("b1", "ev-b"), answers.For("b1"));
  batcher.Reserve(Command("a2", "ev-a"), answers.For("a2"));
  ASSERT_EQ(store.pending_calls(), 2u);  // one per event, concurrently
  EXPECT_EQ(store.EventOf(0), "ev-a");
  EXPECT_EQ(store.EventOf(1), "ev-b");
  store.CompleteOldest();  // ev-a's first batch -> a2 goes next
  ASSERT_EQ(store.pending_calls(), 2u);
  EXPECT_EQ(store.EventOf(1), "ev-a");
  EXPECT_THAT(store.HoldIds(1), ElementsAre("a2"));
  store.CompleteOldest();
  store.CompleteOldest();
  EXPECT_EQ(answers.size(), 3u);
}

TEST(ReserveBatcher, ABatchErrorAnswersEveryRequestOfTheBatch) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr);
  Answers answers;
  batcher.Reserve(Command("a"), answers.For("a"));
  batcher.Reserve(Command("b"), answers.For("b"));
  batcher.Reserve(Command("c"), answers.For("c"));
  store.CompleteOldest();                                         // a
  store.CompleteOldest(absl::UnavailableError("database down"));  // b, c
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(answers.got[0].second.ok());
  EXPECT_EQ(answers.got[1].second.status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(answers.got[2].second.status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ReserveBatcher, ShedsLoadBeyondMaxPending) {
  ManualStore store;
  ReserveBatcher batcher(&store, nullptr, {.max_batch = 128, .max_pending = 2});
  Answers answers;
  batcher.Reserve(Command("a"), answers.For("a"));  // in flight, not pending
  batcher.Reserve(Command("b"), answers.For("b"));
  batcher.Reserve(Command("c"), answers.For("c"));
  batcher.Reserve(Command("d"), answers.For("d"));  // third waiting: refused
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers.got[0].first, "d");
  EXPECT_EQ(answers.got[0].second.status().code(),
            absl::StatusCode::kUnavailable);
  store.CompleteOldest();
  store.CompleteOldest();
  EXPECT_EQ(answers.size(), 4u);
}

TEST(ReserveBatcher, ASynchronousStoreFailureDrainsTheQueue) {
  // A store that fails at once on the calling thread (pool queue full).
  class FailingStore final : public HoldStore {
   public:
    void ReserveBatch(std::string, std::vector<ReserveCommand>,
                      StoreCallback<ReserveBatchResult> done) override {
      done(absl::UnavailableError("database busy"));
    }
    void SetQuotas(SetQuotasCommand, StoreCallback<EventUsage>) override {}
    void Commit(std::string, StoreCallback<HoldChange>) override {}
    void Release(std::string, ReleaseReason,
                 StoreCallback<HoldChange>) override {}
    void GetHold(std::string, StoreCallback<Hold>) override {}
    void GetUsage(std::string, StoreCallback<EventUsage>) override {}
    void ExpireDue(int, StoreCallback<SweepResult>) override {}
  } store;
  ReserveBatcher batcher(&store, nullptr);
  Answers answers;
  for (int i = 0; i < 5; ++i) {
    std::string id = absl::StrCat("h", i);
    batcher.Reserve(Command(id), answers.For(id));
  }
  EXPECT_EQ(answers.size(), 5u);
  EXPECT_EQ(batcher.stats().in_flight, 0);
  batcher.WaitIdle();  // returns: nothing left
}

}  // namespace
}  // namespace admit::quota
