#include "services/confirmation/mime_message.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace admit::confirmation {
namespace {

constexpr absl::string_view kCrlf = "\r\n";
// Raw bytes per encoded word: base64 of 39 bytes is 52 characters, plus
// "=?UTF-8?B?" and "?=" 64, so even after "Subject: " a line stays < 78.
constexpr size_t kWordBytes = 39;
constexpr size_t kMaxLine = 76;

bool IsPrintableAscii(absl::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

// Length of the UTF-8 sequence that starts with `lead` (1 for anything
// malformed, so splitting always progresses).
size_t Utf8Length(unsigned char lead) {
  if (lead >= 0xf0 && lead < 0xf8) return 4;
  if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

std::string OneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return out;
}

// A quoted-string (RFC 5322 3.2.4) of printable ASCII.
std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool NeedsQuoting(absl::string_view name) {
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ' ' ||
          absl::string_view("!#$%&'*+-/=?^_`{|}~").find(c) !=
              absl::string_view::npos)) {
      return true;
    }
  }
  return false;
}

std::string Boundary(absl::string_view tag, absl::string_view message_id) {
  // Stable per message (a retry sends identical bytes apart from Date).
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : message_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return absl::StrFormat("=_admit_%s_%016x", tag, h);
}

void AppendTextPart(std::string& out, absl::string_view subtype,
                    absl::string_view body) {
  absl::StrAppend(&out, "Content-Type: text/", subtype, "; charset=UTF-8",
                  kCrlf, "Content-Transfer-Encoding: quoted-printable", kCrlf,
                  kCrlf, QuotedPrintable(body));
}

}  // namespace

absl::StatusOr<Mailbox> ParseMailbox(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  Mailbox mailbox;
  const size_t open = text.rfind('<');
  if (open != absl::string_view::npos) {
    if (text.back() != '>') {
      return absl::InvalidArgumentError("mailbox: '<' without a closing '>'");
    }
    mailbox.address =
        std::string(text.substr(open + 1, text.size() - open - 2));
    absl::string_view name = absl::StripAsciiWhitespace(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
    }
    mailbox.display_name = std::string(name);
  } else {
    mailbox.address = std::string(text);
  }
  const std::string& a = mailbox.address;
  const size_t at = a.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string::npos ||
      a.find_first_of(" \t\r\n<>\"") != std::string::npos) {
    return absl::InvalidArgumentError(
        "mailbox: expected \"Name <user@domain>\" or \"user@domain\"");
  }
  return mailbox;
}

std::string EncodeHeaderText(absl::string_view text, size_t name_length) {
  const std::string line = OneLine(text);
  if (IsPrintableAscii(line) && name_length + line.size() <= 76) return line;
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    size_t end = i;
    while (end < line.size()) {
      const size_t n = Utf8Length(static_cast<unsigned char>(line[end]));
      if (end + n - i > kWordBytes) break;
      end += n;
    }
    if (end == i) end = std::min(line.size(), i + kWordBytes);
    if (!out.empty()) absl::StrAppend(&out, kCrlf, " ");
    absl::StrAppend(&out, "=?UTF-8?B?",
                    absl::Base64Escape(line.substr(i, end - i)), "?=");
    i = end;
  }
  return out;
}

std::string FormatMailbox(const Mailbox& mailbox, size_t name_length) {
  const std::string name = OneLine(mailbox.display_name);
  const std::string angle = absl::StrCat("<", mailbox.address, ">");
  if (name.empty()) return angle;
  if (IsPrintableAscii(name) &&
      name_length + name.size() + angle.size() + 3 <= 78) {
    return absl::StrCat(NeedsQuoting(name) ? Quoted(name) : name, " ", angle);
  }
  // Encoded words, then the address on a continuation line of its own.
  return absl::StrCat(EncodeHeaderText(name, 78), kCrlf, " ", angle);
}

std::string FormatRfc5322Date(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", t,
                          absl::UTCTimeZone());
}

std::string QuotedPrintable(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    const bool last = end == absl::string_view::npos;
    if (last) end = text.size();
    absl::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t column = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      const bool at_end = i + 1 == line.size();
      std::string token;
      if ((c >= 33 && c <= 126 && c != '=') ||
          ((c == ' ' || c == '\t') && !at_end)) {
        token.push_back(static_cast<char>(c));
      } else {
        token = absl::StrFormat("=%02X", c);
      }
      // Keep room for the soft break "=" unless this token ends the line.
      const size_t limit = at_end ? kMaxLine : kMaxLine - 1;
      if (column + token.size() > limit) {
        absl::StrAppend(&out, "=", kCrlf);
        column = 0;
      }
      out += token;
      column += token.size();
    }
    if (last) {
      if (!line.empty()) absl::StrAppend(&out, kCrlf);
      break;
    }
    absl::StrAppend(&out, kCrlf);
    start = end + 1;
  }
  return out;
}

std::string Base64Lines(absl::string_view data) {
  const std::string encoded = absl::Base64Escape(data);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / kMaxLine * 2 + 2);
  for (size_t i = 0; i < encoded.size(); i += kMaxLine) {
    absl::StrAppend(&out, encoded.substr(i, kMaxLine), kCrlf);
  }
  return out;
}

std::string BuildMimeMessage(const MimeInput& in) {
  const std::string alternative = Boundary("alt", in.message_id);
  const std::string related = Boundary("rel", in.message_id);
  std::string out;
  absl::StrAppend(&out, "From: ", FormatMailbox(in.from, 6), kCrlf);
  absl::StrAppend(&out, "To: ", FormatMailbox(in.to, 4), kCrlf);
  absl::StrAppend(&out, "Subject: ", EncodeHeaderText(in.subject, 9), kCrlf);
  absl::StrAppend(&out, "Date: ", FormatRfc5322Date(in.date), kCrlf);
  absl::StrAppend(&out, "Message-ID: <", in.message_id, ">", kCrlf);
  absl::StrAppend(&out, "MIME-Version: 1.0", kCrlf);
  absl::StrAppend(&out, "Auto-Submitted: auto-generated", kCrlf);
  absl::StrAppend(&out, "Content-Type: multipart/alternative;", kCrlf,
                  " boundary=\"", alternative, "\"", kCrlf, kCrlf);
  absl::StrAppend(&out, "This is a multi-part message in MIME format.", kCrlf);

  absl::StrAppend(&out, "--", alternative, kCrlf);
  AppendTextPart(out, "plain", in.text);
  absl::StrAppend(&out, kCrlf, "--", alternative, kCrlf);
  if (!in.image) {
    AppendTextPart(out, "html", in.html);
  } else {
    absl::StrAppend(&out, "Content-Type: multipart/related;", kCrlf,
                    " boundary=\"", related, "\"; type=\"text/html\"", kCrlf,
                    kCrlf);
    absl::StrAppend(&out, "--", related, kCrlf);
    AppendTextPart(out, "html", in.html);
    absl::StrAppend(&out, kCrlf, "--", related, kCrlf);
    absl::StrAppend(&out, "Content-Type: ", in.image->mime_type, "; name=\"",
                    in.image->filename, "\"", kCrlf);
    absl::StrAppend(&out, "Content-Transfer-Encoding: base64", kCrlf);
    absl::StrAppend(&out, "Content-ID: <", in.image->content_id, ">", kCrlf);
    absl::StrAppend(&out, "Content-Disposition: inline; filename=\"",
                    in.image->filename, "\"", kCrlf, kCrlf);
    absl::StrAppend(&out, Base64Lines(in.image->data));
    absl::StrAppend(&out, kCrlf, "--", related, "--", kCrlf);
  }
  absl::StrAppend(&out, kCrlf, "--", alternative, "--", kCrlf);
  return out;
}

}  // namespace admit::confirmation
