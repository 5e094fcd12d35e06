#include "services/quota/model.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace admit::quota {
namespace {

TEST(QuotaKey, TextFormsFollowTheContract) {
  EXPECT_EQ(QuotaKey::Event().Text(), "event");
  EXPECT_EQ(QuotaKey::TicketType("delegate").Text(), "type:delegate");
  EXPECT_EQ(QuotaKey::Organization("itu").Text(), "org:itu");
  EXPECT_EQ(QuotaKey::Organization("itu", "delegate").Text(),
            "org:itu/type:delegate");
}

TEST(QuotaKey, OrdersEventThenTypesThenOrganizationsByKey) {
  std::vector<QuotaKey> keys = {
      QuotaKey::Organization("b"),      QuotaKey::TicketType("z"),
      QuotaKey::Organization("a", "x"), QuotaKey::Event(),
      QuotaKey::Organization("a"),      QuotaKey::TicketType("a")};
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> texts;
  for (const auto& k : keys) texts.push_back(k.Text());
  EXPECT_EQ(texts,
            (std::vector<std::string>{"event", "type:a", "type:z", "org:a",
                                      "org:a/type:x", "org:b"}));
}

TEST(CandidateKeys, WithoutOrganizationAreEventAndType) {
  auto keys = CandidateKeys("delegate", "");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], QuotaKey::Event());
  EXPECT_EQ(keys[1], QuotaKey::TicketType("delegate"));
}

TEST(CandidateKeys, WithOrganizationAddBothAllotments) {
  auto keys = CandidateKeys("delegate", "itu");
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[2], QuotaKey::Organization("itu"));
  EXPECT_EQ(keys[3], QuotaKey::Organization("itu", "delegate"));
}

TEST(QuotaMask, RoundTripsEveryCandidateSubset) {
  const auto candidates = CandidateKeys("delegate", "itu");
  for (int mask = 0; mask < 16; ++mask) {
    std::vector<QuotaKey> subset;
    int rebuilt = 0;
    for (const QuotaKey& key : candidates) {
      int bit = MaskBit(key, "delegate", "itu");
      ASSERT_NE(bit, 0) << key.Text();
      if (mask & bit) {
        subset.push_back(key);
        rebuilt |= bit;
      }
    }
    EXPECT_EQ(rebuilt, mask);
    EXPECT_EQ(KeysFromMask(mask, "delegate", "itu"), subset);
  }
}

TEST(QuotaMask, KeysOfOtherTypesOrOrganizationsHaveNoBit) {
  EXPECT_EQ(MaskBit(QuotaKey::TicketType("speaker"), "delegate", "itu"), 0);
  EXPECT_EQ(MaskBit(QuotaKey::Organization("other"), "delegate", "itu"), 0);
  EXPECT_EQ(
      MaskBit(QuotaKey::Organization("itu", "speaker"), "delegate", "itu"), 0);
  EXPECT_EQ(MaskBit(QuotaKey::Organization("itu"), "delegate", ""), 0);
}

TEST(QuotaUsage, RemainingIsNeverNegative) {
  EXPECT_EQ((QuotaUsage{QuotaKey::Event(), 10, 3, 2}).remaining(), 5);
  EXPECT_EQ((QuotaUsage{QuotaKey::Event(), 1, 3, 2}).remaining(), 0);
}

TEST(ReserveCommand, SameRequestComparesEventTypeAndOrganization) {
  ReserveCommand c{"h1", "ev", "delegate", "itu", absl::Seconds(60)};
  Hold same{.hold_id = "h1",
            .event_id = "ev",
            .ticket_type_id = "delegate",
            .organization = "itu"};
  EXPECT_TRUE(c.SameRequestAs(same));
  Hold other_org = same;
  other_org.organization = "";
  EXPECT_FALSE(c.SameRequestAs(other_org));
  Hold other_event = same;
  other_event.event_id = "ev2";
  EXPECT_FALSE(c.SameRequestAs(other_event));
  Hold burned{.hold_id = "h1"};
  EXPECT_TRUE(c.SameRequestAs(burned));
}

}  // namespace
}  // namespace admit::quota
