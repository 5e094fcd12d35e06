#include "services/confirmation/compose.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace admit::confirmation {

std::string MessageIdFor(int64_t outbox_id, absl::string_view event_id,
                         const ComposeOptions& options) {
  std::string event;
  for (char c : event_id.substr(0, 64)) {
    event.push_back(
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ? c
                                                                       : '_');
  }
  std::string domain = options.message_id_domain;
  if (domain.empty()) {
    const size_t at = options.from.address.rfind('@');
    domain = at == std::string::npos ? "admit.invalid"
                                     : options.from.address.substr(at + 1);
  }
  return absl::StrCat("outbox-", outbox_id, event.empty() ? "" : ".", event,
                      "@", domain);
}

std::string FormatEventTime(absl::Time t, absl::string_view zone_name) {
  absl::TimeZone zone = absl::UTCTimeZone();
  std::string name = "UTC";
  if (!zone_name.empty() && absl::LoadTimeZone(std::string(zone_name), &zone)) {
    name = std::string(zone_name);
  } else {
    zone = absl::UTCTimeZone();
  }
  const absl::CivilSecond civil = absl::ToCivilSecond(t, zone);
  return absl::StrCat(absl::FormatTime("%a ", t, zone), civil.day(),
                      absl::FormatTime(" %b %Y, %H:%M", t, zone), " (", name,
                      ")");
}

absl::StatusOr<ComposedEmail> ComposeEmail(
    int64_t outbox_id, MessageKind kind, const OutboxPayload& payload,
    absl::string_view token, const TemplateSet& templates,
    const ComposeOptions& options, const QrEncoder& qr, absl::Time now) {
  ComposedEmail email;
  email.envelope_to = payload.attendee_email;
  email.message_id = MessageIdFor(outbox_id, payload.event_id, options);

  TemplateValues values;
  values["attendee_name"] = payload.attendee_name;
  values["event_name"] = payload.event_name;
  values["event_starts"] =
      FormatEventTime(payload.starts_at, payload.time_zone);
  values["event_ends"] = FormatEventTime(payload.ends_at, payload.time_zone);
  values["event_time_zone"] =
      payload.time_zone.empty() ? "UTC" : payload.time_zone;
  values["ticket_type"] = payload.ticket_type_name;

  MimeInput mime;
  if (NeedsToken(kind)) {
    values["confirmation_link"] =
        absl::StrCat(options.link_base, "#token=", token);
    values["confirm_by"] =
        payload.hold_expires_at
            ? FormatEventTime(*payload.hold_expires_at, payload.time_zone)
            : "";
  }
  if (kind == MessageKind::kWaitlist) {
    values["waitlist_position"] = absl::StrCat(payload.waitlist_position);
  }
  if (kind == MessageKind::kTicket) {
    values["ticket_code"] = payload.ticket_code;
    auto png = qr(payload.ticket_code);
    if (!png.ok()) {
      return absl::InternalError(
          absl::StrCat("QR code of the ticket: ", png.status().message()));
    }
    InlineImage image;
    image.content_id = absl::StrCat("qr.", email.message_id);
    image.mime_type = "image/png";
    image.filename = "ticket.png";
    image.data = *std::move(png);
    values["qr_image_src"] = absl::StrCat("cid:", image.content_id);
    mime.image = std::move(image);
  }

  RenderedEmail rendered = templates.Render(kind, values);
  mime.from = options.from;
  mime.to = Mailbox{payload.attendee_email, payload.attendee_name};
  mime.subject = std::move(rendered.subject);
  mime.date = now;
  mime.message_id = email.message_id;
  mime.text = std::move(rendered.text);
  mime.html = std::move(rendered.html);
  email.data = BuildMimeMessage(mime);
  return email;
}

}  // namespace admit::confirmation
