// BuildRegistrationCounts and SameCounts: pure logic, no database.
#include "services/registration/counts_store.h"

#include "gtest/gtest.h"

namespace admit::registration {
namespace {

v1::Event TwoTypes() {
  v1::Event e;
  e.set_id("ev");
  e.set_capacity(100);
  auto* a = e.add_ticket_types();
  a->set_id("speaker");
  a->set_name("Speaker");
  a->set_capacity(10);
  auto* b = e.add_ticket_types();
  b->set_id("delegate");
  b->set_name("Delegate");
  return e;
}

v1::QuotaUsage Usage(v1::QuotaKind kind, const std::string& type,
                     const std::string& org, int capacity, int held, int sold) {
  v1::QuotaUsage q;
  q.mutable_key()->set_kind(kind);
  q.mutable_key()->set_ticket_type_id(type);
  q.mutable_key()->set_organization(org);
  q.set_capacity(capacity);
  q.set_held(held);
  q.set_sold(sold);
  q.set_remaining(capacity - held - sold);
  return q;
}

// Capacities and allotments come from the quota usage; every remaining comes
// from the counters (the usage below is older than them: its held and sold
// differ), so it agrees with the counts shown next to it.
TEST(BuildRegistrationCounts, CapacitiesFromUsageRemainingFromTheCounters) {
  CountsSnapshot s;
  s.as_of = absl::FromUnixSeconds(1700000000);
  s.event = {3, 4, 2, 1, 1, 1};
  s.by_ticket_type["speaker"] = {1, 1, 0, 0, 0, 0};
  s.by_ticket_type["delegate"] = {2, 3, 2, 1, 1, 1};
  s.by_organization[""] = {1, 0, 0, 0, 0, 0};
  s.by_organization["acme"] = {2, 4, 2, 1, 1, 1};
  s.organization_names["acme"] = "ACME";
  s.by_country["DE"] = {3, 4, 2, 1, 1, 1};
  v1::GetUsageResponse usage;
  *usage.add_quotas() = Usage(v1::QUOTA_KIND_EVENT, "", "", 100, 20, 4);
  *usage.add_quotas() =
      Usage(v1::QUOTA_KIND_TICKET_TYPE, "speaker", "", 10, 1, 8);
  *usage.add_quotas() = Usage(v1::QUOTA_KIND_ORGANIZATION, "", "acme", 8, 3, 4);
  *usage.add_quotas() =
      Usage(v1::QUOTA_KIND_ORGANIZATION, "speaker", "acme", 1, 0, 1);
  *usage.add_quotas() = Usage(v1::QUOTA_KIND_ORGANIZATION, "", "zeta", 5, 0, 0);

  v1::RegistrationCounts c = BuildRegistrationCounts(TwoTypes(), s, usage);
  EXPECT_EQ(c.event_id(), "ev");
  EXPECT_EQ(c.as_of().seconds(), 1700000000);
  EXPECT_EQ(c.capacity(), 100);
  EXPECT_EQ(c.remaining(), 93);  // 100 - 3 - 4, not the quota's 100 - 24
  EXPECT_EQ(c.total().total(), 11);
  EXPECT_EQ(c.total().checked_in(), 1);
  ASSERT_EQ(c.by_ticket_type_size(), 2);
  EXPECT_EQ(c.by_ticket_type(0).ticket_type_id(), "speaker");  // event order
  EXPECT_EQ(c.by_ticket_type(0).name(), "Speaker");
  EXPECT_EQ(c.by_ticket_type(0).capacity(), 10);
  EXPECT_EQ(c.by_ticket_type(0).remaining(), 8);   // 10 - 1 - 1, not 10 - 9
  EXPECT_EQ(c.by_ticket_type(1).capacity(), 100);  // the event's
  EXPECT_EQ(c.by_ticket_type(1).remaining(), 93);
  ASSERT_EQ(c.by_organization_size(), 3);
  EXPECT_EQ(c.by_organization(0).organization(), "");
  EXPECT_EQ(c.by_organization(1).organization(), "ACME");
  EXPECT_EQ(c.by_organization(1).allotment_seats(), 8);
  EXPECT_EQ(c.by_organization(1).allotment_remaining(), 2);  // 8 - 2 - 4
  ASSERT_EQ(c.by_organization(1).ticket_type_allotments_size(), 1);
  EXPECT_EQ(c.by_organization(1).ticket_type_allotments(0).organization(),
            "ACME");
  EXPECT_EQ(c.by_organization(1).ticket_type_allotments(0).sold(), 1);
  // An allotment without registrations is listed, with zero counts.
  EXPECT_EQ(c.by_organization(2).organization(), "zeta");
  EXPECT_EQ(c.by_organization(2).counts().total(), 0);
  EXPECT_EQ(c.by_organization(2).allotment_seats(), 5);
  ASSERT_EQ(c.by_country_size(), 1);
  EXPECT_EQ(c.by_country(0).counts().confirmed(), 4);
}

TEST(BuildRegistrationCounts, WithoutUsageFallsBackToTheSettings) {
  CountsSnapshot s;
  s.event = {2, 3, 0, 0, 0, 0};
  s.by_ticket_type["speaker"] = {2, 3, 0, 0, 0, 0};
  v1::RegistrationCounts c =
      BuildRegistrationCounts(TwoTypes(), s, v1::GetUsageResponse());
  EXPECT_EQ(c.capacity(), 100);
  EXPECT_EQ(c.remaining(), 95);
  EXPECT_EQ(c.by_ticket_type(0).capacity(), 10);
  EXPECT_EQ(c.by_ticket_type(0).remaining(), 5);
  EXPECT_EQ(c.by_ticket_type(1).counts().total(), 0);
}

TEST(SameCounts, IgnoresOnlyAsOf) {
  CountsSnapshot s;
  s.event = {1, 0, 0, 0, 0, 0};
  s.as_of = absl::FromUnixSeconds(1);
  v1::RegistrationCounts a =
      BuildRegistrationCounts(TwoTypes(), s, v1::GetUsageResponse());
  s.as_of = absl::FromUnixSeconds(2);
  v1::RegistrationCounts b =
      BuildRegistrationCounts(TwoTypes(), s, v1::GetUsageResponse());
  EXPECT_TRUE(SameCounts(a, b));
  s.event.confirmed = 1;
  v1::RegistrationCounts c =
      BuildRegistrationCounts(TwoTypes(), s, v1::GetUsageResponse());
  EXPECT_FALSE(SameCounts(a, c));
}

}  // namespace
}  // namespace admit::registration
