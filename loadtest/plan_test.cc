#include "loadtest/plan.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace admit::loadtest {
namespace {

TEST(Plan, MixesKindsAndRepeatsOnlyEarlierNewAttempts) {
  const auto plan = MakePlan({.event_id = "ev",
                              .ticket_type_ids = {"t1", "t2"},
                              .attempts = 2000,
                              .retry_fraction = 0.1,
                              .duplicate_fraction = 0.1,
                              .invalid_fraction = 0.05,
                              .race_window = 32,
                              .seed = 7});
  ASSERT_EQ(plan.size(), 2000u);
  EXPECT_EQ(plan[0].kind, AttemptKind::kNew);
  std::map<AttemptKind, int> kinds;
  std::set<std::string> request_ids, emails;
  for (size_t i = 0; i < plan.size(); ++i) {
    const Attempt& a = plan[i];
    ++kinds[a.kind];
    EXPECT_EQ(a.request.event_id(), "ev");
    if (a.kind == AttemptKind::kRetry ||
        a.kind == AttemptKind::kDuplicateEmail) {
      ASSERT_GE(a.original, 0);
      ASSERT_LT(a.original, static_cast<int64_t>(i));
      const Attempt& o = plan[static_cast<size_t>(a.original)];
      EXPECT_EQ(o.kind, AttemptKind::kNew);
      EXPECT_EQ(a.request.attendee().email(), o.request.attendee().email());
      EXPECT_EQ(a.kind == AttemptKind::kRetry,
                a.request.request_id() == o.request.request_id());
    } else {
      EXPECT_EQ(a.original, -1);
      EXPECT_TRUE(request_ids.insert(a.request.request_id()).second);
      EXPECT_TRUE(emails.insert(a.request.attendee().email()).second);
    }
  }
  for (AttemptKind k : {AttemptKind::kNew, AttemptKind::kRetry,
                        AttemptKind::kDuplicateEmail, AttemptKind::kInvalid}) {
    EXPECT_GT(kinds[k], 50) << KindName(k);
  }
}

TEST(Plan, SameSeedSamePlan) {
  PlanOptions o{.event_id = "ev",
                .ticket_type_ids = {"t1"},
                .attempts = 100,
                .retry_fraction = 0.2,
                .seed = 3};
  const auto a = MakePlan(o), b = MakePlan(o);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].request.SerializeAsString(),
              b[i].request.SerializeAsString());
  }
}

TEST(Plan, VariedAttendeesSpreadOverOrganizationsAndCountries) {
  const auto plan = MakePlan({.event_id = "ev",
                              .ticket_type_ids = {"t1"},
                              .attempts = 48,
                              .seed = 5,
                              .vary_attendees = true});
  std::set<std::string> spellings, countries;
  for (const Attempt& a : plan) {
    spellings.insert(a.request.attendee().organization());
    countries.insert(a.request.attendee().country_code());
  }
  // "" and Org 1..5, each also in capitals: 11 spellings of 6 groups.
  EXPECT_EQ(spellings.size(), 11u);
  EXPECT_EQ(spellings.count("Org 3") + spellings.count("ORG 3"), 2u);
  EXPECT_EQ(countries, (std::set<std::string>{"CH", "DE", "FR", "IT"}));
}

}  // namespace
}  // namespace admit::loadtest
