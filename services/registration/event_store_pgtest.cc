// EventStore against real Postgres (ADMIT_TEST_PG_URL). Each test uses its
// own random event ids.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/registration/event_store.h"
#include "services/registration/events_testing.h"

namespace admit::registration {
namespace {

using google::protobuf::util::MessageDifferencer;
using namespace admit::registration::testing;  // NOLINT: test helpers

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = DatabaseUrl();
    ASSERT_FALSE(url.empty());
    pool_ = NewPool(url);
    ASSERT_NE(pool_, nullptr);
    store_ = std::make_unique<EventStore>(pool_.get());
    id_ = RandomEventId("store");
  }

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<EventStore> store_;
  std::string id_;
};

// The event as the store should give it back: what was written, plus the
// server timestamps from `stored`.
v1::Event Expected(v1::Event written, const v1::Event& stored) {
  *written.mutable_created_at() = stored.created_at();
  *written.mutable_updated_at() = stored.updated_at();
  return written;
}

TEST_F(EventStoreTest, CreatedEventReadsBackEqualOnceReady) {
  const v1::Event event = SampleEvent(id_);
  auto pending = CreatePending(*store_, event, "fp-1");
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_TRUE(pending->has_created_at());
  EXPECT_TRUE(MessageDifferencer::Equals(*pending, Expected(event, *pending)))
      << pending->DebugString();

  // Pending: invisible to readers.
  auto before = GetEvent(*store_, id_);
  EXPECT_EQ(before.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(before.status()), "EVENT_NOT_FOUND");

  auto ready = MarkReady(*store_, id_);
  ASSERT_TRUE(ready.ok()) << ready.status();
  auto got = GetEvent(*store_, id_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MessageDifferencer::Equals(**got, Expected(event, *pending)))
      << (*got)->DebugString();
  ASSERT_EQ((*got)->ticket_types_size(), 2);
  EXPECT_EQ((*got)->ticket_types(0).id(), "delegate");
  EXPECT_EQ((*got)->ticket_types(1).id(), "observer");
  EXPECT_FALSE((*got)->registration_open());
}

TEST_F(EventStoreTest, TicketTypesKeepTheirOrder) {
  v1::Event event = SampleEvent(id_);
  event.clear_ticket_types();
  for (const char* id : {"zeta", "alpha", "mu"}) {
    v1::TicketType* t = event.add_ticket_types();
    t->set_id(id);
    t->set_name(id);
  }
  ASSERT_TRUE(CreateReadyEvent(*store_, event).ok());
  auto got = GetEvent(*store_, id_);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ((*got)->ticket_types_size(), 3);
  EXPECT_EQ((*got)->ticket_types(0).id(), "zeta");
  EXPECT_EQ((*got)->ticket_types(1).id(), "alpha");
  EXPECT_EQ((*got)->ticket_types(2).id(), "mu");
}

TEST_F(EventStoreTest, TimesAreKeptToTheMicrosecond) {
  v1::Event event = SampleEvent(id_);
  event.mutable_starts_at()->set_nanos(123456789);
  event.mutable_hold_ttl()->set_seconds(90);
  event.mutable_hold_ttl()->set_nanos(250'000'000);
  auto stored = CreateReadyEvent(*store_, event);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->starts_at().seconds(), event.starts_at().seconds());
  EXPECT_EQ(stored->starts_at().nanos(), 123456000);
  EXPECT_EQ(stored->hold_ttl().seconds(), 90);
  EXPECT_EQ(stored->hold_ttl().nanos(), 250'000'000);
}

TEST_F(EventStoreTest, UnknownEventIsNotFound) {
  auto got = GetEvent(*store_, id_);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(got.status()), "EVENT_NOT_FOUND");
  auto ready = MarkReady(*store_, id_);
  EXPECT_EQ(ready.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EventStoreTest, SameRequestResumesAPendingCreate) {
  const v1::Event event = SampleEvent(id_);
  auto first = CreatePending(*store_, event, "fp-same");
  ASSERT_TRUE(first.ok()) << first.status();
  // The retry carries a later "now" in its defaults; what was stored first
  // is what counts.
  v1::Event retried = event;
  retried.set_description("changed by a later default");
  auto again = CreatePending(*store_, retried, "fp-same");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*again, *first));
}

TEST_F(EventStoreTest, OtherRequestForAPendingIdAlreadyExists) {
  ASSERT_TRUE(CreatePending(*store_, SampleEvent(id_), "fp-a").ok());
  auto other = CreatePending(*store_, SampleEvent(id_), "fp-b");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(GetErrorReason(other.status()), "EVENT_ALREADY_EXISTS");
}

TEST_F(EventStoreTest, AnyCreateOfAReadyIdAlreadyExists) {
  ASSERT_TRUE(CreatePending(*store_, SampleEvent(id_), "fp-a").ok());
  ASSERT_TRUE(MarkReady(*store_, id_).ok());
  for (const char* fp : {"fp-a", "fp-b"}) {
    auto again = CreatePending(*store_, SampleEvent(id_), fp);
    EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << fp;
    EXPECT_EQ(GetErrorReason(again.status()), "EVENT_ALREADY_EXISTS");
  }
  // MarkReady is idempotent.
  EXPECT_TRUE(MarkReady(*store_, id_).ok());
}

TEST_F(EventStoreTest, ConcurrentCreatesOfOneIdHaveOneWinner) {
  constexpr int kCreates = 8;
  std::vector<absl::StatusOr<v1::Event>> results(kCreates,
                                                 absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      v1::Event event = SampleEvent(id_);
      event.set_capacity(10 + i);
      results[i] = CreatePending(*store_, event, absl::StrCat("fp-", i));
    });
  }
  for (auto& t : threads) t.join();
  int won = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++won;
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists)
          << r.status();
    }
  }
  EXPECT_EQ(won, 1);
}

}  // namespace
}  // namespace admit::registration
