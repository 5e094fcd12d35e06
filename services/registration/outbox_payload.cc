#include "services/registration/outbox_payload.h"

#include "absl/strings/str_cat.h"

namespace admit::registration {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

OutboxEvent OutboxEventFor(const v1::Event& event,
                           const std::string& ticket_type_id) {
  OutboxEvent out;
  out.name = event.name();
  if (event.has_starts_at())
    out.starts_at = Rfc3339Utc(FromProto(event.starts_at()));
  if (event.has_ends_at()) out.ends_at = Rfc3339Utc(FromProto(event.ends_at()));
  out.time_zone = event.time_zone();
  for (const v1::TicketType& t : event.ticket_types()) {
    if (t.id() == ticket_type_id) out.ticket_type_name = t.name();
  }
  return out;
}

std::string Rfc3339Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string Rfc3339UtcMicros(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string PayloadSql(int first_param) {
  auto p = [first_param](int i, const char* type) {
    return absl::StrCat("$", first_param + i, "::", type);
  };
  return absl::StrCat(
      "jsonb_build_object('v', 1, 'reason', ", p(0, "text"),
      ", 'registration_id', r.registration_id, 'event_id', r.event_id, "
      "'ticket_type_id', r.ticket_type_id, 'status', r.status, "
      "'attendee', jsonb_build_object('email', r.email, 'full_name', "
      "r.full_name), 'event', jsonb_build_object('name', ",
      p(1, "text"), ", 'starts_at', ", p(2, "text"), ", 'ends_at', ",
      p(3, "text"), ", 'time_zone', ", p(4, "text"), "), 'ticket_type_name', ",
      p(5, "text"),
      ", 'waitlist_position', 0, 'ticket_code', COALESCE(r.ticket_code, '')) "
      "|| CASE WHEN r.hold_expires_at IS NULL THEN '{}'::jsonb ELSE "
      "jsonb_build_object('hold_expires_at', to_char(r.hold_expires_at AT "
      "TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) END");
}

}  // namespace admit::registration
