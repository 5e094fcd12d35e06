#include "loadtest/maildir.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace admit::loadtest {
namespace {

// Splits at the first empty line: (header block, body). Line ends as found.
std::pair<absl::string_view, absl::string_view> SplitHeadBody(
    absl::string_view raw) {
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\n') continue;
    if (i + 1 < raw.size() && raw[i + 1] == '\n')
      return {raw.substr(0, i + 1), raw.substr(i + 2)};
    if (i + 2 < raw.size() && raw[i + 1] == '\r' && raw[i + 2] == '\n')
      return {raw.substr(0, i + 1), raw.substr(i + 3)};
  }
  return {raw, absl::string_view()};
}

// The parameter `name` of a structured header value (`type/sub; a="b"`).
std::string Param(absl::string_view value, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(value, ';')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part.substr(0, eq)),
                                name))
      continue;
    absl::string_view v = absl::StripAsciiWhitespace(part.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return "";
}

std::string MediaType(absl::string_view content_type) {
  const size_t semi = content_type.find(';');
  return absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(content_type.substr(0, semi)));
}

std::string DecodeBody(absl::string_view body, absl::string_view encoding) {
  const std::string e =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(encoding));
  if (e == "quoted-printable") return DecodeQuotedPrintable(body);
  if (e == "base64") {
    std::string out;
    std::string compact;
    for (char c : body) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c)))
        compact.push_back(c);
    }
    return absl::Base64Unescape(compact, &out) ? out : "";
  }
  return std::string(body);
}

// The first text/plain part of an entity (head + body), decoded; recurses
// into multipart bodies.
std::string TextOf(absl::string_view head, absl::string_view body, int depth) {
  const std::string type_header = HeaderValue(head, "Content-Type");
  const std::string type =
      type_header.empty() ? "text/plain" : MediaType(type_header);
  if (type == "text/plain")
    return DecodeBody(body, HeaderValue(head, "Content-Transfer-Encoding"));
  if (!absl::StartsWith(type, "multipart/") || depth > 5) return "";
  const std::string boundary = Param(type_header, "boundary");
  if (boundary.empty()) return "";
  const std::string delimiter = absl::StrCat("--", boundary);
  // Parts lie between delimiter lines; the first chunk is the preamble.
  size_t pos = body.find(delimiter);
  while (pos != absl::string_view::npos) {
    size_t start = body.find('\n', pos);
    if (start == absl::string_view::npos) break;
    if (body.substr(pos + delimiter.size(), 2) == "--") break;  // close
    ++start;
    size_t next = body.find(delimiter, start);
    if (next == absl::string_view::npos) next = body.size();
    // The line break before the next delimiter belongs to it.
    size_t end = next;
    if (end > start && body[end - 1] == '\n') --end;
    if (end > start && body[end - 1] == '\r') --end;
    auto [part_head, part_body] =
        SplitHeadBody(body.substr(start, end - start));
    std::string text = TextOf(part_head, part_body, depth + 1);
    if (!text.empty()) return text;
    pos = next < body.size() ? next : absl::string_view::npos;
  }
  return "";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first `n` bytes (enough for the header block of the sink's
// messages), so other events' messages with images are not read whole.
std::string ReadHead(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

}  // namespace

std::string HeaderValue(absl::string_view head, absl::string_view name) {
  std::string value;
  bool in_field = false;
  for (absl::string_view line : absl::StrSplit(head, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (in_field)
        absl::StrAppend(&value, " ", absl::StripAsciiWhitespace(line));
      continue;
    }
    if (in_field) break;  // the field ended
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(
            absl::StripAsciiWhitespace(line.substr(0, colon)), name)) {
      in_field = true;
      value = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return value;
}

MailMessage ParseMail(absl::string_view raw) {
  MailMessage m;
  auto [head, body] = SplitHeadBody(raw);
  std::string id = HeaderValue(head, "Message-ID");
  absl::string_view v = absl::StripAsciiWhitespace(id);
  absl::ConsumePrefix(&v, "<");
  absl::ConsumeSuffix(&v, ">");
  m.message_id = std::string(v);
  m.to = AddressOf(HeaderValue(head, "To"));
  m.text = TextOf(head, body, 0);
  return m;
}

std::string DecodeQuotedPrintable(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    // Soft line break: '=' then optional whitespace then the line end.
    size_t j = i + 1;
    while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
    if (j < in.size() && (in[j] == '\r' || in[j] == '\n')) {
      if (in[j] == '\r' && j + 1 < in.size() && in[j + 1] == '\n') ++j;
      i = j;
      continue;
    }
    if (j >= in.size()) {  // '=' at the very end: a soft break
      i = j;
      continue;
    }
    if (i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
        HexValue(in[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
      continue;
    }
    out.push_back(c);  // not an escape: keep it (robustness rule)
  }
  return out;
}

std::string AddressOf(absl::string_view value) {
  const size_t open = value.rfind('<');
  if (open != absl::string_view::npos) {
    const size_t close = value.find('>', open);
    if (close != absl::string_view::npos)
      value = value.substr(open + 1, close - open - 1);
  }
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
}

std::string TokenIn(absl::string_view text) {
  constexpr absl::string_view kKey = "#token=";
  const size_t at = text.find(kKey);
  if (at == absl::string_view::npos) return "";
  std::string token;
  for (size_t i = at + kKey.size(); i < text.size(); ++i) {
    const char c = text[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_')
      break;
    token.push_back(c);
  }
  return token;
}

std::optional<int64_t> OutboxIdOf(absl::string_view message_id) {
  if (!absl::ConsumePrefix(&message_id, "outbox-")) return std::nullopt;
  const size_t end = message_id.find_first_of(".@");
  int64_t id = 0;
  if (end == absl::string_view::npos ||
      !absl::SimpleAtoi(message_id.substr(0, end), &id))
    return std::nullopt;
  return id;
}

std::string MessageIdEventPart(absl::string_view event_id) {
  std::string event;
  for (char c : event_id.substr(0, 64)) {
    event.push_back(
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ? c
                                                                       : '_');
  }
  return event;
}

MaildirScanner::MaildirScanner(std::string maildir, absl::string_view event_id)
    : maildir_(std::move(maildir)),
      marker_(absl::StrCat(".", MessageIdEventPart(event_id), "@")) {}

std::vector<MailMessage> MaildirScanner::Poll() {
  std::vector<MailMessage> found;
  for (const char* sub : {"new", "cur"}) {
    const std::string dir = absl::StrCat(maildir_, "/", sub);
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> names;
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      names.emplace_back(e->d_name);
    }
    closedir(d);
    for (const std::string& name : names) {
      // A message keeps its unique name when a reader moves it from new/
      // to cur/ (which adds ":2,FLAGS"): count it once.
      const std::string unique = name.substr(0, name.find(':'));
      if (!seen_.insert(unique).second) continue;
      const std::string path = absl::StrCat(dir, "/", name);
      const std::string start = ReadHead(path, 8192);
      if (start.empty()) {  // moved away meanwhile: look again next time
        seen_.erase(unique);
        continue;
      }
      if (!absl::StrContains(HeaderValue(SplitHeadBody(start).first,
                                         "Message-ID"),
                             marker_))
        continue;
      MailMessage m = ParseMail(ReadFile(path));
      m.file = path;
      found.push_back(std::move(m));
    }
  }
  return found;
}

}  // namespace admit::loadtest
