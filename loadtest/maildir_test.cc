// The loadtest's Maildir reader against messages built by the confirmation
// service's own MIME composer (so a format change there fails here), and
// the Maildir scan's filtering by event.
#include "loadtest/maildir.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loadtest/follow.h"
#include "services/confirmation/mime_message.h"

namespace admit::loadtest {
namespace {

constexpr char kToken[] = "Qm9vbV9fX2FfdG9rZW4-_x";  // 22 chars, base64url

confirmation::MimeInput Input(const std::string& event) {
  confirmation::MimeInput in;
  in.from = {"no-reply@admit.localhost", "admit"};
  in.to = {"LT7-42@Example.org", "Zoë Ünal, \"Load\" Test"};
  in.subject = "Please confirm your registration for Forum für Ärzte";
  in.date = absl::FromUnixSeconds(1800000000);
  in.message_id = absl::StrCat("outbox-1234.", event, "@admit.localhost");
  // A long line: the link is wrapped by soft line breaks, '=' is "=3D".
  in.text = absl::StrCat(
      "Hello Zoë,\n\nplease confirm within the hour by opening this long "
      "link: http://127.0.0.1:8080/confirm#token=",
      kToken, "\n\nThanks\n");
  in.html = absl::StrCat("<p><a href=\"http://x/confirm#token=", kToken,
                         "\">confirm</a></p>");
  return in;
}

TEST(ParseMail, ReadsTheComposersConfirmationMessage) {
  const std::string raw = confirmation::BuildMimeMessage(Input("lt-abc"));
  const MailMessage m = ParseMail(raw);
  EXPECT_EQ(m.message_id, "outbox-1234.lt-abc@admit.localhost");
  EXPECT_EQ(m.to, "lt7-42@example.org");
  EXPECT_NE(m.text.find("Hello Zoë,"), std::string::npos) << m.text;
  EXPECT_EQ(TokenIn(m.text), kToken);
  EXPECT_EQ(OutboxIdOf(m.message_id), 1234);
}

TEST(ParseMail, FindsTheTextPartNextToAnInlineImage) {
  confirmation::MimeInput in = Input("lt-abc");
  in.text = "Your ticket code: TABC\n";
  in.image = confirmation::InlineImage{
      "qr.x@admit.localhost", "image/png", "ticket.png",
      std::string("\x89PNG\r\n\x1a\n#token=no", 18)};
  const MailMessage m = ParseMail(confirmation::BuildMimeMessage(in));
  EXPECT_NE(m.text.find("Your ticket code: TABC"), std::string::npos);
  EXPECT_EQ(TokenIn(m.text), "");
}

TEST(ParseMail, PlainMessagesAndSinkHeaders) {
  const MailMessage m = ParseMail(
      "Return-Path: <a@b>\nX-Original-To: x@y\nMessage-ID:\n <id-1@h>\n"
      "To: x@Y\nContent-Transfer-Encoding: base64\n\naGVsbG8gI3Rva2VuPWFi\n");
  EXPECT_EQ(m.message_id, "id-1@h");
  EXPECT_EQ(m.to, "x@y");
  EXPECT_EQ(m.text, "hello #token=ab");
  EXPECT_EQ(OutboxIdOf(m.message_id), std::nullopt);
}

TEST(DecodeQuotedPrintable, EscapesAndSoftBreaks) {
  EXPECT_EQ(DecodeQuotedPrintable("a=3Db=\r\nc=C3=A9 =\nd"), "a=bcé d");
  EXPECT_EQ(DecodeQuotedPrintable("x=ZZ="), "x=ZZ");
}

TEST(MessageIdEventPart, MatchesTheComposer) {
  EXPECT_EQ(MessageIdEventPart("lt-0a1b"), "lt-0a1b");
  EXPECT_EQ(MessageIdEventPart("a.b/c"), "a_b_c");
}

TEST(MaildirScanner, KeepsOneEventsMessagesAndReadsEachFileOnce) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "maildir-test-", getpid());
  std::filesystem::create_directories(dir + "/new");
  std::filesystem::create_directories(dir + "/cur");
  auto put = [&](const std::string& name, const std::string& event) {
    std::ofstream(absl::StrCat(dir, "/new/", name))
        << confirmation::BuildMimeMessage(Input(event));
  };
  put("1.a", "lt-mine");
  put("2.a", "lt-other");
  put("3.a", "lt-mine2");  // a prefix match must not count
  MaildirScanner scan(dir, "lt-mine");
  EXPECT_EQ(scan.Poll().size(), 1u);
  EXPECT_EQ(scan.Poll().size(), 0u);
  put("4.a", "lt-mine");
  // Moved to cur/ by a reader: the same message, not a new one.
  std::filesystem::rename(dir + "/new/1.a", dir + "/cur/1.a:2,S");
  const auto fresh = scan.Poll();
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].file, dir + "/new/4.a");
  EXPECT_EQ(scan.files_seen(), 4);
  std::filesystem::remove_all(dir);
}

TEST(ConfirmShare, EvenDeterministicSpread) {
  EXPECT_EQ(ConfirmShare(4, 0.5), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(ConfirmShare(3, 0).size(), 0u);
  EXPECT_EQ(ConfirmShare(3, 1).size(), 3u);
  EXPECT_EQ(ConfirmShare(100, 0.3).size(), 30u);
}

}  // namespace
}  // namespace admit::loadtest
