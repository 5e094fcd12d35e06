#include "services/quota/admission.h"

#include "gtest/gtest.h"

namespace admit::quota {
namespace {

std::map<QuotaKey, QuotaUsage> Quotas(std::vector<QuotaUsage> list) {
  std::map<QuotaKey, QuotaUsage> out;
  for (auto& q : list) out.emplace(q.key, q);
  return out;
}

TEST(ApplicableQuotas, AreTheCandidatesThatExist) {
  auto quotas = Quotas({{QuotaKey::Event(), 10},
                        {QuotaKey::TicketType("delegate"), 5},
                        {QuotaKey::Organization("itu", "delegate"), 2},
                        {QuotaKey::Organization("other"), 2}});
  EXPECT_EQ(ApplicableQuotas(quotas, "delegate", "itu"),
            (std::vector<QuotaKey>{QuotaKey::Event(),
                                   QuotaKey::TicketType("delegate"),
                                   QuotaKey::Organization("itu", "delegate")}));
  EXPECT_EQ(ApplicableQuotas(quotas, "speaker", "itu"),
            (std::vector<QuotaKey>{QuotaKey::Event()}));
  EXPECT_EQ(ApplicableQuotas(quotas, "speaker", "other"),
            (std::vector<QuotaKey>{QuotaKey::Event(),
                                   QuotaKey::Organization("other")}));
  EXPECT_EQ(ApplicableQuotas(quotas, "delegate", ""),
            (std::vector<QuotaKey>{QuotaKey::Event(),
                                   QuotaKey::TicketType("delegate")}));
}

TEST(DecideBatch, AdmitsInArrivalOrderUntilFull) {
  auto quotas = Quotas({{QuotaKey::Event(), 3, 1, 0}});
  std::vector<AdmissionRequest> requests(4, {{QuotaKey::Event()}});
  auto d = DecideBatch(quotas, requests);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_TRUE(d[0].admitted);
  EXPECT_TRUE(d[1].admitted);
  EXPECT_FALSE(d[2].admitted);
  EXPECT_FALSE(d[3].admitted);
  EXPECT_EQ(d[2].full_quotas, std::vector<QuotaKey>{QuotaKey::Event()});
  EXPECT_EQ(quotas.at(QuotaKey::Event()).held, 3);
}

TEST(DecideBatch, IsAllOrNothingPerRequest) {
  // The type has room, the organization's allotment does not: the request
  // takes nothing, not even from the quotas with room.
  auto quotas = Quotas({{QuotaKey::Event(), 10},
                        {QuotaKey::TicketType("delegate"), 5},
                        {QuotaKey::Organization("itu"), 1, 0, 1}});
  auto d = DecideBatch(quotas,
                       {{{QuotaKey::Event(), QuotaKey::TicketType("delegate"),
                          QuotaKey::Organization("itu")}}});
  ASSERT_FALSE(d[0].admitted);
  EXPECT_EQ(d[0].full_quotas,
            std::vector<QuotaKey>{QuotaKey::Organization("itu")});
  EXPECT_EQ(quotas.at(QuotaKey::Event()).held, 0);
  EXPECT_EQ(quotas.at(QuotaKey::TicketType("delegate")).held, 0);
}

TEST(DecideBatch, LaterRequestsOfOtherTypesStillFit) {
  auto quotas =
      Quotas({{QuotaKey::Event(), 3}, {QuotaKey::TicketType("speaker"), 1}});
  const AdmissionRequest speaker{
      {QuotaKey::Event(), QuotaKey::TicketType("speaker")}};
  const AdmissionRequest delegate{{QuotaKey::Event()}};
  auto d =
      DecideBatch(quotas, {speaker, speaker, delegate, delegate, delegate});
  EXPECT_TRUE(d[0].admitted);
  EXPECT_FALSE(d[1].admitted);
  EXPECT_EQ(d[1].full_quotas,
            std::vector<QuotaKey>{QuotaKey::TicketType("speaker")});
  EXPECT_TRUE(d[2].admitted);
  EXPECT_TRUE(d[3].admitted);
  EXPECT_FALSE(d[4].admitted);  // the event is full now
  EXPECT_EQ(d[4].full_quotas, std::vector<QuotaKey>{QuotaKey::Event()});
}

TEST(DecideBatch, NamesEveryFullQuota) {
  auto quotas = Quotas(
      {{QuotaKey::Event(), 1, 0, 1}, {QuotaKey::TicketType("delegate"), 0}});
  auto d = DecideBatch(
      quotas, {{{QuotaKey::Event(), QuotaKey::TicketType("delegate")}}});
  EXPECT_EQ(d[0].full_quotas,
            (std::vector<QuotaKey>{QuotaKey::Event(),
                                   QuotaKey::TicketType("delegate")}));
}

TEST(DecideBatch, CountsSoldSeatsAndOverfullQuotasAsFull) {
  // A capacity lowered below use (not possible through SetQuotas, but the
  // decision must not go negative on it).
  auto quotas = Quotas({{QuotaKey::Event(), 2, 2, 1}});
  auto d = DecideBatch(quotas, {{{QuotaKey::Event()}}});
  EXPECT_FALSE(d[0].admitted);
  EXPECT_EQ(quotas.at(QuotaKey::Event()).held, 2);
}

}  // namespace
}  // namespace admit::quota
