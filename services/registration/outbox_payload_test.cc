#include "services/registration/outbox_payload.h"

#include "gtest/gtest.h"

namespace admit::registration {
namespace {

TEST(OutboxPayload, TimesAreRfc3339Utc) {
  const absl::Time t = absl::FromUnixSeconds(1803891600);  // 2027-03-01 09:00Z
  EXPECT_EQ(Rfc3339Utc(t), "2027-03-01T09:00:00Z");
  EXPECT_EQ(Rfc3339Utc(t + absl::Milliseconds(250)), "2027-03-01T09:00:00.25Z");
  EXPECT_EQ(Rfc3339UtcMicros(t + absl::Microseconds(123456)),
            "2027-03-01T09:00:00.123456Z");
  EXPECT_EQ(Rfc3339UtcMicros(t), "2027-03-01T09:00:00.000000Z");
}

TEST(OutboxPayload, EventFieldsComeFromTheSnapshot) {
  v1::Event event;
  event.set_name("Launch Conf");
  event.set_time_zone("Europe/Zurich");
  event.mutable_starts_at()->set_seconds(1803891600);
  event.mutable_ends_at()->set_seconds(1804093200);
  v1::TicketType* type = event.add_ticket_types();
  type->set_id("delegate");
  type->set_name("Delegate");
  const OutboxEvent out = OutboxEventFor(event, "delegate");
  EXPECT_EQ(out.name, "Launch Conf");
  EXPECT_EQ(out.time_zone, "Europe/Zurich");
  EXPECT_EQ(out.starts_at, "2027-03-01T09:00:00Z");
  EXPECT_EQ(out.ends_at, "2027-03-03T17:00:00Z");
  EXPECT_EQ(out.ticket_type_name, "Delegate");
  EXPECT_EQ(OutboxEventFor(event, "speaker").ticket_type_name, "");
}

}  // namespace
}  // namespace admit::registration
