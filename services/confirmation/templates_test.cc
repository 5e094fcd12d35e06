#include "services/confirmation/templates.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/confirmation/compose.h"

namespace admit::confirmation {
namespace {

std::map<std::string, std::string> MinimalFiles() {
  std::map<std::string, std::string> files;
  for (const char* kind : {"confirmation", "promotion", "waitlist", "ticket"}) {
    files[std::string(kind) + ".subject.txt"] = "About {{event_name}}\n";
    files[std::string(kind) + ".txt"] = "Hi {{attendee_name}}";
    files[std::string(kind) + ".html"] = "<p>Hi {{attendee_name}}</p>";
  }
  files["ticket.html"] = "<img src=\"{{qr_image_src}}\">";
  return files;
}

TEST(Templates, TheShippedTemplatesLoad) {
  auto set = TemplateSet::Load(ADMIT_CONFIRMATION_TEMPLATE_DIR);
  ASSERT_TRUE(set.ok()) << set.status();
}

TEST(Templates, SubstitutesAndEscapesOnlyTheHtmlPart) {
  auto set = TemplateSet::FromFiles(MinimalFiles());
  ASSERT_TRUE(set.ok()) << set.status();
  RenderedEmail r = set->Render(
      MessageKind::kWaitlist,
      {{"attendee_name", "<Ada & \"Bob\">"}, {"event_name", "Conf"}});
  EXPECT_EQ(r.subject, "About Conf");
  EXPECT_EQ(r.text, "Hi <Ada & \"Bob\">");
  EXPECT_EQ(r.html, "<p>Hi &lt;Ada &amp; &quot;Bob&quot;&gt;</p>");
}

TEST(Templates, UnknownPlaceholderIsALoadError) {
  auto files = MinimalFiles();
  files["waitlist.txt"] = "Hi {{attendee_nmae}}";
  auto set = TemplateSet::FromFiles(files);
  ASSERT_FALSE(set.ok());
  EXPECT_TRUE(absl::StrContains(set.status().message(), "waitlist.txt"));
  EXPECT_TRUE(absl::StrContains(set.status().message(), "attendee_nmae"));
}

TEST(Templates, PlaceholderOfAnotherKindIsALoadError) {
  auto files = MinimalFiles();
  files["waitlist.html"] = "<a href=\"{{confirmation_link}}\">x</a>";
  EXPECT_FALSE(TemplateSet::FromFiles(files).ok());
}

TEST(Templates, UnclosedBracesMissingFileAndImagelessTicketAreErrors) {
  auto files = MinimalFiles();
  files["ticket.txt"] = "code {{ticket_code";
  EXPECT_FALSE(TemplateSet::FromFiles(files).ok());
  files = MinimalFiles();
  files.erase("promotion.html");
  EXPECT_EQ(TemplateSet::FromFiles(files).status().code(),
            absl::StatusCode::kNotFound);
  files = MinimalFiles();
  files["ticket.html"] = "<p>no image</p>";
  EXPECT_FALSE(TemplateSet::FromFiles(files).ok());
  files = MinimalFiles();
  files["ticket.subject.txt"] = "two\nlines";
  EXPECT_FALSE(TemplateSet::FromFiles(files).ok());
}

TEST(Compose, EventTimesInTheEventsZone) {
  absl::Time t;
  ASSERT_TRUE(
      absl::ParseTime(absl::RFC3339_full, "2027-03-01T08:00:00Z", &t, nullptr));
  EXPECT_EQ(FormatEventTime(t, "Europe/Zurich"),
            "Mon 1 Mar 2027, 09:00 (Europe/Zurich)");
  EXPECT_EQ(FormatEventTime(t, ""), "Mon 1 Mar 2027, 08:00 (UTC)");
  EXPECT_EQ(FormatEventTime(t, "Not/AZone"), "Mon 1 Mar 2027, 08:00 (UTC)");
}

TEST(Compose, ConfirmationEmailCarriesTheLinkAndAStableMessageId) {
  auto set = TemplateSet::Load(ADMIT_CONFIRMATION_TEMPLATE_DIR);
  ASSERT_TRUE(set.ok()) << set.status();
  OutboxPayload p;
  p.event_id = "ev-1";
  p.attendee_email = "ada@example.org";
  p.attendee_name = "Ada";
  p.event_name = "Conf";
  p.time_zone = "Europe/Zurich";
  p.hold_expires_at = absl::FromUnixSeconds(1800000000);
  ComposeOptions options;
  options.from = {"no-reply@admit.example", "admit"};
  options.link_base = "https://admit.example/confirm";
  auto qr = [](std::string_view) -> absl::StatusOr<std::string> {
    return std::string("png");
  };
  auto a = ComposeEmail(7, MessageKind::kConfirmation, p, "TOKEN", *set,
                        options, qr, absl::FromUnixSeconds(1));
  auto b = ComposeEmail(7, MessageKind::kConfirmation, p, "TOKEN", *set,
                        options, qr, absl::FromUnixSeconds(99999));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->message_id, "outbox-7.ev-1@admit.example");
  EXPECT_EQ(a->message_id, b->message_id);
  EXPECT_EQ(a->envelope_to, "ada@example.org");
  // "=" is quoted-printable's escape: the link appears as "#token=3DTOKEN".
  EXPECT_TRUE(absl::StrContains(a->data,
                                "https://admit.example/confirm#token=3DTOKEN"));
}

TEST(Compose, PayloadParsingParksWhatItCannotUse) {
  const std::string ok =
      R"({"v":1,"attendee":{"email":"a@b.c","full_name":"A"},)"
      R"("event":{"name":"E","starts_at":"2027-03-01T09:00:00Z",)"
      R"("ends_at":"2027-03-03T17:00:00Z","time_zone":"Europe/Zurich"},)"
      R"("hold_expires_at":"2026-11-28T20:15:00.123456Z","extra":[1]})";
  auto p = ParseOutboxPayload(MessageKind::kConfirmation, ok);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->attendee_email, "a@b.c");
  EXPECT_TRUE(p->hold_expires_at.has_value());
  EXPECT_FALSE(ParseOutboxPayload(MessageKind::kWaitlist, ok).ok());
  EXPECT_FALSE(ParseOutboxPayload(MessageKind::kTicket, ok).ok());
  EXPECT_FALSE(ParseOutboxPayload(MessageKind::kConfirmation, "{").ok());
  EXPECT_FALSE(
      ParseOutboxPayload(MessageKind::kConfirmation, R"({"v":2})").ok());
  EXPECT_FALSE(ParseKind("newsletter").ok());
  auto erased = ParseOutboxPayload(MessageKind::kConfirmation,
                                   R"({"v":1,"scrubbed":true})");
  ASSERT_FALSE(erased.ok());
  EXPECT_TRUE(absl::StrContains(erased.status().message(), "erased"));
}

}  // namespace
}  // namespace admit::confirmation
