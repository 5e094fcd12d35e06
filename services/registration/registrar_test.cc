// The Register flow's pure parts: request fingerprints, derived hold ids,
// registration ids, the registration window and hold TTLs.
#include "services/registration/registrar.h"

#include <regex>
#include <set>

#include "common/status/status.h"
#include "gtest/gtest.h"
#include "services/registration/registration_errors.h"

namespace admit::registration {
namespace {

RegisterInput Input() {
  RegisterInput in;
  in.request_id = "r-1";
  in.event_id = "ev";
  in.ticket_type_id = "delegate";
  in.attendee = {"Ann@example.org", "Ann Lee", "ITU", "itu", "CH"};
  return in;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

v1::Event Event(absl::Time opens, absl::Time closes) {
  v1::Event e;
  e.set_id("ev");
  e.add_ticket_types()->set_id("delegate");
  SetTime(opens, e.mutable_registration_opens_at());
  SetTime(closes, e.mutable_registration_closes_at());
  return e;
}

TEST(RequestFingerprint, DiffersWhenAnyRequestFieldDiffers) {
  const std::string base = RequestFingerprint(Input());
  EXPECT_EQ(base, RequestFingerprint(Input()));
  std::set<std::string> seen = {base};
  auto changed = [&](auto mutate) {
    RegisterInput in = Input();
    mutate(in);
    return seen.insert(RequestFingerprint(in)).second;
  };
  EXPECT_TRUE(changed([](RegisterInput& in) { in.ticket_type_id = "x"; }));
  EXPECT_TRUE(changed([](RegisterInput& in) { in.attendee.email = "a@b.cd"; }));
  EXPECT_TRUE(changed([](RegisterInput& in) { in.attendee.full_name = "A"; }));
  EXPECT_TRUE(
      changed([](RegisterInput& in) { in.attendee.organization = "X"; }));
  EXPECT_TRUE(
      changed([](RegisterInput& in) { in.attendee.country_code = "BR"; }));
  // Fields shifted across the separator are still different requests.
  EXPECT_TRUE(changed([](RegisterInput& in) {
    in.attendee.full_name = "Ann LeeITU";
    in.attendee.organization = "";
  }));
  // The ids are not part of it (they are the lookup key).
  RegisterInput other_id = Input();
  other_id.request_id = "r-2";
  EXPECT_EQ(RequestFingerprint(other_id), base);
}

TEST(HoldIdFor, IsStablePerRequestAndGenerationAndAValidHoldId) {
  const std::string a = HoldIdFor("ev", "r-1", 0);
  EXPECT_EQ(a, HoldIdFor("ev", "r-1", 0));
  EXPECT_NE(a, HoldIdFor("ev", "r-1", 1));
  EXPECT_NE(a, HoldIdFor("ev", "r-2", 0));
  EXPECT_NE(a, HoldIdFor("ev2", "r-1", 0));
  EXPECT_TRUE(std::regex_match(a, std::regex("reg-[0-9a-f]{40}")));
}

TEST(NewRegistrationId, IsALowerCaseVersion4Uuid) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRegistrationId();
    ASSERT_TRUE(std::regex_match(
        id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                       "[0-9a-f]{12}")))
        << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(CheckOpen, AnswersTheWindowAndTheTicketType) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const v1::Event open = Event(now - absl::Hours(1), now + absl::Hours(1));
  EXPECT_TRUE(CheckOpen(open, "delegate", now).ok());

  absl::Status missing = CheckOpen(open, "speaker", now);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(missing), "TICKET_TYPE_NOT_FOUND");

  absl::Status early = CheckOpen(
      Event(now + absl::Seconds(90), now + absl::Hours(1)), "delegate", now);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(early), "REGISTRATION_NOT_OPEN_YET");
  EXPECT_EQ(GetErrorMetadata(early, "registration_opens_at"),
            "2027-01-15T08:01:30Z");

  absl::Status late = CheckOpen(Event(now - absl::Hours(2), now), "delegate",
                                now);  // closes_at itself is closed
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorReason(late), "REGISTRATION_CLOSED");
}

TEST(HoldTtl, DefaultsToThirtyMinutesAndStaysInTheQuotaRange) {
  v1::Event e;
  EXPECT_EQ(HoldTtl(e), absl::Minutes(30));
  e.mutable_hold_ttl()->set_seconds(2);
  EXPECT_EQ(HoldTtl(e), absl::Seconds(2));
  e.mutable_hold_ttl()->set_seconds(0);
  EXPECT_EQ(HoldTtl(e), absl::Seconds(1));
}

}  // namespace
}  // namespace admit::registration
