// The MIME output is parsed back by a small reader of our own (headers,
// unfolding, encoded words, boundaries, quoted-printable, base64), so the
// test checks what a mail client would see, not how the bytes look.
#include "services/confirmation/mime_message.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace admit::confirmation {
namespace {

struct Part {
  std::map<std::string, std::string> headers;  // lower-case names, unfolded
  std::string body;                            // raw, CRLF
};

Part ParsePart(absl::string_view raw) {
  Part part;
  const size_t split = raw.find("\r\n\r\n");
  absl::string_view head = raw.substr(0, split);
  part.body = std::string(raw.substr(split + 4));
  std::string last;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      part.headers[last] += std::string(line);
      continue;
    }
    const size_t colon = line.find(':');
    last = absl::AsciiStrToLower(line.substr(0, colon));
    part.headers[last] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return part;
}

std::string Boundary(const std::string& content_type) {
  const size_t at = content_type.find("boundary=\"");
  const size_t end = content_type.find('"', at + 10);
  return content_type.substr(at + 10, end - at - 10);
}

std::vector<Part> Children(const Part& parent) {
  const std::string b = "--" + Boundary(parent.headers.at("content-type"));
  std::vector<Part> parts;
  absl::string_view body = parent.body;
  size_t pos = body.find(b + "\r\n");
  while (pos != absl::string_view::npos) {
    const size_t start = pos + b.size() + 2;
    const size_t next = body.find("\r\n" + b, start);
    parts.push_back(ParsePart(body.substr(start, next - start)));
    if (body.substr(next + 2 + b.size(), 2) == "--") break;
    pos = next + 2;
  }
  return parts;
}

std::string DecodeWords(const std::string& value) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t start = value.find("=?UTF-8?B?", pos);
    if (start == std::string::npos) {
      out += value.substr(pos);
      break;
    }
    std::string between = value.substr(pos, start - pos);
    if (!absl::StripAsciiWhitespace(between).empty()) out += between;
    const size_t end = value.find("?=", start + 10);
    std::string decoded;
    EXPECT_TRUE(absl::Base64Unescape(value.substr(start + 10, end - start - 10),
                                     &decoded));
    out += decoded;
    pos = end + 2;
  }
  return out;
}

std::string DecodeQp(const std::string& qp) {
  std::string out;
  for (size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] == '=' && qp.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;
    } else if (qp[i] == '=') {
      out.push_back(
          static_cast<char>(std::stoi(qp.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(qp[i]);
    }
  }
  return out;
}

void ExpectLinesAtMost78WithCrlf(const std::string& message) {
  size_t start = 0;
  while (start < message.size()) {
    const size_t end = message.find("\r\n", start);
    ASSERT_NE(end, std::string::npos) << "message does not end in CRLF";
    const std::string line = message.substr(start, end - start);
    EXPECT_LE(line.size(), 78u) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << "bare LF in: " << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << "bare CR in: " << line;
    start = end + 2;
  }
}

MimeInput SampleInput() {
  MimeInput in;
  in.from = {"no-reply@admit.example", "admit"};
  in.to = {"zoe@example.org", "Zoë Ünal-Østergård van der Großmann-Ñúñez"};
  in.subject =
      "Bitte bestätigen: Forum für Ärzte 2027 — ein sehr langer "
      "Betreff, der gefaltet werden muss";
  in.date = absl::FromCivil(absl::CivilSecond(2026, 11, 28, 19, 36, 59),
                            absl::UTCTimeZone());
  in.message_id = "outbox-7.ev1@admit.example";
  in.text = "Hello Zoë,\n\n" + std::string(200, 'x') +
            "\n.a line starting with a dot\ntrailing space \n=equals=\n";
  in.html =
      "<p>Hallo Zoë &amp; <a href=\"https://x/confirm#token=abc\">"
      "link</a></p>\n";
  return in;
}

TEST(MimeMessage, HeadersDecodeToTheInput) {
  const MimeInput in = SampleInput();
  const std::string message = BuildMimeMessage(in);
  ExpectLinesAtMost78WithCrlf(message);
  const Part top = ParsePart(message);
  EXPECT_EQ(DecodeWords(top.headers.at("subject")), in.subject);
  const std::string to = top.headers.at("to");
  EXPECT_TRUE(absl::EndsWith(to, "<zoe@example.org>")) << to;
  EXPECT_EQ(DecodeWords(to.substr(0, to.rfind(" <"))), in.to.display_name);
  EXPECT_EQ(top.headers.at("from"), "admit <no-reply@admit.example>");
  EXPECT_EQ(top.headers.at("date"), "Sat, 28 Nov 2026 19:36:59 +0000");
  EXPECT_EQ(top.headers.at("message-id"), "<outbox-7.ev1@admit.example>");
  EXPECT_EQ(top.headers.at("mime-version"), "1.0");
}

TEST(MimeMessage, AlternativeWithTextAndHtmlInQuotedPrintable) {
  const MimeInput in = SampleInput();
  const Part top = ParsePart(BuildMimeMessage(in));
  ASSERT_TRUE(absl::StartsWith(top.headers.at("content-type"),
                               "multipart/alternative;"));
  const std::vector<Part> parts = Children(top);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].headers.at("content-type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(parts[0].headers.at("content-transfer-encoding"),
            "quoted-printable");
  std::string text = in.text;
  absl::StrReplaceAll({{"\n", "\r\n"}}, &text);
  EXPECT_EQ(DecodeQp(parts[0].body), text);
  EXPECT_EQ(parts[1].headers.at("content-type"), "text/html; charset=UTF-8");
  std::string html = in.html;
  absl::StrReplaceAll({{"\n", "\r\n"}}, &html);
  EXPECT_EQ(DecodeQp(parts[1].body), html);
}

TEST(MimeMessage, TicketHasRelatedHtmlAndInlineImage) {
  MimeInput in = SampleInput();
  std::string png(3000, '\0');
  for (size_t i = 0; i < png.size(); ++i) png[i] = static_cast<char>(i * 7);
  in.image = InlineImage{"qr.outbox-7.ev1@admit.example", "image/png",
                         "ticket.png", png};
  in.html = "<img src=\"cid:qr.outbox-7.ev1@admit.example\">";
  const std::string message = BuildMimeMessage(in);
  ExpectLinesAtMost78WithCrlf(message);
  const std::vector<Part> parts = Children(ParsePart(message));
  ASSERT_EQ(parts.size(), 2u);
  ASSERT_TRUE(absl::StartsWith(parts[1].headers.at("content-type"),
                               "multipart/related;"));
  const std::vector<Part> related = Children(parts[1]);
  ASSERT_EQ(related.size(), 2u);
  EXPECT_EQ(DecodeQp(related[0].body), in.html + "\r\n");
  EXPECT_TRUE(
      absl::StartsWith(related[1].headers.at("content-type"), "image/png"));
  EXPECT_EQ(related[1].headers.at("content-id"),
            "<qr.outbox-7.ev1@admit.example>");
  EXPECT_TRUE(
      absl::StartsWith(related[1].headers.at("content-disposition"), "inline"));
  std::string b64 = related[1].body;
  absl::StrReplaceAll({{"\r\n", ""}}, &b64);
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(b64, &decoded));
  EXPECT_EQ(decoded, png);
}

TEST(MimeMessage, AsciiNamesAreQuotedWhenNeeded) {
  EXPECT_EQ(FormatMailbox({"a@b.c", "Ada Lovelace"}, 4),
            "Ada Lovelace <a@b.c>");
  EXPECT_EQ(FormatMailbox({"a@b.c", "Lovelace, Ada \"AL\""}, 4),
            "\"Lovelace, Ada \\\"AL\\\"\" <a@b.c>");
  EXPECT_EQ(FormatMailbox({"a@b.c", ""}, 4), "<a@b.c>");
  // A line break in a name cannot inject a header.
  EXPECT_EQ(FormatMailbox({"a@b.c", "Eve\r\nBcc: x@y.z"}, 4).find("\r\nBcc"),
            std::string::npos);
}

TEST(MimeMessage, EncodedWordsSplitOnCharacterBoundaries) {
  const std::string name(60, '\xc3');  // not valid UTF-8, still bounded
  std::string euro;
  for (int i = 0; i < 40; ++i) euro += "\xe2\x82\xac";  // "€" x 40
  const std::string encoded = EncodeHeaderText(euro, 9);
  EXPECT_EQ(DecodeWords(encoded), euro);
  for (absl::string_view word : absl::StrSplit(encoded, "\r\n ")) {
    EXPECT_LE(word.size(), 75u);
    std::string raw;
    ASSERT_TRUE(absl::Base64Unescape(word.substr(10, word.size() - 12), &raw));
    EXPECT_EQ(raw.size() % 3, 0u) << "a word split a 3-byte character";
  }
  EXPECT_FALSE(EncodeHeaderText(name, 9).empty());
}

TEST(MimeMessage, ParseMailbox) {
  auto m = ParseMailbox("Admit Tickets <tickets@admit.example>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->address, "tickets@admit.example");
  EXPECT_EQ(m->display_name, "Admit Tickets");
  m = ParseMailbox("\"Admit, Inc.\" <t@a.example>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->display_name, "Admit, Inc.");
  m = ParseMailbox("t@a.example");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->display_name, "");
  EXPECT_FALSE(ParseMailbox("nobody").ok());
  EXPECT_FALSE(ParseMailbox("A <b@c").ok());
}

TEST(MimeMessage, QuotedPrintableSoftBreaksAndTrailingSpace) {
  const std::string qp = QuotedPrintable(std::string(200, 'a') + " \n");
  EXPECT_EQ(DecodeQp(qp), std::string(200, 'a') + " \r\n");
  EXPECT_NE(qp.find("=20\r\n"), std::string::npos);
  ExpectLinesAtMost78WithCrlf(qp);
}

}  // namespace
}  // namespace admit::confirmation
