// From an outbox row to the bytes handed to SMTP: template values (times in
// the event's time zone, the confirmation link), the templates, the QR image
// of a ticket, the Message-ID, and the MIME message.
//
// Pure apart from the injected QR encoder; thread-safe.
#ifndef ADMIT_SERVICES_CONFIRMATION_COMPOSE_H_
#define ADMIT_SERVICES_CONFIRMATION_COMPOSE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/confirmation/mime_message.h"
#include "services/confirmation/outbox_payload.h"
#include "services/confirmation/templates.h"

namespace admit::confirmation {

struct ComposeOptions {
  Mailbox from;  // ADMIT_SMTP_FROM
  // ADMIT_CONFIRMATION_LINK_BASE; the link is base + "#token=" + token (the
  // fragment never reaches a server's logs).
  std::string link_base = "http://127.0.0.1:8080/confirm";
  // Right-hand side of Message-IDs; "" = the From address's domain.
  std::string message_id_domain;
};

// The PNG of a QR code of its argument (QrPng in production).
using QrEncoder = std::function<absl::StatusOr<std::string>(std::string_view)>;

// "outbox-<id>.<event id, reduced to [A-Za-z0-9_-]>@<domain>": the same for
// every attempt of one outbox row, different for every row.
std::string MessageIdFor(int64_t outbox_id, absl::string_view event_id,
                         const ComposeOptions& options);

// "Mon 1 Mar 2027, 09:00 (Europe/Zurich)"; UTC when `zone_name` is empty or
// unknown to the tz database.
std::string FormatEventTime(absl::Time t, absl::string_view zone_name);

struct ComposedEmail {
  std::string envelope_to;  // the attendee's address (RCPT TO)
  std::string message_id;   // without <>
  std::string data;         // the whole message, CRLF
};

// The email of outbox row `outbox_id` of `kind`. `token` is the
// confirmation token (kinds with NeedsToken; ignored otherwise). INTERNAL
// when the QR code cannot be made (the row is parked).
absl::StatusOr<ComposedEmail> ComposeEmail(int64_t outbox_id, MessageKind kind,
                                           const OutboxPayload& payload,
                                           absl::string_view token,
                                           const TemplateSet& templates,
                                           const ComposeOptions& options,
                                           const QrEncoder& qr, absl::Time now);

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_COMPOSE_H_
