// Several quota service replicas (each its own gRPC server, connection pool,
// batcher and sweeper) serving the same events at once, against one real
// Postgres (ADMIT_TEST_PG_URL). The invariant under test: held + sold <=
// capacity for every quota, and the counters equal a full scan of the holds.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/metrics/metrics_testing.h"
#include "gtest/gtest.h"
#include "services/quota/quota_testing.h"
#include "tests/support/test_support.h"

namespace admit::quota {
namespace {

using namespace std::chrono_literals;
using namespace admit::quota::testing;  // NOLINT: test helpers

std::string KeyText(const v1::QuotaKey& k) {
  return QuotaKey{static_cast<QuotaKind>(k.kind()), k.ticket_type_id(),
                  k.organization()}
      .Text();
}

std::map<std::string, v1::QuotaUsage> UsageByKey(
    const v1::GetUsageResponse& u) {
  std::map<std::string, v1::QuotaUsage> out;
  for (const auto& q : u.quotas()) out[KeyText(q.key())] = q;
  return out;
}

std::chrono::microseconds Percentile(std::vector<std::chrono::microseconds> v,
                                     double p) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

class QuotaReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    a_ = Replica::Start(url_);
    b_ = Replica::Start(url_);
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
    event_ = RandomEventId("rep");
  }

  std::string url_;
  std::unique_ptr<Replica> a_;
  std::unique_ptr<Replica> b_;
  std::string event_;
};

TEST_F(QuotaReplicasTest, LaunchRaceOnTwoReplicasSellsExactlyTheCapacity) {
  constexpr int kCapacity = 500;
  constexpr int kRequests = 2000;
  ASSERT_TRUE(
      SetQuotas(a_->stub(), SetRequest(event_, {Limit(EventKey(), kCapacity)}))
          .ok());
  std::vector<v1::ReserveRequest> requests;
  for (int i = 0; i < kRequests; ++i) {
    requests.push_back(ReserveRequestFor(event_, "delegate"));
  }
  ConcurrentResult result =
      ReserveConcurrently({&a_->stub(), &b_->stub()}, requests);

  int reserved = 0, sold_out = 0;
  std::set<std::string> holds;
  for (const auto& answer : result.answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    if (answer->outcome() == v1::RESERVE_OUTCOME_RESERVED) {
      ++reserved;
      holds.insert(answer->hold().hold_id());
      EXPECT_EQ(answer->hold().state(), v1::HOLD_STATE_HELD);
    } else {
      ++sold_out;
      ASSERT_EQ(answer->full_quotas_size(), 1);
      EXPECT_EQ(answer->full_quotas(0).kind(), v1::QUOTA_KIND_EVENT);
    }
  }
  EXPECT_EQ(reserved, kCapacity);
  EXPECT_EQ(sold_out, kRequests - kCapacity);
  EXPECT_EQ(holds.size(), static_cast<size_t>(kCapacity));

  for (Replica* r : {a_.get(), b_.get()}) {
    auto usage = GetUsage(r->stub(), event_);
    ASSERT_TRUE(usage.ok()) << usage.status();
    EXPECT_EQ(usage->quotas(0).held(), kCapacity);
    EXPECT_EQ(usage->quotas(0).sold(), 0);
    EXPECT_EQ(usage->quotas(0).remaining(), 0);
  }
  absl::Status audit = AuditEvent(a_->pool(), event_);
  EXPECT_TRUE(audit.ok()) << audit;

  // Figures for the README / the closing note (not assertions: timing
  // belongs to loadtest/).
  const auto sa = a_->service().batcher_stats();
  const auto sb = b_->service().batcher_stats();
  const double seconds = static_cast<double>(result.elapsed.count()) / 1e6;
  const std::string report = absl::StrFormat(
      "launch race: %d Reserve calls (capacity %d) over 2 replicas in %.3f s "
      "= %.0f calls/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
      "transactions: replica A %d (largest batch %d), replica B %d (largest "
      "batch %d), mean batch %.1f",
      kRequests, kCapacity, seconds, kRequests / seconds,
      Percentile(result.latencies, 0.50).count() / 1e3,
      Percentile(result.latencies, 0.99).count() / 1e3,
      Percentile(result.latencies, 1.0).count() / 1e3, sa.batches,
      sa.largest_batch, sb.batches, sb.largest_batch,
      static_cast<double>(sa.reservations + sb.reservations) /
          static_cast<double>(std::max<int64_t>(1, sa.batches + sb.batches)));
  std::cout << report << std::endl;
  RecordProperty("launch_race", report);
}

TEST_F(QuotaReplicasTest, NoQuotaIsExceededUnderAConcurrentMix) {
  ASSERT_TRUE(SetQuotas(a_->stub(),
                        SetRequest(event_, {Limit(EventKey(), 60),
                                            Limit(TypeKey("delegate"), 40),
                                            Limit(TypeKey("speaker"), 10),
                                            Limit(OrgKey("itu"), 8),
                                            Limit(OrgKey("itu", "delegate"), 5),
                                            Limit(OrgKey("other"), 20)}))
                  .ok());
  const std::vector<std::string> types = {"delegate", "speaker", "observer"};
  const std::vector<std::string> orgs = {"", "itu", "other", "third"};
  std::mt19937 rng(12345);
  std::vector<v1::ReserveRequest> requests;
  for (int i = 0; i < 600; ++i) {
    requests.push_back(ReserveRequestFor(event_, types[rng() % types.size()],
                                         orgs[rng() % orgs.size()]));
  }
  ConcurrentResult result =
      ReserveConcurrently({&a_->stub(), &b_->stub()}, requests);

  auto usage = GetUsage(a_->stub(), event_);
  ASSERT_TRUE(usage.ok());
  std::map<std::string, v1::QuotaUsage> quotas = UsageByKey(*usage);
  std::map<std::string, int> drawn;  // reserved answers per quota
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& answer = result.answers[i];
    ASSERT_TRUE(answer.ok()) << answer.status();
    const v1::ReserveRequest& req = requests[i];
    if (answer->outcome() == v1::RESERVE_OUTCOME_RESERVED) {
      // The hold drew from exactly the quotas that apply to it.
      std::set<std::string> expected;
      for (const QuotaKey& k :
           CandidateKeys(req.ticket_type_id(), req.organization())) {
        if (quotas.contains(k.Text())) expected.insert(k.Text());
      }
      std::set<std::string> got;
      for (const auto& k : answer->hold().quotas()) got.insert(KeyText(k));
      EXPECT_EQ(got, expected);
      for (const std::string& k : got) ++drawn[k];
    } else {
      // Sold out only when a quota it needed really was full (nothing was
      // released during the run, so full then means full now).
      ASSERT_GT(answer->full_quotas_size(), 0);
      for (const auto& k : answer->full_quotas()) {
        EXPECT_EQ(quotas.at(KeyText(k)).remaining(), 0) << KeyText(k);
      }
    }
  }
  for (const auto& [key, q] : quotas) {
    EXPECT_LE(q.held() + q.sold(), q.capacity()) << key;
    EXPECT_EQ(q.held(), drawn[key]) << key;
  }
  EXPECT_EQ(quotas.at("event").remaining(), 0);  // 600 asks for 60 seats
  absl::Status audit = AuditEvent(a_->pool(), event_);
  EXPECT_TRUE(audit.ok()) << audit;
}

TEST_F(QuotaReplicasTest, CommitAndReleaseRacingOnTwoReplicasKeepCountsExact) {
  ASSERT_TRUE(
      SetQuotas(a_->stub(), SetRequest(event_, {Limit(EventKey(), 200),
                                                Limit(TypeKey("a"), 150)}))
          .ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 120; ++i) {
    auto r = Reserve(a_->stub(), ReserveRequestFor(event_, "a"));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->outcome(), v1::RESERVE_OUTCOME_RESERVED);
    ids.push_back(r->hold().hold_id());
  }
  // Every hold gets a Commit on A and a Release on B at about the same time,
  // some twice; whichever wins, each hold ends in one state and the seats
  // follow it.
  std::thread committer([&] {
    for (size_t i = 0; i < ids.size(); ++i) {
      (void)Commit(a_->stub(), ids[i]);
      if (i % 3 == 0) (void)Commit(a_->stub(), ids[i]);
    }
  });
  std::thread releaser([&] {
    for (size_t i = 0; i < ids.size(); i += 2) {
      (void)Release(b_->stub(), ids[i]);
      (void)Release(b_->stub(), ids[i]);
    }
  });
  committer.join();
  releaser.join();
  int committed = 0, released = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto h = GetHold(b_->stub(), ids[i]);
    ASSERT_TRUE(h.ok());
    if (h->hold().state() == v1::HOLD_STATE_COMMITTED) ++committed;
    if (h->hold().state() == v1::HOLD_STATE_RELEASED) ++released;
    if (i % 2 == 0) {
      EXPECT_EQ(h->hold().state(), v1::HOLD_STATE_RELEASED);
    } else {
      EXPECT_EQ(h->hold().state(), v1::HOLD_STATE_COMMITTED);
    }
  }
  auto usage = GetUsage(b_->stub(), event_);
  ASSERT_TRUE(usage.ok());
  for (const auto& q : usage->quotas()) {
    EXPECT_EQ(q.held(), 0);
    EXPECT_EQ(q.sold(), committed);
  }
  EXPECT_EQ(committed + released, static_cast<int>(ids.size()));
  absl::Status audit = AuditEvent(a_->pool(), event_);
  EXPECT_TRUE(audit.ok()) << audit;
}

TEST_F(QuotaReplicasTest, SweepersOnEveryReplicaExpireEachHoldOnce) {
  a_.reset();
  b_.reset();
  a_ = Replica::Start(url_, {.sweeper = true, .sweep_interval = 50ms});
  b_ = Replica::Start(url_, {.sweeper = true, .sweep_interval = 50ms});
  ASSERT_NE(a_, nullptr);
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(
      SetQuotas(a_->stub(), SetRequest(event_, {Limit(EventKey(), 400),
                                                Limit(OrgKey("itu"), 400)}))
          .ok());
  std::vector<v1::ReserveRequest> requests;
  for (int i = 0; i < 300; ++i) {
    requests.push_back(ReserveRequestFor(event_, "a", "itu", 1s));
  }
  ConcurrentResult result =
      ReserveConcurrently({&a_->stub(), &b_->stub()}, requests);
  for (const auto& answer : result.answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_EQ(answer->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  }
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] {
        auto u = GetUsage(a_->stub(), event_);
        return u.ok() && u->quotas(0).held() == 0 && u->quotas(1).held() == 0;
      },
      20s))
      << "expired holds were not all released";
  // Each hold was expired exactly once: a second decrement would have broken
  // the CHECK (held >= 0) or the audit below.
  absl::Status audit = AuditEvent(a_->pool(), event_);
  EXPECT_TRUE(audit.ok()) << audit;
  for (int i = 0; i < 300; i += 37) {
    auto h = GetHold(a_->stub(), requests[i].hold_id());
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->hold().state(), v1::HOLD_STATE_EXPIRED);
  }
  // Every replica exports the counter. (Its values are not checked: sweepers
  // of other test processes on the same database may take some of these
  // holds; "once each" is what the audit above proves.)
  for (Replica* r : {a_.get(), b_.get()}) {
    auto text =
        metrics::testing::HttpGet(r->server().metrics_port(), "/metrics");
    ASSERT_TRUE(text.ok());
    EXPECT_TRUE(
        metrics::testing::SampleValue(*text, "admit_quota_holds_expired_total")
            .ok());
  }
}

// Not a test (timing belongs in loadtest/): the figures in README.md. Run
// with --gtest_also_run_disabled_tests. Two replicas, every request gets a
// seat (each inserts a hold), group commit on (max_batch 128) and off
// (max_batch 1: one transaction, one hot-row update per reservation).
TEST(QuotaReplicasFigures, DISABLED_ThroughputWithAndWithoutGroupCommit) {
  const std::string url = DatabaseUrl();
  ASSERT_FALSE(url.empty());
  constexpr int kRequests = 10000;
  for (int max_batch : {1, 128}) {
    auto a = Replica::Start(url, {.max_batch = max_batch});
    auto b = Replica::Start(url, {.max_batch = max_batch});
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    const std::string event = RandomEventId("fig");
    ASSERT_TRUE(SetQuotas(a->stub(),
                          SetRequest(event, {Limit(EventKey(), kRequests),
                                             Limit(TypeKey("a"), kRequests)}))
                    .ok());
    std::vector<v1::ReserveRequest> requests;
    for (int i = 0; i < kRequests; ++i) {
      requests.push_back(ReserveRequestFor(event, "a"));
    }
    ConcurrentResult result =
        ReserveConcurrently({&a->stub(), &b->stub()}, requests, 120s);
    int reserved = 0;
    for (const auto& answer : result.answers) {
      if (answer.ok() && answer->outcome() == v1::RESERVE_OUTCOME_RESERVED) {
        ++reserved;
      }
    }
    EXPECT_EQ(reserved, kRequests);
    EXPECT_TRUE(AuditEvent(a->pool(), event).ok());
    const auto sa = a->service().batcher_stats();
    const auto sb = b->service().batcher_stats();
    const double seconds = static_cast<double>(result.elapsed.count()) / 1e6;
    std::cout << absl::StrFormat(
                     "max_batch %d: %d reservations in %.2f s = %.0f/s; p50 "
                     "%.1f ms p99 %.1f ms; %d transactions, mean batch %.1f",
                     max_batch, kRequests, seconds, kRequests / seconds,
                     Percentile(result.latencies, 0.5).count() / 1e3,
                     Percentile(result.latencies, 0.99).count() / 1e3,
                     sa.batches + sb.batches,
                     static_cast<double>(kRequests) /
                         static_cast<double>(sa.batches + sb.batches))
              << std::endl;
  }
}

}  // namespace
}  // namespace admit::quota
