// RFC 5322 / MIME messages for admit's emails: what the drainer hands to the
// SMTP relay (smtp_sender.h).
//
// Shape:
//   multipart/alternative
//     text/plain; charset=UTF-8   (quoted-printable)
//     text/html; charset=UTF-8    (quoted-printable)          -- no image
//     multipart/related                                       -- with image
//       text/html; charset=UTF-8  (quoted-printable)
//       image/png                 (base64, inline, Content-ID)
// Every line ends in CRLF and is at most 78 characters; non-ASCII display
// names and subjects are RFC 2047 encoded words (=?UTF-8?B?...?=). Lines
// starting with "." are left alone: libcurl's SMTP upload dot-stuffs the
// body (checked by drainer_pgtest). Boundaries start with "=_", which can
// occur neither in quoted-printable nor in base64 text.
//
// Pure; thread-safe.
#ifndef ADMIT_SERVICES_CONFIRMATION_MIME_MESSAGE_H_
#define ADMIT_SERVICES_CONFIRMATION_MIME_MESSAGE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace admit::confirmation {

struct Mailbox {
  std::string address;       // addr-spec, e.g. ada@example.org
  std::string display_name;  // UTF-8, may be empty
};

// "Name <addr>" or "addr" -> Mailbox. INVALID_ARGUMENT when there is no
// plausible address (one "@", no spaces or angle brackets in it).
absl::StatusOr<Mailbox> ParseMailbox(absl::string_view text);

struct InlineImage {
  std::string content_id;  // without <>, e.g. "qr.outbox-7@admit.example"
  std::string mime_type;   // "image/png"
  std::string filename;    // "ticket.png"
  std::string data;        // raw bytes
};

struct MimeInput {
  Mailbox from;
  Mailbox to;
  std::string subject;  // UTF-8, one line (line breaks become spaces)
  absl::Time date;
  std::string message_id;  // without <>, e.g. "outbox-7.ev1@admit.example"
  std::string text;        // UTF-8, "\n" or "\r\n" line ends
  std::string html;        // UTF-8
  std::optional<InlineImage> image;  // referenced by the html as cid:<id>
};

// The complete message (headers + body), CRLF line ends.
std::string BuildMimeMessage(const MimeInput& input);

// Building blocks, exposed for tests.

// `text` as a header value: itself when it is printable ASCII and short
// enough for one line after a header name of `name_length` characters,
// otherwise RFC 2047 B-encoded words of whole UTF-8 characters, each at most
// 75 characters, separated by CRLF SP (folding).
std::string EncodeHeaderText(absl::string_view text, size_t name_length);
// "Name <addr>" with the name quoted or encoded as needed, or "<addr>".
std::string FormatMailbox(const Mailbox& mailbox, size_t name_length);
// RFC 5322 date-time in UTC: "Sat, 28 Nov 2026 19:56:59 +0000".
std::string FormatRfc5322Date(absl::Time t);
// Quoted-printable (RFC 2045 6.7) of UTF-8 text: lines of at most 76
// characters, CRLF line ends, soft breaks "=" CRLF; trailing spaces encoded.
std::string QuotedPrintable(absl::string_view text);
// Base64 of `data` in lines of 76 characters, each ended by CRLF.
std::string Base64Lines(absl::string_view data);

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_MIME_MESSAGE_H_
