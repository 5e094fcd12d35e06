// The outbox rows the drainer delivers: kinds and the version-1 payload
// (services/registration/OUTBOX.md is the contract).
//
// Pure: no database, no I/O. Thread-safe.
#ifndef ADMIT_SERVICES_CONFIRMATION_OUTBOX_PAYLOAD_H_
#define ADMIT_SERVICES_CONFIRMATION_OUTBOX_PAYLOAD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace admit::confirmation {

enum class MessageKind { kConfirmation, kPromotion, kWaitlist, kTicket };

// "confirmation" | "promotion" | "waitlist" | "ticket"; INVALID_ARGUMENT for
// anything else (such a row is parked, never dropped).
absl::StatusOr<MessageKind> ParseKind(absl::string_view kind);
absl::string_view KindName(MessageKind kind);
// Kinds whose email carries a confirmation link (and so a token).
bool NeedsToken(MessageKind kind);

// What a v1 payload says. Keys the drainer does not use are ignored.
struct OutboxPayload {
  std::string reason;
  std::string registration_id;
  std::string event_id;
  std::string ticket_type_id;
  std::string attendee_email;
  std::string attendee_name;  // may be empty
  std::string event_name;
  absl::Time starts_at;
  absl::Time ends_at;
  std::string time_zone;  // IANA name; "" or unknown: shown in UTC
  std::string ticket_type_name;
  std::optional<absl::Time> hold_expires_at;
  int64_t waitlist_position = 0;
  std::string ticket_code;
};

// Parses `json` as a v1 payload for a row of `kind`. INVALID_ARGUMENT (with a
// message that names the field, never its value: it may be personal data)
// when it is not JSON, "v" is not 1, the attendee's email is missing or not a
// plain addr-spec (no spaces, angle brackets or line breaks, one "@"), the
// event's name or times are missing or malformed, or what the kind needs is
// missing: hold_expires_at (confirmation, promotion), waitlist_position >= 1
// (waitlist), ticket_code (ticket); also when the payload was scrubbed
// ({"v":1,"scrubbed":true}: the attendee was erased before delivery).
absl::StatusOr<OutboxPayload> ParseOutboxPayload(MessageKind kind,
                                                 absl::string_view json);

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_OUTBOX_PAYLOAD_H_
