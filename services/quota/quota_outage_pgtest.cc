// The quota service while its database is down: every request of a batch
// gets UNAVAILABLE (never SOLD_OUT, never a hang), nothing is recorded, and
// service resumes when Postgres is back. Uses a private Postgres it stops and
// starts (RUN_SERIAL), not the shared one.
#include <string>
#include <vector>

#include "common/pg/migrations.h"
#include "gtest/gtest.h"
#include "services/quota/quota_testing.h"
#include "tests/support/test_support.h"

namespace admit::quota {
namespace {

using namespace std::chrono_literals;
using namespace admit::quota::testing;  // NOLINT: test helpers

TEST(QuotaOutage, DatabaseDownIsUnavailableForTheWholeBatchAndRecovers) {
  admit::testing::PrivatePostgres pg;
  ASSERT_TRUE(pg.Start().ok());
  ASSERT_TRUE(
      pg::ApplyMigrations(pg.Url(), "quota", ADMIT_QUOTA_SCHEMA_DIR).ok());
  auto replica = Replica::Start(pg.Url());
  ASSERT_NE(replica, nullptr);
  const std::string event = RandomEventId("down");
  ASSERT_TRUE(
      SetQuotas(replica->stub(), SetRequest(event, {Limit(EventKey(), 100)}))
          .ok());

  ASSERT_TRUE(pg.Stop().ok());
  std::vector<v1::ReserveRequest> requests;
  for (int i = 0; i < 50; ++i) {
    requests.push_back(ReserveRequestFor(event, "a"));
  }
  ConcurrentResult down =
      ReserveConcurrently({&replica->stub()}, requests, 20s);
  for (const auto& answer : down.answers) {
    EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable)
        << answer.status();
  }
  EXPECT_EQ(GetUsage(replica->stub(), event).status().code(),
            absl::StatusCode::kUnavailable);

  ASSERT_TRUE(pg.Start().ok());
  // The pool reconnects within its backoff (<= 1 s); the same hold ids are
  // then served, once each.
  ASSERT_TRUE(admit::testing::WaitFor(
      [&] { return Reserve(replica->stub(), requests[0]).ok(); }, 20s));
  ConcurrentResult up = ReserveConcurrently({&replica->stub()}, requests);
  for (const auto& answer : up.answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->outcome(), v1::RESERVE_OUTCOME_RESERVED);
  }
  auto usage = GetUsage(replica->stub(), event);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->quotas(0).held(), 50);
  EXPECT_TRUE(AuditEvent(replica->pool(), event).ok());
  replica.reset();
}

}  // namespace
}  // namespace admit::quota
