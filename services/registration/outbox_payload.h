// The outbox payload, version 1 (services/registration/OUTBOX.md is the
// contract with the confirmation service): the event data a message needs,
// RFC 3339 UTC times, and the SQL expression that builds a payload from a
// registration row for the rows written outside Register (promotion,
// ticket, resend).
#ifndef ADMIT_SERVICES_REGISTRATION_OUTBOX_PAYLOAD_H_
#define ADMIT_SERVICES_REGISTRATION_OUTBOX_PAYLOAD_H_

#include <string>

#include "absl/time/time.h"
#include "admit/v1/common.pb.h"

namespace admit::registration {

// The event part of a payload, formatted. Empty strings when unknown.
struct OutboxEvent {
  std::string name;
  std::string starts_at;  // RFC 3339 UTC
  std::string ends_at;    // RFC 3339 UTC
  std::string time_zone;
  std::string ticket_type_name;  // of the registration's ticket type
};

// From an event snapshot; ticket_type_name is "" when the event has no such
// ticket type.
OutboxEvent OutboxEventFor(const v1::Event& event,
                           const std::string& ticket_type_id);

// "2027-03-01T09:00:00Z"; fractional seconds only when there are some.
std::string Rfc3339Utc(absl::Time t);
// Always six fractional digits: "2026-11-28T20:15:00.123456Z" (the form of
// hold_expires_at, the same as PayloadSql's to_char).
std::string Rfc3339UtcMicros(absl::Time t);

// A jsonb expression of the payload of the registration aliased `r`
// (registration.registrations, read after its change), with parameters
// $first .. $first+5: reason, event name, starts_at, ends_at, time_zone,
// ticket_type_name (text, see OutboxEvent). hold_expires_at is present when
// the row has one, ticket_code is the row's ("" when NULL),
// waitlist_position is 0.
std::string PayloadSql(int first_param);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_OUTBOX_PAYLOAD_H_
