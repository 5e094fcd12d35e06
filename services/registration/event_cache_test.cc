// EventCache with a fake loader (the test answers each load itself) and a
// fake clock: TTLs, coalescing, negative caching, errors, the size bound.
#include "services/registration/event_cache.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/event_store.h"

namespace admit::registration {
namespace {

using Result = absl::StatusOr<EventSnapshot>;

// Records every load; the test completes them with Answer().
class FakeLoader {
 public:
  EventCache::Loader loader() {
    return [this](const std::string& id, EventSource::Callback done) {
      if (answer_at_once_.has_value()) {
        ++loads_[id];
        std::move(done)(*answer_at_once_);
        return;
      }
      ++loads_[id];
      pending_.push_back({id, std::move(done)});
    };
  }
  int loads(const std::string& id) const {
    auto it = loads_.find(id);
    return it == loads_.end() ? 0 : it->second;
  }
  size_t pending() const { return pending_.size(); }
  // Completes the oldest pending load of `id`.
  void Answer(const std::string& id, Result result) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->first == id) {
        EventSource::Callback done = std::move(it->second);
        pending_.erase(it);
        std::move(done)(std::move(result));
        return;
      }
    }
    ADD_FAILURE() << "no pending load of " << id;
  }
  void AnswerAtOnce(Result result) { answer_at_once_ = std::move(result); }
  // Completes every pending load with `result`.
  void AnswerAll(const Result& result) {
    while (!pending_.empty()) Answer(pending_.front().first, result);
  }

 private:
  std::map<std::string, int> loads_;
  std::vector<std::pair<std::string, EventSource::Callback>> pending_;
  std::optional<Result> answer_at_once_;
};

EventSnapshot Event(const std::string& id, int capacity = 10) {
  auto e = std::make_shared<v1::Event>();
  e->set_id(id);
  e->set_capacity(capacity);
  return e;
}

// Collects what a Get's callback received.
struct Answer {
  std::optional<Result> result;
  EventSource::Callback callback() {
    return [this](Result r) { result = std::move(r); };
  }
};

class EventCacheTest : public ::testing::Test {
 protected:
  EventCacheTest() { Make({}); }
  // The cache's destructor waits for loads in flight: end them first (tests
  // answer their own loads; this only keeps a failing test from hanging).
  ~EventCacheTest() override {
    loader_.AnswerAll(absl::CancelledError("test over"));
    cache_.reset();
  }

  void Make(EventCacheOptions options) {
    cache_.reset();
    cache_ = std::make_unique<EventCache>(loader_.loader(), options,
                                          [this] { return now_; });
  }

  FakeLoader loader_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::unique_ptr<EventCache> cache_;
};

TEST_F(EventCacheTest, HitWithinTtlIsServedWithoutALoad) {
  Answer first, second;
  cache_->Get("pp-2026", first.callback());
  EXPECT_FALSE(first.result.has_value());
  loader_.Answer("pp-2026", Event("pp-2026"));
  ASSERT_TRUE(first.result.has_value());
  ASSERT_TRUE(first.result->ok());

  now_ += absl::Milliseconds(999);
  cache_->Get("pp-2026", second.callback());
  ASSERT_TRUE(second.result.has_value());
  ASSERT_TRUE(second.result->ok());
  EXPECT_EQ(**second.result, **first.result);  // the same snapshot
  EXPECT_EQ(loader_.loads("pp-2026"), 1);
}

TEST_F(EventCacheTest, ExpiredEntryIsLoadedAgain) {
  Answer first, second;
  cache_->Get("pp-2026", first.callback());
  loader_.Answer("pp-2026", Event("pp-2026", 10));
  now_ += absl::Seconds(1);
  cache_->Get("pp-2026", second.callback());
  EXPECT_EQ(loader_.loads("pp-2026"), 2);
  EXPECT_FALSE(second.result.has_value());  // waits for the reload
  loader_.Answer("pp-2026", Event("pp-2026", 20));
  ASSERT_TRUE(second.result.has_value() && second.result->ok());
  EXPECT_EQ((**second.result)->capacity(), 20);
}

TEST_F(EventCacheTest, ConcurrentMissesShareOneLoad) {
  Answer a, b, c;
  cache_->Get("pp-2026", a.callback());
  cache_->Get("pp-2026", b.callback());
  cache_->Get("pp-2026", c.callback());
  EXPECT_EQ(loader_.loads("pp-2026"), 1);
  EXPECT_FALSE(a.result.has_value() || b.result.has_value() ||
               c.result.has_value());
  loader_.Answer("pp-2026", Event("pp-2026"));
  for (Answer* x : {&a, &b, &c}) {
    ASSERT_TRUE(x->result.has_value());
    ASSERT_TRUE(x->result->ok());
    EXPECT_EQ((**x->result)->id(), "pp-2026");
  }
}

TEST_F(EventCacheTest, DifferentIdsLoadSeparately) {
  Answer a, b;
  cache_->Get("one", a.callback());
  cache_->Get("two", b.callback());
  EXPECT_EQ(loader_.loads("one"), 1);
  EXPECT_EQ(loader_.loads("two"), 1);
  loader_.Answer("two", Event("two"));
  EXPECT_FALSE(a.result.has_value());
  ASSERT_TRUE(b.result.has_value() && b.result->ok());
  EXPECT_EQ((**b.result)->id(), "two");
  loader_.Answer("one", Event("one"));
  ASSERT_TRUE(a.result.has_value() && a.result->ok());
  EXPECT_EQ((**a.result)->id(), "one");
}

TEST_F(EventCacheTest, NotFoundIsRememberedForTheNegativeTtl) {
  Make({.ttl = std::chrono::seconds(1),
        .negative_ttl = std::chrono::milliseconds(500)});
  Answer first;
  cache_->Get("bogus", first.callback());
  loader_.Answer("bogus", EventNotFoundError("bogus"));
  ASSERT_TRUE(first.result.has_value());
  EXPECT_EQ(first.result->status().code(), absl::StatusCode::kNotFound);

  for (int i = 0; i < 100; ++i) {
    Answer again;
    cache_->Get("bogus", again.callback());
    ASSERT_TRUE(again.result.has_value());
    EXPECT_EQ(again.result->status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(GetErrorReason(again.result->status()), "EVENT_NOT_FOUND");
  }
  EXPECT_EQ(loader_.loads("bogus"), 1);

  now_ += absl::Milliseconds(500);
  Answer later;
  cache_->Get("bogus", later.callback());
  EXPECT_EQ(loader_.loads("bogus"), 2);
  loader_.Answer("bogus", EventNotFoundError("bogus"));
  EXPECT_TRUE(later.result.has_value());
}

TEST_F(EventCacheTest, UnavailableIsPassedOnAndNotRemembered) {
  Answer a, b, c;
  cache_->Get("pp-2026", a.callback());
  cache_->Get("pp-2026", b.callback());
  loader_.Answer("pp-2026", absl::UnavailableError("postgres down"));
  ASSERT_TRUE(a.result.has_value() && b.result.has_value());
  EXPECT_EQ(a.result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b.result->status().code(), absl::StatusCode::kUnavailable);

  cache_->Get("pp-2026", c.callback());  // no time passed: loads again
  EXPECT_EQ(loader_.loads("pp-2026"), 2);
  loader_.Answer("pp-2026", Event("pp-2026"));
  ASSERT_TRUE(c.result.has_value());
  EXPECT_TRUE(c.result->ok());
}

TEST_F(EventCacheTest, SizeIsBoundedAndTheOldestLoadIsDroppedFirst) {
  Make({.max_entries = 2});
  for (const char* id : {"one", "two", "three"}) {
    Answer a;
    cache_->Get(id, a.callback());
    loader_.Answer(id, Event(id));
    now_ += absl::Milliseconds(10);
  }
  EXPECT_EQ(cache_->size(), 2u);
  Answer three, one;
  cache_->Get("three", three.callback());
  EXPECT_TRUE(three.result.has_value());  // still cached
  cache_->Get("one", one.callback());     // evicted: loads again
  EXPECT_EQ(loader_.loads("one"), 2);
  EXPECT_EQ(loader_.loads("three"), 1);
  loader_.Answer("one", Event("one"));
  EXPECT_EQ(cache_->size(), 2u);
}

TEST_F(EventCacheTest, MissWhenEveryEntryIsLoadingGoesStraightToTheLoader) {
  Make({.max_entries = 1});
  Answer a, b;
  cache_->Get("one", a.callback());
  cache_->Get("two", b.callback());  // "one" is loading: cannot be evicted
  EXPECT_EQ(loader_.loads("two"), 1);
  EXPECT_EQ(cache_->size(), 1u);
  loader_.Answer("two", Event("two"));
  ASSERT_TRUE(b.result.has_value() && b.result->ok());
  loader_.Answer("one", Event("one"));
  ASSERT_TRUE(a.result.has_value() && a.result->ok());
  EXPECT_EQ(cache_->size(), 1u);
}

TEST_F(EventCacheTest, InvalidateForgetsAnEntry) {
  Answer a, b;
  cache_->Get("pp-2026", a.callback());
  loader_.Answer("pp-2026", EventNotFoundError("pp-2026"));
  cache_->Invalidate("pp-2026");  // e.g. CreateEvent on this replica
  cache_->Get("pp-2026", b.callback());
  EXPECT_EQ(loader_.loads("pp-2026"), 2);
  loader_.Answer("pp-2026", Event("pp-2026"));
  ASSERT_TRUE(b.result.has_value());
  EXPECT_TRUE(b.result->ok());
}

TEST_F(EventCacheTest, InvalidateDuringALoadAnswersButDoesNotKeepIt) {
  Answer a, b;
  cache_->Get("pp-2026", a.callback());
  cache_->Invalidate("pp-2026");  // the load may have read the old state
  loader_.Answer("pp-2026", EventNotFoundError("pp-2026"));
  ASSERT_TRUE(a.result.has_value());
  EXPECT_EQ(a.result->status().code(), absl::StatusCode::kNotFound);
  cache_->Get("pp-2026", b.callback());
  EXPECT_EQ(loader_.loads("pp-2026"), 2);
  loader_.Answer("pp-2026", Event("pp-2026"));
}

TEST_F(EventCacheTest, LoaderAnsweringOnTheCallingThreadWorks) {
  loader_.AnswerAtOnce(Event("pp-2026"));
  Answer a, b;
  cache_->Get("pp-2026", a.callback());
  ASSERT_TRUE(a.result.has_value() && a.result->ok());
  cache_->Get("pp-2026", b.callback());
  ASSERT_TRUE(b.result.has_value() && b.result->ok());
  EXPECT_EQ(loader_.loads("pp-2026"), 1);
}

TEST_F(EventCacheTest, DestructorWaitsForALoadInFlight) {
  Answer a;
  cache_->Get("pp-2026", a.callback());
  // Either order is valid: the answer before the destructor, or the
  // destructor waiting for it. Without the wait the late callback would use
  // a freed cache, which the sanitizers report.
  std::thread answer([&] { loader_.Answer("pp-2026", Event("pp-2026")); });
  cache_.reset();
  answer.join();
  ASSERT_TRUE(a.result.has_value());
  EXPECT_TRUE(a.result->ok());
}

}  // namespace
}  // namespace admit::registration
