// OrganizerService's pure parts: defaults, server-assigned ids, the create
// fingerprint, the quotas of an event, the registration window.
#include "services/registration/organizer_service.h"

#include <regex>
#include <set>
#include <string>

#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/event_store.h"

namespace admit::registration::internal {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::Event Requested() {
  v1::Event e;
  e.set_name("Plenipotentiary Conference 2026");
  TimeToProto(kNow + absl::Hours(240), e.mutable_starts_at());
  TimeToProto(kNow + absl::Hours(300), e.mutable_ends_at());
  e.set_time_zone("Europe/Zurich");
  e.set_capacity(100);
  v1::TicketType* t = e.add_ticket_types();
  t->set_id("delegate");
  t->set_name("Delegate");
  return e;
}

TEST(EffectiveNewEvent, FillsTheDefaults) {
  auto e = EffectiveNewEvent(Requested(), kNow, "new-id");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->id(), "new-id");
  EXPECT_EQ(TimeFromProto(e->registration_opens_at()), kNow);
  EXPECT_EQ(TimeFromProto(e->registration_closes_at()),
            kNow + absl::Hours(300));  // ends_at
  EXPECT_EQ(DurationFromProto(e->hold_ttl()), absl::Minutes(30));
}

TEST(EffectiveNewEvent, KeepsWhatIsGivenAndDropsOutputOnlyFields) {
  v1::Event r = Requested();
  r.set_id("chosen");
  TimeToProto(kNow + absl::Hours(1), r.mutable_registration_opens_at());
  TimeToProto(kNow + absl::Hours(2), r.mutable_registration_closes_at());
  DurationToProto(absl::Seconds(90), r.mutable_hold_ttl());
  r.set_registration_open(true);
  TimeToProto(kNow, r.mutable_created_at());
  TimeToProto(kNow, r.mutable_updated_at());
  auto e = EffectiveNewEvent(r, kNow, "unused");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->id(), "chosen");
  EXPECT_EQ(TimeFromProto(e->registration_opens_at()), kNow + absl::Hours(1));
  EXPECT_EQ(TimeFromProto(e->registration_closes_at()), kNow + absl::Hours(2));
  EXPECT_EQ(DurationFromProto(e->hold_ttl()), absl::Seconds(90));
  EXPECT_FALSE(e->registration_open());
  EXPECT_FALSE(e->has_created_at());
  EXPECT_FALSE(e->has_updated_at());
}

TEST(EffectiveNewEvent, EmptyWindowAfterDefaultsIsInvalid) {
  // An event that already ended: registration would open now and close at
  // ends_at, in the past.
  v1::Event r = Requested();
  TimeToProto(kNow - absl::Hours(10), r.mutable_starts_at());
  TimeToProto(kNow - absl::Hours(5), r.mutable_ends_at());
  auto e = EffectiveNewEvent(r, kNow, "x");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(GetFieldViolations(e.status()).size(), 1u);
  EXPECT_EQ(GetFieldViolations(e.status())[0].field,
            "event.registration_closes_at");
  EXPECT_EQ(GetErrorReason(e.status()), "INVALID_FIELDS");

  // Opening given, after the (defaulted) close.
  r = Requested();
  TimeToProto(kNow + absl::Hours(400), r.mutable_registration_opens_at());
  EXPECT_EQ(EffectiveNewEvent(r, kNow, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IdFromName, IsAReadableSlugWithTheSuffix) {
  EXPECT_EQ(IdFromName("Plenipotentiary Conference 2026", "ab12cd34"),
            "plenipotentiary-conference-2026-ab12cd34");
  EXPECT_EQ(IdFromName("  WTSA--24 (Geneva)! ", "x"), "wtsa-24-geneva-x");
  EXPECT_EQ(IdFromName("Конференция", "x"), "event-x");
  EXPECT_EQ(IdFromName("", "x"), "event-x");
  const std::string long_id = IdFromName(std::string(100, 'a'), "ab12cd34");
  EXPECT_LE(long_id.size(), 63u);
}

TEST(RandomIdSuffix, IsEightLowerCaseAlphanumerics) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string s = RandomIdSuffix();
    EXPECT_TRUE(std::regex_match(s, std::regex("[a-z0-9]{8}"))) << s;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(CreateFingerprint, IgnoresOutputOnlyFieldsOnly) {
  v1::Event a = Requested();
  v1::Event b = a;
  b.set_registration_open(true);
  TimeToProto(kNow, b.mutable_created_at());
  EXPECT_EQ(CreateFingerprint(a), CreateFingerprint(b));
  EXPECT_EQ(CreateFingerprint(a).size(), 32u);
  b = a;
  b.set_capacity(101);
  EXPECT_NE(CreateFingerprint(a), CreateFingerprint(b));
  b = a;
  b.mutable_ticket_types(0)->set_name("Delegates");
  EXPECT_NE(CreateFingerprint(a), CreateFingerprint(b));
}

TEST(QuotasFor, EventTotalAndTypesWithTheirOwnCapacity) {
  v1::Event e = Requested();
  e.set_id("pp-2026");
  e.mutable_ticket_types(0)->set_capacity(40);
  v1::TicketType* observer = e.add_ticket_types();
  observer->set_id("observer");
  observer->set_name("Observer");  // no capacity of its own
  const v1::SetQuotasRequest q = QuotasFor(e);
  EXPECT_EQ(q.event_id(), "pp-2026");
  ASSERT_EQ(q.set_size(), 2);
  EXPECT_EQ(q.set(0).key().kind(), v1::QUOTA_KIND_EVENT);
  EXPECT_EQ(q.set(0).capacity(), 100);
  EXPECT_EQ(q.set(1).key().kind(), v1::QUOTA_KIND_TICKET_TYPE);
  EXPECT_EQ(q.set(1).key().ticket_type_id(), "delegate");
  EXPECT_EQ(q.set(1).capacity(), 40);
  EXPECT_EQ(q.remove_size(), 0);
}

TEST(RegistrationOpen, IsTheHalfOpenWindow) {
  v1::Event e;
  TimeToProto(kNow, e.mutable_registration_opens_at());
  TimeToProto(kNow + absl::Hours(1), e.mutable_registration_closes_at());
  EXPECT_FALSE(RegistrationOpen(e, kNow - absl::Microseconds(1)));
  EXPECT_TRUE(RegistrationOpen(e, kNow));
  EXPECT_TRUE(RegistrationOpen(e, kNow + absl::Minutes(59)));
  EXPECT_FALSE(RegistrationOpen(e, kNow + absl::Hours(1)));
}

}  // namespace
}  // namespace admit::registration::internal
