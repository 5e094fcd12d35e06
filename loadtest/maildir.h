// Reading the SMTP sink's Maildir: which messages arrived, for whom, and the
// confirmation token in their text part.
//
// Hand-written, on purpose small: the loadtest needs the top-level headers
// (Message-ID, To), and the decoded text/plain part of a multipart message
// (quoted-printable or base64) to find the "#token=" link; it never needs
// charsets, RFC 2047 display names, attachments or malformed-input recovery.
// Debian's MIME libraries (GMime 3, a GLib/GObject C API; vmime) would add
// a dependency stack to the tool for those ~150 lines; the parse is checked
// against messages built by the confirmation service's own composer
// (loadtest/maildir_test.cc), so a format change there fails here first.
#ifndef ADMIT_LOADTEST_MAILDIR_H_
#define ADMIT_LOADTEST_MAILDIR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace admit::loadtest {

struct MailMessage {
  std::string file;        // path in the Maildir
  std::string message_id;  // without the angle brackets
  std::string to;          // the To header's address, lower case
  std::string text;        // the decoded text/plain part ("" if none)
};

// The value of header `name` (case-insensitive) in `head` (the header
// block, unfolded), "" if absent.
std::string HeaderValue(absl::string_view head, absl::string_view name);

// Parses a whole RFC 5322 message (CRLF or LF line ends). Never fails: what
// it cannot find stays empty.
MailMessage ParseMail(absl::string_view raw);

// Quoted-printable decoding (RFC 2045 6.7): =XX, soft line breaks.
std::string DecodeQuotedPrintable(absl::string_view in);

// The addr-spec of an address header value ("Name <a@b>" or "a@b"), lower
// case.
std::string AddressOf(absl::string_view value);

// The token of the first "#token=" link in `text`, "" if there is none.
std::string TokenIn(absl::string_view text);

// The outbox id in a confirmation-service Message-ID
// ("outbox-<id>.<event>@<domain>"), nullopt for other ids.
std::optional<int64_t> OutboxIdOf(absl::string_view message_id);

// The event part the confirmation service puts in its Message-IDs
// (compose.cc MessageIdFor: up to 64 characters, [A-Za-z0-9-] kept, others
// '_'), so a scan can keep one event's messages.
std::string MessageIdEventPart(absl::string_view event_id);

// Incremental scan of a Maildir's new/ and cur/: each Poll reads the files
// it has not seen before and returns those whose Message-ID names the event
// (other tests' and runs' messages share the folder and are skipped after
// reading their headers once). The sink moves a message into new/
// atomically, so a file seen is complete.
class MaildirScanner {
 public:
  MaildirScanner(std::string maildir, absl::string_view event_id);
  // The event's messages that appeared since the last Poll.
  std::vector<MailMessage> Poll();
  // Files looked at so far (all events).
  int64_t files_seen() const { return static_cast<int64_t>(seen_.size()); }

 private:
  std::string maildir_;
  std::string marker_;  // ".<event part>@"
  std::set<std::string> seen_;
};

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_MAILDIR_H_
