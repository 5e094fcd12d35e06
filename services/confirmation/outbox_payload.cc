#include "services/confirmation/outbox_payload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace admit::confirmation {
namespace {

using Json = nlohmann::json;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("outbox payload: ", field, " ", what));
}

// The string at `key` of `object`, or "" when absent or not a string.
std::string StringAt(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

absl::StatusOr<absl::Time> TimeAt(const Json& object, const char* key,
                                  absl::string_view field) {
  const std::string text = StringAt(object, key);
  if (text.empty()) return Invalid(field, "is missing");
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return Invalid(field, "is not an RFC 3339 time");
  }
  return t;
}

// A plain addr-spec as the registration service normalized it: what goes
// into RCPT TO and the To header without quoting.
bool IsPlainAddress(absl::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  const size_t at = address.find('@');
  if (at == absl::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != absl::string_view::npos) {
    return false;
  }
  return std::none_of(address.begin(), address.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '"' ||
           c == '(' || c == ')' || c == ',' || c == ';' || c == '\\';
  });
}

}  // namespace

absl::StatusOr<MessageKind> ParseKind(absl::string_view kind) {
  if (kind == "confirmation") return MessageKind::kConfirmation;
  if (kind == "promotion") return MessageKind::kPromotion;
  if (kind == "waitlist") return MessageKind::kWaitlist;
  if (kind == "ticket") return MessageKind::kTicket;
  return absl::InvalidArgumentError("unknown outbox kind");
}

absl::string_view KindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kConfirmation:
      return "confirmation";
    case MessageKind::kPromotion:
      return "promotion";
    case MessageKind::kWaitlist:
      return "waitlist";
    case MessageKind::kTicket:
      return "ticket";
  }
  return "unknown";
}

bool NeedsToken(MessageKind kind) {
  return kind == MessageKind::kConfirmation || kind == MessageKind::kPromotion;
}

absl::StatusOr<OutboxPayload> ParseOutboxPayload(MessageKind kind,
                                                 absl::string_view json) {
  Json doc = Json::parse(json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Invalid("payload", "is not a JSON object");
  }
  auto v = doc.find("v");
  if (v == doc.end() || !v->is_number_integer() || v->get<int64_t>() != 1) {
    return Invalid("v", "is not 1");
  }
  // An attendee erased before delivery: their row is parked with this
  // reason (not sent, not dropped silently).
  auto scrubbed = doc.find("scrubbed");
  if (scrubbed != doc.end() && scrubbed->is_boolean() &&
      scrubbed->get<bool>()) {
    return absl::InvalidArgumentError(
        "outbox payload: erased before delivery (scrubbed)");
  }
  OutboxPayload p;
  p.reason = StringAt(doc, "reason");
  p.registration_id = StringAt(doc, "registration_id");
  p.event_id = StringAt(doc, "event_id");
  p.ticket_type_id = StringAt(doc, "ticket_type_id");
  p.ticket_type_name = StringAt(doc, "ticket_type_name");
  p.ticket_code = StringAt(doc, "ticket_code");

  auto attendee = doc.find("attendee");
  if (attendee == doc.end() || !attendee->is_object()) {
    return Invalid("attendee", "is missing");
  }
  p.attendee_email = StringAt(*attendee, "email");
  p.attendee_name = StringAt(*attendee, "full_name");
  if (!IsPlainAddress(p.attendee_email)) {
    return Invalid("attendee.email", "is missing or not a plain address");
  }

  auto event = doc.find("event");
  if (event == doc.end() || !event->is_object()) {
    return Invalid("event", "is missing");
  }
  p.event_name = StringAt(*event, "name");
  if (p.event_name.empty()) return Invalid("event.name", "is missing");
  p.time_zone = StringAt(*event, "time_zone");
  auto starts = TimeAt(*event, "starts_at", "event.starts_at");
  if (!starts.ok()) return starts.status();
  p.starts_at = *starts;
  auto ends = TimeAt(*event, "ends_at", "event.ends_at");
  if (!ends.ok()) return ends.status();
  p.ends_at = *ends;

  if (doc.contains("hold_expires_at") && doc["hold_expires_at"].is_string() &&
      !doc["hold_expires_at"].get<std::string>().empty()) {
    auto hold = TimeAt(doc, "hold_expires_at", "hold_expires_at");
    if (!hold.ok()) return hold.status();
    p.hold_expires_at = *hold;
  }
  auto position = doc.find("waitlist_position");
  if (position != doc.end() && position->is_number_integer()) {
    p.waitlist_position = position->get<int64_t>();
  }

  switch (kind) {
    case MessageKind::kConfirmation:
    case MessageKind::kPromotion:
      if (!p.hold_expires_at) return Invalid("hold_expires_at", "is missing");
      break;
    case MessageKind::kWaitlist:
      if (p.waitlist_position < 1) {
        return Invalid("waitlist_position", "is not >= 1");
      }
      break;
    case MessageKind::kTicket:
      if (p.ticket_code.empty()) return Invalid("ticket_code", "is missing");
      break;
  }
  return p;
}

}  // namespace admit::confirmation
