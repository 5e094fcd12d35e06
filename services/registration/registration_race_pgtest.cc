// Registrations under concurrency, end to end through gRPC: two quota
// replicas and two registration replicas in this process, against one real
// Postgres (ADMIT_TEST_PG_URL). What a user would see is asserted; timing is
// printed for the closing note, never asserted.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/registration_testing.h"
#include "tests/support/test_support.h"

namespace admit::registration {
namespace {

using namespace std::chrono_literals;
using namespace admit::registration::testing;  // NOLINT: test helpers
namespace qt = admit::quota::testing;

class RegistrationRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    quota_a_ = qt::Replica::Start(url_);
    quota_b_ = qt::Replica::Start(url_);
    ASSERT_NE(quota_a_, nullptr);
    ASSERT_NE(quota_b_, nullptr);
    const std::string target = QuotaTarget({quota_a_.get(), quota_b_.get()});
    reg_a_ = RegistrationReplica::Start(url_, target, &events_);
    reg_b_ = RegistrationReplica::Start(url_, target, &events_);
    ASSERT_NE(reg_a_, nullptr);
    ASSERT_NE(reg_b_, nullptr);
    event_id_ = qt::RandomEventId("reg");
  }

  void CreateEvent(const v1::Event& event) {
    events_.Put(event);
    ASSERT_TRUE(SetEventQuotas(quota_a_->stub(), event).ok());
  }

  std::string url_;
  StaticEventSource events_;
  std::unique_ptr<qt::Replica> quota_a_;
  std::unique_ptr<qt::Replica> quota_b_;
  std::unique_ptr<RegistrationReplica> reg_a_;
  std::unique_ptr<RegistrationReplica> reg_b_;
  std::string event_id_;
};

TEST_F(RegistrationRaceTest, LaunchRaceFillsTheCapacityAndWaitlistsTheRest) {
  constexpr int kCapacity = 500;
  constexpr int kRequests = 2000;
  CreateEvent(MakeEvent(event_id_, kCapacity, {{"delegate", 0}}));
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < kRequests; ++i) {
    requests.push_back(RegisterRequestFor(
        event_id_, "delegate", absl::StrCat("person", i, "@example.org")));
  }
  ConcurrentRegisterResult result =
      RegisterConcurrently({&reg_a_->stub(), &reg_b_->stub()}, requests);

  int pending = 0, waitlisted = 0;
  std::set<std::string> ids, tokens;
  std::vector<int> positions;
  for (const auto& answer : result.answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    const v1::Registration& r = answer->registration();
    ids.insert(r.id());
    tokens.insert(answer->manage_token());
    EXPECT_EQ(answer->manage_token().size(), 22u);
    if (r.status() == v1::REGISTRATION_STATUS_PENDING_CONFIRMATION) {
      ++pending;
      EXPECT_TRUE(r.has_hold_expires_at());
      EXPECT_EQ(r.waitlist_position(), 0);
    } else {
      ASSERT_EQ(r.status(), v1::REGISTRATION_STATUS_WAITLISTED);
      ++waitlisted;
      positions.push_back(r.waitlist_position());
      EXPECT_FALSE(r.has_hold_expires_at());
    }
  }
  EXPECT_EQ(pending, kCapacity);
  EXPECT_EQ(waitlisted, kRequests - kCapacity);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(tokens.size(), static_cast<size_t>(kRequests));
  // Positions as answered: exactly 1..1500, no gap, no repeat.
  std::sort(positions.begin(), positions.end());
  for (int i = 0; i < static_cast<int>(positions.size()); ++i) {
    ASSERT_EQ(positions[i], i + 1);
  }

  // The database agrees: rows, waitlist order, outbox, counters, quotas.
  auto rows = ReadEventRows(reg_a_->pool(), event_id_);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->by_status[1], kCapacity);
  EXPECT_EQ(rows->by_status[3], kRequests - kCapacity);
  ASSERT_EQ(rows->waitlist_seqs.size(),
            static_cast<size_t>(kRequests - kCapacity));
  for (size_t i = 0; i < rows->waitlist_seqs.size(); ++i) {
    ASSERT_EQ(rows->waitlist_seqs[i], static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(rows->outbox_rows, kRequests);
  EXPECT_EQ(rows->waitlist_counter["delegate"], kRequests - kCapacity);
  auto quotas = ReadQuotas(reg_a_->pool(), event_id_);
  ASSERT_TRUE(quotas.ok()) << quotas.status();
  for (const auto& [key, q] : *quotas) {
    EXPECT_LE(q.held + q.sold, q.capacity) << key;
  }
  EXPECT_EQ(quotas->at("event").held, kCapacity);
  absl::Status audit = qt::AuditEvent(quota_a_->pool(), event_id_);
  EXPECT_TRUE(audit.ok()) << audit;

  // Figures for the closing note (printed, not asserted).
  const auto sa = reg_a_->service().batcher_stats();
  const auto sb = reg_b_->service().batcher_stats();
  const double seconds = static_cast<double>(result.elapsed.count()) / 1e6;
  const std::string report = absl::StrFormat(
      "launch race: %d Register calls (capacity %d) over 2 registration + 2 "
      "quota replicas in %.3f s = %.0f registrations/s; latency p50 %.1f ms, "
      "p99 %.1f ms, max %.1f ms; insert transactions: A %d (largest %d), "
      "B %d (largest %d), mean batch %.1f",
      kRequests, kCapacity, seconds, kRequests / seconds,
      Percentile(result.latencies, 0.50).count() / 1e3,
      Percentile(result.latencies, 0.99).count() / 1e3,
      Percentile(result.latencies, 1.0).count() / 1e3, sa.batches,
      sa.largest_batch, sb.batches, sb.largest_batch,
      static_cast<double>(sa.registrations + sb.registrations) /
          static_cast<double>(std::max<int64_t>(1, sa.batches + sb.batches)));
  std::cout << report << std::endl;
  RecordProperty("launch_race", report);
}

TEST_F(RegistrationRaceTest, NoQuotaIsExceededWithTypeLimitsAndAllotments) {
  // Event 60; delegate 40 of its own; speaker 10; observer only the event.
  // Allotments set directly on the quota service: org "itu" 8 seats
  // event-wide, 5 of them for delegates.
  v1::Event event = MakeEvent(
      event_id_, 60, {{"delegate", 40}, {"speaker", 10}, {"observer", 0}});
  CreateEvent(event);
  ASSERT_TRUE(qt::SetQuotas(
                  quota_a_->stub(),
                  qt::SetRequest(event_id_,
                                 {qt::Limit(qt::OrgKey("itu"), 8),
                                  qt::Limit(qt::OrgKey("itu", "delegate"), 5)}))
                  .ok());
  const std::vector<std::string> types = {"delegate", "speaker", "observer"};
  // "ITU", " itu " and "Itu" are one organization (match key "itu").
  const std::vector<std::string> orgs = {"", "ITU", " itu ", "Itu",
                                         "Other Org"};
  std::mt19937 rng(4242);
  std::vector<v1::RegisterRequest> requests;
  for (int i = 0; i < 400; ++i) {
    requests.push_back(RegisterRequestFor(
        event_id_, types[rng() % types.size()],
        absl::StrCat("mix", i, "@example.org"), orgs[rng() % orgs.size()]));
  }
  ConcurrentRegisterResult result =
      RegisterConcurrently({&reg_a_->stub(), &reg_b_->stub()}, requests);

  std::map<std::string, int> pending_by_type;
  int pending_itu = 0, pending_itu_delegate = 0, pending = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(result.answers[i].ok()) << result.answers[i].status();
    const v1::Registration& r = result.answers[i]->registration();
    if (r.status() != v1::REGISTRATION_STATUS_PENDING_CONFIRMATION) {
      EXPECT_EQ(r.status(), v1::REGISTRATION_STATUS_WAITLISTED);
      continue;
    }
    ++pending;
    ++pending_by_type[r.ticket_type_id()];
    const std::string& org = requests[i].attendee().organization();
    if (org != "" && org != "Other Org") {
      ++pending_itu;
      if (r.ticket_type_id() == "delegate") ++pending_itu_delegate;
    }
  }
  EXPECT_EQ(pending, 60);  // 400 asks for 60 seats: the event fills
  EXPECT_LE(pending_by_type["delegate"], 40);
  EXPECT_LE(pending_by_type["speaker"], 10);
  EXPECT_LE(pending_itu, 8);
  EXPECT_LE(pending_itu_delegate, 5);

  auto quotas = ReadQuotas(reg_a_->pool(), event_id_);
  ASSERT_TRUE(quotas.ok()) << quotas.status();
  for (const auto& [key, q] : *quotas) {
    EXPECT_LE(q.held + q.sold, q.capacity) << key;
  }
  EXPECT_EQ(quotas->at("event").held, 60);
  EXPECT_EQ(quotas->at("type:delegate").held, pending_by_type["delegate"]);
  EXPECT_EQ(quotas->at("type:speaker").held, pending_by_type["speaker"]);
  EXPECT_EQ(quotas->at("org:itu").held, pending_itu);
  EXPECT_EQ(quotas->at("org:itu/type:delegate").held, pending_itu_delegate);
  absl::Status audit = qt::AuditEvent(quota_a_->pool(), event_id_);
  EXPECT_TRUE(audit.ok()) << audit;

  // Waitlist positions are per ticket type, each 1..n.
  std::map<std::string, std::vector<int>> positions;
  for (const auto& answer : result.answers) {
    const v1::Registration& r = answer->registration();
    if (r.status() == v1::REGISTRATION_STATUS_WAITLISTED) {
      positions[r.ticket_type_id()].push_back(r.waitlist_position());
    }
  }
  for (auto& [type, p] : positions) {
    std::sort(p.begin(), p.end());
    for (int i = 0; i < static_cast<int>(p.size()); ++i) {
      ASSERT_EQ(p[i], i + 1) << type;
    }
  }
}

}  // namespace
}  // namespace admit::registration
