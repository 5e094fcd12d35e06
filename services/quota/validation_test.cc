#include "services/quota/validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace admit::quota {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> out;
  for (const auto& v : GetFieldViolations(status)) out.push_back(v.field);
  return out;
}

ReserveCommand GoodReserve() {
  return ReserveCommand{"3f1c9a6e-hold", "pp-2026", "delegate", "itu",
                        absl::Minutes(30)};
}

TEST(IsSlug, AcceptsLowerCaseLettersDigitsAndInnerHyphens) {
  EXPECT_TRUE(IsSlug("pp-2026"));
  EXPECT_TRUE(IsSlug("a"));
  EXPECT_TRUE(IsSlug(std::string(63, 'a')));
  EXPECT_FALSE(IsSlug(""));
  EXPECT_FALSE(IsSlug(std::string(64, 'a')));
  EXPECT_FALSE(IsSlug("-a"));
  EXPECT_FALSE(IsSlug("a-"));
  EXPECT_FALSE(IsSlug("Ab"));
  EXPECT_FALSE(IsSlug("a_b"));
  EXPECT_FALSE(IsSlug("a b"));
}

TEST(IsHoldId, AcceptsPrintableAsciiUpTo128) {
  EXPECT_TRUE(IsHoldId("0b5e0c2e-7c1f-4bb5-9a0e-1d2f3a4b5c6d"));
  EXPECT_TRUE(IsHoldId(std::string(128, '~')));
  EXPECT_FALSE(IsHoldId(""));
  EXPECT_FALSE(IsHoldId(std::string(129, 'a')));
  EXPECT_FALSE(IsHoldId("tab\there"));
  EXPECT_FALSE(IsHoldId("caf\xc3\xa9"));
}

TEST(IsOrganizationKey, AcceptsNormalizedKeysOnly) {
  EXPECT_TRUE(IsOrganizationKey("itu"));
  EXPECT_TRUE(IsOrganizationKey("ministère des finances"));
  EXPECT_TRUE(IsOrganizationKey(std::string(200, 'x')));
  EXPECT_TRUE(IsOrganizationKey("o'brien \"&\" sons / type:x"));
  EXPECT_FALSE(IsOrganizationKey(""));
  EXPECT_FALSE(IsOrganizationKey(std::string(201, 'x')));
  EXPECT_FALSE(IsOrganizationKey("ITU"));
  EXPECT_FALSE(IsOrganizationKey(" itu"));
  EXPECT_FALSE(IsOrganizationKey("itu "));
  EXPECT_FALSE(IsOrganizationKey("a  b"));
  EXPECT_FALSE(IsOrganizationKey("a\tb"));
  EXPECT_FALSE(IsOrganizationKey("a\xc2\x85"));      // U+0085 (Cc)
  EXPECT_FALSE(IsOrganizationKey("a\xe2\x80\xa8"));  // U+2028
  EXPECT_FALSE(IsOrganizationKey("\xff"));           // not UTF-8
  EXPECT_FALSE(IsOrganizationKey("\xc0\xaf"));       // overlong
}

TEST(IsOrganizationKey, CountsCodePointsNotBytes) {
  std::string two_hundred_e_acute;
  for (int i = 0; i < 200; ++i) two_hundred_e_acute += "\xc3\xa9";
  EXPECT_TRUE(IsOrganizationKey(two_hundred_e_acute));
  EXPECT_FALSE(IsOrganizationKey(two_hundred_e_acute + "\xc3\xa9"));
}

TEST(ValidateReserve, AcceptsAWellFormedRequest) {
  EXPECT_TRUE(ValidateReserve(GoodReserve()).ok());
  ReserveCommand no_org = GoodReserve();
  no_org.organization = "";
  EXPECT_TRUE(ValidateReserve(no_org).ok());
}

TEST(ValidateReserve, NamesEveryBadField) {
  ReserveCommand c{"", "PP 2026", "", "ITU", std::nullopt};
  absl::Status s = ValidateReserve(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(s), "INVALID_FIELDS");
  EXPECT_THAT(Fields(s),
              UnorderedElementsAre("hold_id", "event_id", "ticket_type_id",
                                   "organization", "ttl"));
}

TEST(ValidateReserve, TtlMustBeFromOneSecondToSevenDays) {
  for (absl::Duration ttl :
       {absl::Milliseconds(999), absl::ZeroDuration(), absl::Seconds(-5),
        absl::Hours(24 * 7) + absl::Nanoseconds(1)}) {
    ReserveCommand c = GoodReserve();
    c.ttl = ttl;
    EXPECT_THAT(Fields(ValidateReserve(c)), ElementsAre("ttl")) << ttl;
  }
  for (absl::Duration ttl : {absl::Seconds(1), absl::Hours(24 * 7)}) {
    ReserveCommand c = GoodReserve();
    c.ttl = ttl;
    EXPECT_TRUE(ValidateReserve(c).ok()) << ttl;
  }
}

TEST(ValidateHoldIdAndEventId, NameTheirField) {
  EXPECT_THAT(Fields(ValidateHoldId("")), ElementsAre("hold_id"));
  EXPECT_TRUE(ValidateHoldId("h-1").ok());
  EXPECT_THAT(Fields(ValidateEventId("Bad")), ElementsAre("event_id"));
  EXPECT_TRUE(ValidateEventId("pp-2026").ok());
}

SetQuotasCommand GoodSet() {
  return SetQuotasCommand{"pp-2026",
                          {{QuotaKey::Event(), 1300},
                           {QuotaKey::TicketType("speaker"), 50},
                           {QuotaKey::Organization("itu"), 5},
                           {QuotaKey::Organization("itu", "delegate"), 3}},
                          {QuotaKey::TicketType("observer")}};
}

TEST(ValidateSetQuotas, AcceptsAWellFormedRequest) {
  EXPECT_TRUE(ValidateSetQuotas(GoodSet()).ok());
  EXPECT_TRUE(
      ValidateSetQuotas({"pp-2026", {{QuotaKey::Event(), 0}}, {}}).ok());
}

TEST(ValidateSetQuotas, RejectsCapacitiesOutOfRange) {
  SetQuotasCommand c = GoodSet();
  c.set[1].capacity = -1;
  c.set[2].capacity = kMaxCapacity + 1;
  EXPECT_THAT(Fields(ValidateSetQuotas(c)),
              ElementsAre("set[1].capacity", "set[2].capacity"));
}

TEST(ValidateSetQuotas, RejectsMalformedKeysByField) {
  SetQuotasCommand c{
      "pp-2026",
      {{QuotaKey{static_cast<QuotaKind>(0), "", ""}, 1},
       {QuotaKey{QuotaKind::kEvent, "delegate", ""}, 1},
       {QuotaKey{QuotaKind::kTicketType, "", ""}, 1},
       {QuotaKey{QuotaKind::kOrganization, "Delegate", "ITU"}, 1}},
      {QuotaKey{static_cast<QuotaKind>(9), "", ""}}};
  EXPECT_THAT(
      Fields(ValidateSetQuotas(c)),
      ElementsAre("set[0].key.kind", "set[1].key.ticket_type_id",
                  "set[2].key.ticket_type_id", "set[3].key.organization",
                  "set[3].key.ticket_type_id", "remove[0].kind"));
}

TEST(ValidateSetQuotas, RejectsTheSameKeyTwice) {
  SetQuotasCommand c = GoodSet();
  c.set.push_back({QuotaKey::TicketType("speaker"), 10});
  c.remove.push_back(QuotaKey::Organization("itu"));
  absl::Status s = ValidateSetQuotas(c);
  EXPECT_THAT(Fields(s), ElementsAre("set[4].key", "remove[1]"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("set[1]"));
}

TEST(ValidateSetQuotas, RejectsRemovingTheEventQuota) {
  SetQuotasCommand c = GoodSet();
  c.set.erase(c.set.begin());
  c.remove.push_back(QuotaKey::Event());
  EXPECT_THAT(Fields(ValidateSetQuotas(c)), ElementsAre("remove[1].kind"));
}

TEST(ValidateSetQuotas, RejectsABadEventId) {
  SetQuotasCommand c = GoodSet();
  c.event_id = "";
  EXPECT_THAT(Fields(ValidateSetQuotas(c)), ElementsAre("event_id"));
}

}  // namespace
}  // namespace admit::quota
