#include "services/registration/validation.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/quota/validation.h"

namespace admit::registration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// ------------------------------------------------------------- helpers ----

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> out;
  for (const auto& v : GetFieldViolations(status)) out.push_back(v.field);
  return out;
}

// The description of the only violation of `status`, or a failure.
std::string OnlyViolation(const absl::Status& status,
                          const std::string& field) {
  const std::vector<FieldViolation> violations = GetFieldViolations(status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(violations.size(), 1u) << status;
  if (violations.size() != 1) return "";
  EXPECT_EQ(violations[0].field, field);
  return violations[0].description;
}

std::string Repeat(std::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(unit);
  return out;
}

v1::RegisterRequest GoodRequest() {
  v1::RegisterRequest r;
  r.set_request_id("0b5e0c2e-7c1f-4bb5-9a0e-1d2f3a4b5c6d");
  r.set_event_id("pp-2026");
  r.set_ticket_type_id("delegate");
  v1::Attendee* a = r.mutable_attendee();
  a->set_email("ann.lee@example.org");
  a->set_full_name("Ann Lee");
  a->set_organization("ITU");
  a->set_country_code("CH");
  return r;
}

v1::RegisterRequest WithEmail(std::string email) {
  v1::RegisterRequest r = GoodRequest();
  r.mutable_attendee()->set_email(std::move(email));
  return r;
}
v1::RegisterRequest WithName(std::string name) {
  v1::RegisterRequest r = GoodRequest();
  r.mutable_attendee()->set_full_name(std::move(name));
  return r;
}
v1::RegisterRequest WithOrganization(std::string organization) {
  v1::RegisterRequest r = GoodRequest();
  r.mutable_attendee()->set_organization(std::move(organization));
  return r;
}
v1::RegisterRequest WithCountry(std::string country) {
  v1::RegisterRequest r = GoodRequest();
  r.mutable_attendee()->set_country_code(std::move(country));
  return r;
}

// The normalized email, or "<invalid: description>".
std::string EmailResult(std::string email) {
  absl::StatusOr<NormalizedAttendee> a =
      ValidateRegisterRequest(WithEmail(std::move(email)));
  if (a.ok()) return a->email;
  return absl::StrCat("<invalid: ", OnlyViolation(a.status(), "attendee.email"),
                      ">");
}

// A domain of exactly `length` characters: labels of 63 joined by dots.
std::string DomainOfLength(size_t length) {
  std::string domain;
  while (domain.size() < length) {
    if (!domain.empty()) domain += '.';
    domain += std::string(std::min<size_t>(63, length - domain.size()), 'd');
  }
  // A final label of one character must not follow a dot at the very end.
  EXPECT_EQ(domain.size(), length);
  EXPECT_NE(domain.back(), '.');
  return domain;
}

// Non-ASCII characters the tests use, as UTF-8.
const std::string kNbsp = "\xc2\xa0";           // U+00A0, White_Space
const std::string kEmSpace = "\xe2\x80\x83";    // U+2003, White_Space
const std::string kIdeoSpace = "\xe3\x80\x80";  // U+3000, White_Space
const std::string kCapitalEAcute = "\xc3\x89";  // U+00C9

constexpr char kBadEmail[] =
    "<invalid: Enter an email address like name@example.org.>";

// ----------------------------------------------------------- predicates ----

TEST(IsSlug, AcceptsLowerCaseLettersDigitsAndInnerHyphensUpTo63) {
  EXPECT_TRUE(IsSlug("pp-2026"));
  EXPECT_TRUE(IsSlug("a"));
  EXPECT_TRUE(IsSlug("0"));
  EXPECT_TRUE(IsSlug("a--b"));
  EXPECT_TRUE(IsSlug(std::string(63, 'a')));
  EXPECT_FALSE(IsSlug(""));
  EXPECT_FALSE(IsSlug(std::string(64, 'a')));
  EXPECT_FALSE(IsSlug("-a"));
  EXPECT_FALSE(IsSlug("a-"));
  EXPECT_FALSE(IsSlug("-"));
  EXPECT_FALSE(IsSlug("Pp-2026"));
  EXPECT_FALSE(IsSlug("a_b"));
  EXPECT_FALSE(IsSlug("a b"));
  EXPECT_FALSE(IsSlug("caf\xc3\xa9"));
}

TEST(IsRequestId, AcceptsPrintableAsciiWithoutSpaceUpTo128) {
  EXPECT_TRUE(IsRequestId("0b5e0c2e-7c1f-4bb5-9a0e-1d2f3a4b5c6d"));
  EXPECT_TRUE(IsRequestId("!"));  // 0x21
  EXPECT_TRUE(IsRequestId("~"));  // 0x7E
  EXPECT_TRUE(IsRequestId(std::string(128, 'x')));
  EXPECT_FALSE(IsRequestId(""));
  EXPECT_FALSE(IsRequestId(std::string(129, 'x')));
  EXPECT_FALSE(IsRequestId("a b"));  // 0x20
  EXPECT_FALSE(IsRequestId("a\x7f"));
  EXPECT_FALSE(IsRequestId("a\tb"));
  EXPECT_FALSE(IsRequestId("caf\xc3\xa9"));
}

TEST(IsCountryCode, AcceptsTheAssignedCodesAndXkInEitherCase) {
  for (const char* code : {"CH", "ch", "cH", "BR", "US", "GB", "XK", "xk", "SS",
                           "BQ", "CW", "SX", "AX", "ZW", "AD"}) {
    EXPECT_TRUE(IsCountryCode(code)) << code;
  }
  // Reserved, withdrawn, user-assigned or simply unassigned.
  for (const char* code : {"UK", "EU", "AN", "YU", "CS", "ZZ", "XX", "AA", "QZ",
                           "EZ", "UN", "AC", "TA", "IC", "DD"}) {
    EXPECT_FALSE(IsCountryCode(code)) << code;
  }
  for (const char* code :
       {"", "C", "CHE", " CH", "CH ", "C1", "12", "\xc3\x87H"}) {
    EXPECT_FALSE(IsCountryCode(code)) << code;
  }
}

TEST(IsCountryCode, AcceptsExactly250OfThe676LetterPairs) {
  int accepted = 0;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) {
      const std::string code{a, b};
      accepted += IsCountryCode(code);
      // Case never matters.
      EXPECT_EQ(IsCountryCode(code),
                IsCountryCode(std::string{static_cast<char>(a + 32),
                                          static_cast<char>(b + 32)}));
    }
  }
  EXPECT_EQ(accepted, 249 + 1);  // ISO 3166-1 assigned codes + XK
}

TEST(NormalizeOrganization, TrimsAndCollapsesEveryKindOfWhitespace) {
  EXPECT_EQ(NormalizeOrganization("ITU"), "ITU");
  EXPECT_EQ(NormalizeOrganization("  ITU  "), "ITU");
  EXPECT_EQ(NormalizeOrganization("International   Telecommunication Union"),
            "International Telecommunication Union");
  // NBSP, em space, ideographic space: one ASCII space each run.
  EXPECT_EQ(
      NormalizeOrganization(absl::StrCat(kNbsp, "Ministry", kNbsp, kEmSpace,
                                         "of", kIdeoSpace, "Finance", kNbsp)),
      "Ministry of Finance");
  EXPECT_EQ(NormalizeOrganization("\t\n "), "");
  EXPECT_EQ(NormalizeOrganization(""), "");
}

TEST(OrganizationKey, LowerCasesAsciiLettersOfTheNormalizedForm) {
  EXPECT_EQ(OrganizationKey("ITU"), "itu");
  EXPECT_EQ(OrganizationKey("  Itu\xc2\xa0 Geneva "), "itu geneva");
  // Only ASCII letters are folded: non-ASCII capitals stay as they are.
  EXPECT_EQ(OrganizationKey(absl::StrCat(kCapitalEAcute, "COLE Polytechnique")),
            absl::StrCat(kCapitalEAcute, "cole polytechnique"));
  EXPECT_EQ(OrganizationKey(""), "");
  EXPECT_EQ(OrganizationKey(OrganizationKey(" A  B ")),
            OrganizationKey(" A  B "));
}

// -------------------------------------------------------- Register: OK ----

TEST(ValidateRegisterRequest, NormalizesAGoodRequest) {
  v1::RegisterRequest r = GoodRequest();
  v1::Attendee* a = r.mutable_attendee();
  a->set_email("  Ann.Lee@Example.ORG\n");
  a->set_full_name("\t Ann  Lee \xc2\xa0");
  a->set_organization("  International  Telecommunication\tUnion ");
  a->set_country_code("ch");
  // The inner tab in the organization is a control character: rejected.
  EXPECT_THAT(Fields(ValidateRegisterRequest(r).status()),
              ElementsAre("attendee.organization"));

  a->set_organization("  International   Telecommunication\xc2\xa0Union ");
  absl::StatusOr<NormalizedAttendee> out = ValidateRegisterRequest(r);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->email, "Ann.Lee@example.org");
  EXPECT_EQ(out->full_name, "Ann  Lee");  // trimmed only, inner spaces kept
  EXPECT_EQ(out->organization, "International Telecommunication Union");
  EXPECT_EQ(out->organization_key, "international telecommunication union");
  EXPECT_EQ(out->country_code, "CH");
}

TEST(ValidateRegisterRequest, OrganizationIsOptional) {
  for (const char* empty : {"", "   ", "\xc2\xa0\t\n"}) {
    absl::StatusOr<NormalizedAttendee> out =
        ValidateRegisterRequest(WithOrganization(empty));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->organization, "");
    EXPECT_EQ(out->organization_key, "");
  }
}

TEST(ValidateRegisterRequest, AcceptsNamesInAnyScript) {
  for (const char* name : {"\xe6\x9d\x8e\xe5\xb0\x8f\xe9\xbe\x8d",  // 李小龍
                           "Zo\xc3\xab O'Brien-Smith",
                           "\xd0\x90\xd0\xbd\xd0\xbd\xd0\xb0",  // Анна
                           "\xf0\x9f\x99\x82 Emoji Fan",        // U+1F642
                           "A"}) {
    absl::StatusOr<NormalizedAttendee> out =
        ValidateRegisterRequest(WithName(name));
    ASSERT_TRUE(out.ok()) << name << ": " << out.status();
    EXPECT_EQ(out->full_name, name);
  }
}

// ------------------------------------------------------------ identifiers ----

TEST(ValidateRegisterRequest, ChecksRequestEventAndTicketTypeIds) {
  v1::RegisterRequest r = GoodRequest();
  r.set_request_id(std::string(128, '~'));
  r.set_event_id(std::string(63, 'e'));
  r.set_ticket_type_id("t");
  EXPECT_TRUE(ValidateRegisterRequest(r).ok());

  r.set_request_id(std::string(129, '~'));
  EXPECT_THAT(OnlyViolation(ValidateRegisterRequest(r).status(), "request_id"),
              HasSubstr("1-128 printable ASCII"));
  r.set_request_id("has space");
  EXPECT_THAT(Fields(ValidateRegisterRequest(r).status()),
              ElementsAre("request_id"));
  r.set_request_id("ok");

  r.set_event_id(std::string(64, 'e'));
  EXPECT_THAT(OnlyViolation(ValidateRegisterRequest(r).status(), "event_id"),
              HasSubstr("1-63 lower-case letters"));
  r.set_event_id("PP-2026");
  EXPECT_THAT(Fields(ValidateRegisterRequest(r).status()),
              ElementsAre("event_id"));
  r.set_event_id("pp-2026");

  r.set_ticket_type_id("delegate-");
  EXPECT_THAT(Fields(ValidateRegisterRequest(r).status()),
              ElementsAre("ticket_type_id"));
}

TEST(ValidateRegisterRequest, MissingIdsSayWhatToDo) {
  v1::RegisterRequest r = GoodRequest();
  r.clear_request_id();
  r.clear_event_id();
  r.clear_ticket_type_id();
  const absl::Status s = ValidateRegisterRequest(r).status();
  const std::vector<FieldViolation> v = GetFieldViolations(s);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].field, "request_id");
  EXPECT_THAT(v[0].description, HasSubstr("request ID"));
  EXPECT_EQ(v[1].field, "event_id");
  EXPECT_EQ(v[1].description, "Choose an event.");
  EXPECT_EQ(v[2].field, "ticket_type_id");
  EXPECT_EQ(v[2].description, "Choose a ticket type.");
}

// ------------------------------------------------------------------ email ----

TEST(Email, AcceptsDotAtomLocalPartsAndKeepsTheirCase) {
  EXPECT_EQ(EmailResult("a@b.co"), "a@b.co");
  EXPECT_EQ(EmailResult("Ann.Lee@Example.ORG"), "Ann.Lee@example.org");
  EXPECT_EQ(EmailResult("!#$%&'*+/=?^_`{|}~-@example.org"),
            "!#$%&'*+/=?^_`{|}~-@example.org");
  EXPECT_EQ(EmailResult("first.middle.last+tag@sub.example.co.uk"),
            "first.middle.last+tag@sub.example.co.uk");
  EXPECT_EQ(EmailResult("x@xn--bcher-kva.example"), "x@xn--bcher-kva.example");
  EXPECT_EQ(EmailResult("x@a-b.c0m"), "x@a-b.c0m");
  EXPECT_EQ(EmailResult("x@123.456"), "x@123.456");
}

TEST(Email, TrimsSurroundingWhitespaceOnly) {
  EXPECT_EQ(EmailResult(" \t a@b.co \r\n"), "a@b.co");
  EXPECT_EQ(EmailResult(absl::StrCat(kNbsp, "a@b.co", kIdeoSpace)), "a@b.co");
  EXPECT_EQ(EmailResult("a @b.co"), kBadEmail);
  EXPECT_EQ(EmailResult("a@b .co"), kBadEmail);
}

TEST(Email, RejectsWhatIsNotLocalAtDomain) {
  for (const char* bad : {"plainaddress",
                          "@example.org",
                          "ann@",
                          "ann@@example.org",
                          "ann@x@example.org",
                          ".ann@example.org",
                          "ann.@example.org",
                          "ann..lee@example.org",
                          "\"ann lee\"@example.org",
                          "ann(comment)@example.org",
                          "ann@[192.0.2.1]",
                          "ann@localhost",
                          "ann@example.",
                          "ann@.example.org",
                          "ann@example..org",
                          "ann@example.org.",
                          "ann@-example.org",
                          "ann@example-.org",
                          "ann@ex_ample.org",
                          "ann@exa mple.org",
                          "jos\xc3\xa9@example.org",
                          "ann@m\xc3\xbcller.example",
                          "ann,lee@example.org",
                          "ann@example.org,bob@example.org",
                          "ann\x01@example.org"}) {
    EXPECT_EQ(EmailResult(bad), kBadEmail) << bad;
  }
}

TEST(Email, IsAtMost254CharactersAfterTrimming) {
  // 64 + 1 + 189 = 254.
  const std::string local(64, 'l');
  const std::string ok = absl::StrCat(local, "@", DomainOfLength(189));
  ASSERT_EQ(ok.size(), 254u);
  EXPECT_EQ(EmailResult(ok), ok);
  EXPECT_EQ(EmailResult(absl::StrCat("  ", ok, "  ")), ok);

  const std::string too_long = absl::StrCat(local, "@", DomainOfLength(190));
  ASSERT_EQ(too_long.size(), 255u);
  EXPECT_EQ(EmailResult(too_long),
            "<invalid: This email address is too long: use at most 254 "
            "characters.>");
}

TEST(Email, LocalPartIsAtMost64Characters) {
  EXPECT_EQ(EmailResult(absl::StrCat(std::string(64, 'l'), "@example.org")),
            absl::StrCat(std::string(64, 'l'), "@example.org"));
  EXPECT_EQ(EmailResult(absl::StrCat(std::string(65, 'l'), "@example.org")),
            "<invalid: The part of the email address before the @ is too "
            "long: use at most 64 characters.>");
}

TEST(Email, DomainLabelsAreAtMost63Characters) {
  const std::string ok = absl::StrCat("a@", std::string(63, 'd'), ".org");
  EXPECT_EQ(EmailResult(ok), ok);
  EXPECT_EQ(EmailResult(absl::StrCat("a@", std::string(64, 'd'), ".org")),
            kBadEmail);
}

TEST(Email, EmptyOrBlankIsMissing) {
  EXPECT_EQ(EmailResult(""), "<invalid: Enter an email address.>");
  EXPECT_EQ(EmailResult(" \t "), "<invalid: Enter an email address.>");
}

// -------------------------------------------------------------- full_name ----

TEST(FullName, IsRequired) {
  for (const char* blank : {"", "   ", "\t\n", "\xc2\xa0"}) {
    EXPECT_EQ(OnlyViolation(ValidateRegisterRequest(WithName(blank)).status(),
                            "attendee.full_name"),
              "Enter a full name.")
        << blank;
  }
}

TEST(FullName, IsAtMost200CodePointsNotBytes) {
  const std::string e_acute = "\xc3\xa9";        // 2 bytes
  const std::string han = "\xe6\x9d\x8e";        // 3 bytes
  const std::string emoji = "\xf0\x9f\x99\x82";  // 4 bytes
  for (const std::string& unit : {std::string("x"), e_acute, han, emoji}) {
    const std::string ok = Repeat(unit, 200);
    absl::StatusOr<NormalizedAttendee> out =
        ValidateRegisterRequest(WithName(ok));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->full_name, ok);
    // Surrounding whitespace does not count.
    EXPECT_TRUE(ValidateRegisterRequest(WithName("  " + ok + " ")).ok());

    EXPECT_EQ(OnlyViolation(
                  ValidateRegisterRequest(WithName(Repeat(unit, 201))).status(),
                  "attendee.full_name"),
              "The full name is too long: use at most 200 characters.");
  }
}

TEST(FullName, RejectsControlCharactersAndLineSeparators) {
  for (const char* bad : {"Ann\x01Lee", "Ann\tLee", "Ann\nLee", "Ann\rLee",
                          "Ann\x1f", "Ann\x7f", "Ann\xc2\x80",  // U+0080
                          "Ann\xc2\x85Lee",                     // U+0085 NEL
                          "Ann\xc2\x9f",                        // U+009F
                          "Ann\xe2\x80\xa8Lee",                 // U+2028
                          "Ann\xe2\x80\xa9Lee"}) {              // U+2029
    EXPECT_EQ(OnlyViolation(ValidateRegisterRequest(WithName(bad)).status(),
                            "attendee.full_name"),
              "The full name cannot contain line breaks, tabs or other "
              "control characters.")
        << bad;
  }
  const std::string with_nul("Ann\0Lee", 7);
  EXPECT_THAT(Fields(ValidateRegisterRequest(WithName(with_nul)).status()),
              ElementsAre("attendee.full_name"));
  // Just outside the ranges: fine.
  for (const char* ok : {"Ann\xc2\xa0Lee",      // U+00A0
                         "Ann\xe2\x80\xa7Lee",  // U+2027
                         "Ann\xe2\x80\xaaLee",  // U+202A
                         "Ann~Lee"}) {          // U+007E
    EXPECT_TRUE(ValidateRegisterRequest(WithName(ok)).ok()) << ok;
  }
}

TEST(FullName, MustBeValidUtf8) {
  for (const char* bad : {"Ann\xff", "Ann\xc3", "\xc0\xaf", "\xe0\x80\xaf",
                          "\xed\xa0\x80",      // a surrogate
                          "\xf4\x90\x80\x80",  // past U+10FFFF
                          "Ann\x80Lee"}) {
    EXPECT_EQ(OnlyViolation(ValidateRegisterRequest(WithName(bad)).status(),
                            "attendee.full_name"),
              "The full name is not valid UTF-8 text.")
        << bad;
  }
}

// ----------------------------------------------------------- organization ----

TEST(Organization, IsAtMost200CodePointsAfterCollapsing) {
  const std::string ok = Repeat("\xc3\xa9", 200);
  EXPECT_TRUE(ValidateRegisterRequest(WithOrganization(ok)).ok());
  EXPECT_EQ(
      OnlyViolation(
          ValidateRegisterRequest(WithOrganization(ok + "\xc3\xa9")).status(),
          "attendee.organization"),
      "The organization is too long: use at most 200 characters.");
  // 100 words of one letter: 199 characters once the double spaces between
  // them collapse, although 298 as sent.
  const std::string spaced = Repeat("a  ", 99) + "a";
  absl::StatusOr<NormalizedAttendee> out =
      ValidateRegisterRequest(WithOrganization(spaced));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->organization.size(), 199u);
}

TEST(Organization, FollowsTheFullNameCharacterRules) {
  for (const char* bad :
       {"ITU\tGeneva", "ITU\nGeneva", "ITU\x7f", "ITU\xc2\x85Geneva",
        "ITU\xe2\x80\xa8Geneva", "ITU\xe2\x80\xa9Geneva", "ITU\xff"}) {
    EXPECT_THAT(Fields(ValidateRegisterRequest(WithOrganization(bad)).status()),
                ElementsAre("attendee.organization"))
        << bad;
  }
  // Surrounding whitespace is trimmed first, line breaks included.
  for (const char* ok : {"ITU\n", "\tITU", "ITU\xc2\x85", "\xe2\x80\xa9ITU"}) {
    EXPECT_EQ(ValidateRegisterRequest(WithOrganization(ok))->organization,
              "ITU")
        << ok;
  }
}

TEST(Organization, KeyIsWhatTheQuotaServiceAccepts) {
  for (const std::string& organization : {
           std::string("ITU"), std::string("itu"), std::string(" I T U "),
           std::string("International Telecommunication Union"),
           absl::StrCat("  Ministry", kNbsp, "of", kEmSpace, kEmSpace,
                        "Finance", kIdeoSpace),
           absl::StrCat(kCapitalEAcute, "COLE POLYTECHNIQUE F", kCapitalEAcute,
                        "D", kCapitalEAcute, "RALE"),
           std::string("O'Brien \"&\" Sons / Type:X"),
           std::string("\xe5\x9b\xbd\xe9\x99\x85 \xe7\x94\xb5"),  // 国际 电
           std::string("A"), std::string("0"),
           std::string("x\xf0\x9f\x99\x82y"),  // U+1F642 inside
       }) {
    absl::StatusOr<NormalizedAttendee> out =
        ValidateRegisterRequest(WithOrganization(organization));
    ASSERT_TRUE(out.ok()) << organization << ": " << out.status();
    EXPECT_TRUE(quota::IsOrganizationKey(out->organization_key))
        << "'" << out->organization_key << "'";
    EXPECT_EQ(out->organization_key, OrganizationKey(organization));
    EXPECT_EQ(OrganizationKey(out->organization), out->organization_key);
  }
  // The longest accepted organization is still a key.
  absl::StatusOr<NormalizedAttendee> longest = ValidateRegisterRequest(
      WithOrganization(Repeat("AB ", 66) + "AB"));  // 200 characters
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_TRUE(quota::IsOrganizationKey(longest->organization_key));
}

TEST(Organization, CaseVariantsShareOneKey) {
  const auto key = [](const char* org) {
    return ValidateRegisterRequest(WithOrganization(org))->organization_key;
  };
  EXPECT_EQ(key("ITU"), key("itu"));
  EXPECT_EQ(key("ITU"), key("  Itu "));
  EXPECT_EQ(key("Ministry of Finance"),
            key(absl::StrCat("MINISTRY  OF", kNbsp, "FINANCE").c_str()));
  EXPECT_NE(key("ITU"), key("ITU-D"));
}

// ------------------------------------------------------------ country_code
// ----

TEST(CountryCode, IsUpperCasedOrRejected) {
  EXPECT_EQ(ValidateRegisterRequest(WithCountry("br"))->country_code, "BR");
  EXPECT_EQ(ValidateRegisterRequest(WithCountry("Xk"))->country_code, "XK");
  EXPECT_EQ(OnlyViolation(ValidateRegisterRequest(WithCountry("")).status(),
                          "attendee.country_code"),
            "Choose a country.");
  for (const char* bad : {"UK", "EU", "CHE", "C", " CH", "12"}) {
    EXPECT_EQ(OnlyViolation(ValidateRegisterRequest(WithCountry(bad)).status(),
                            "attendee.country_code"),
              "Choose a country from the list: a two-letter ISO 3166-1 code "
              "such as CH.")
        << bad;
  }
}

// ------------------------------------------------------ several at once ----

TEST(ValidateRegisterRequest, ReportsEveryBadFieldOnceWithReasonInvalidFields) {
  v1::RegisterRequest r;
  r.set_request_id("with space");
  r.set_event_id("-bad");
  r.set_ticket_type_id("Bad");
  v1::Attendee* a = r.mutable_attendee();
  a->set_email("not an email");
  a->set_full_name("Ann\nLee");
  a->set_organization(std::string(201, 'o'));
  a->set_country_code("ZZ");
  const absl::Status s = ValidateRegisterRequest(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(s), "INVALID_FIELDS");
  EXPECT_THAT(Fields(s),
              ElementsAre("request_id", "event_id", "ticket_type_id",
                          "attendee.email", "attendee.full_name",
                          "attendee.organization", "attendee.country_code"));
  for (const FieldViolation& v : GetFieldViolations(s)) {
    EXPECT_THAT(v.description, ::testing::EndsWith(".")) << v.field;
  }
}

TEST(ValidateRegisterRequest, UnsetAttendeeIsOneViolation) {
  v1::RegisterRequest r = GoodRequest();
  r.clear_attendee();
  const absl::Status s = ValidateRegisterRequest(r).status();
  EXPECT_THAT(Fields(s), ElementsAre("attendee"));
  EXPECT_EQ(GetErrorReason(s), "INVALID_FIELDS");
}

TEST(ValidateRegisterRequest, EmptyAttendeeNamesEachRequiredField) {
  v1::RegisterRequest r = GoodRequest();
  r.mutable_attendee()->Clear();
  EXPECT_THAT(Fields(ValidateRegisterRequest(r).status()),
              ElementsAre("attendee.email", "attendee.full_name",
                          "attendee.country_code"));
}

TEST(ValidateRegisterRequest, EmptyRequestNamesEveryRequiredField) {
  EXPECT_THAT(
      Fields(ValidateRegisterRequest(v1::RegisterRequest()).status()),
      ElementsAre("request_id", "event_id", "ticket_type_id", "attendee"));
}

// ===================================================== ValidateNewEvent ====

google::protobuf::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

google::protobuf::Duration Dur(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Duration d;
  d.set_seconds(seconds);
  d.set_nanos(nanos);
  return d;
}

constexpr int64_t kStart = 1'777'881'600;  // 2026-05-04T08:00:00Z

v1::Event GoodEvent() {
  v1::Event e;
  e.set_id("pp-2026");
  e.set_name("Plenipotentiary 2026");
  *e.mutable_starts_at() = At(kStart);
  *e.mutable_ends_at() = At(kStart + int64_t{3} * 86400);
  e.set_time_zone("Europe/Zurich");
  e.set_capacity(1300);
  v1::TicketType* t = e.add_ticket_types();
  t->set_id("delegate");
  t->set_name("Delegate");
  t = e.add_ticket_types();
  t->set_id("speaker");
  t->set_name("Speaker");
  t->set_capacity(50);
  return e;
}

std::string EventViolation(const v1::Event& e, const std::string& field) {
  return OnlyViolation(ValidateNewEvent(e), field);
}

TEST(ValidateNewEvent, AcceptsAGoodEventWithOrWithoutOptionalFields) {
  EXPECT_TRUE(ValidateNewEvent(GoodEvent()).ok());
  v1::Event e = GoodEvent();
  e.clear_id();  // the server assigns one
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  *e.mutable_registration_opens_at() = At(kStart - int64_t{30} * 86400);
  *e.mutable_registration_closes_at() = At(kStart);
  *e.mutable_hold_ttl() = Dur(1800);
  e.set_description("Three days.\nBring your badge.\r\n\tSee you!");
  e.mutable_ticket_types(0)->set_description("For member states.");
  EXPECT_TRUE(ValidateNewEvent(e).ok());
}

TEST(ValidateNewEvent, IgnoresOutputOnlyFields) {
  v1::Event e = GoodEvent();
  e.set_registration_open(true);
  *e.mutable_created_at() = At(0, -5);  // invalid, but not looked at
  *e.mutable_updated_at() = At(-1);
  EXPECT_TRUE(ValidateNewEvent(e).ok());
}

TEST(ValidateNewEvent, NamesFieldsUnderThePrefix) {
  v1::Event e = GoodEvent();
  e.set_capacity(0);
  e.mutable_ticket_types(1)->set_id("Bad");
  EXPECT_THAT(Fields(ValidateNewEvent(e)),
              ElementsAre("event.capacity", "event.ticket_types[1].id"));
  EXPECT_THAT(Fields(ValidateNewEvent(e, "")),
              ElementsAre("capacity", "ticket_types[1].id"));
  EXPECT_THAT(
      Fields(ValidateNewEvent(e, "update.event")),
      ElementsAre("update.event.capacity", "update.event.ticket_types[1].id"));
  EXPECT_EQ(GetErrorReason(ValidateNewEvent(e)), "INVALID_FIELDS");
}

TEST(ValidateNewEvent, IdIsAnOptionalSlug) {
  v1::Event e = GoodEvent();
  e.set_id(std::string(63, 'a'));
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  for (const std::string& bad : {std::string(64, 'a'), std::string("PP-2026"),
                                 std::string("pp_2026"), std::string("-pp")}) {
    e.set_id(bad);
    EXPECT_THAT(EventViolation(e, "event.id"), HasSubstr("leave it empty"));
  }
}

TEST(ValidateNewEvent, NameIs1To200CodePointsWithoutControls) {
  v1::Event e = GoodEvent();
  e.set_name(Repeat("\xc3\xa9", 200));
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  e.set_name(Repeat("\xc3\xa9", 201));
  EXPECT_EQ(EventViolation(e, "event.name"),
            "The event's name is too long: use at most 200 characters.");
  e.set_name("");
  EXPECT_EQ(EventViolation(e, "event.name"), "Enter the event's name.");
  e.set_name("   ");
  EXPECT_EQ(EventViolation(e, "event.name"), "Enter the event's name.");
  for (const char* bad :
       {"PP\n2026", "PP\t2026", "PP\xc2\x85", "PP\xe2\x80\xa8"}) {
    e.set_name(bad);
    EXPECT_THAT(EventViolation(e, "event.name"),
                HasSubstr("control characters"))
        << bad;
  }
}

TEST(ValidateNewEvent, StartAndEndAreRequiredAndOrdered) {
  v1::Event e = GoodEvent();
  *e.mutable_ends_at() = e.starts_at();  // a zero-length event is fine
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  *e.mutable_ends_at() = At(kStart - 1, 999'999'999);  // 1 ns before
  EXPECT_EQ(EventViolation(e, "event.ends_at"),
            "The event cannot end before it starts.");

  e = GoodEvent();
  e.clear_starts_at();
  e.clear_ends_at();
  EXPECT_THAT(Fields(ValidateNewEvent(e)),
              ElementsAre("event.starts_at", "event.ends_at"));
}

TEST(ValidateNewEvent, TimestampsMustBeValid) {
  v1::Event e = GoodEvent();
  *e.mutable_starts_at() = At(kStart, -1);
  EXPECT_THAT(EventViolation(e, "event.starts_at"), HasSubstr("not a valid"));
  e = GoodEvent();
  *e.mutable_ends_at() = At(253'402'300'800);  // year 10000
  EXPECT_THAT(EventViolation(e, "event.ends_at"), HasSubstr("not a valid"));
  e = GoodEvent();
  *e.mutable_registration_opens_at() = At(kStart, 1'000'000'000);
  EXPECT_THAT(EventViolation(e, "event.registration_opens_at"),
              HasSubstr("not a valid"));
  e = GoodEvent();
  *e.mutable_registration_closes_at() = At(-62'135'596'801);  // year 0
  EXPECT_THAT(EventViolation(e, "event.registration_closes_at"),
              HasSubstr("not a valid"));
  *e.mutable_registration_closes_at() = At(-62'135'596'800);  // year 1
  EXPECT_TRUE(ValidateNewEvent(e).ok());
}

TEST(ValidateNewEvent, TimeZoneMustBeAnIanaName) {
  v1::Event e = GoodEvent();
  for (const char* ok : {"Europe/Zurich", "UTC", "Etc/GMT+5", "Asia/Kolkata",
                         "America/Argentina/Buenos_Aires",
                         "America/Port-au-Prince", "America/Sao_Paulo"}) {
    e.set_time_zone(ok);
    EXPECT_TRUE(ValidateNewEvent(e).ok()) << ok;
  }
  e.set_time_zone("");
  EXPECT_EQ(EventViolation(e, "event.time_zone"),
            "Choose the event's time zone, e.g. Europe/Zurich.");
  for (const char* bad : {"Nowhere/Else", "europe/zurich", "Europe/Zurich/",
                          "Europe//Zurich", "/usr/share/zoneinfo/Europe/Zurich",
                          "../zoneinfo/UTC", "localtime", "Fixed/UTC+01:00:00",
                          "posixrules", "+01:00", "CET ", "Europe/Zurich\n"}) {
    e.set_time_zone(bad);
    EXPECT_EQ(EventViolation(e, "event.time_zone"),
              "This is not a known IANA time zone name such as "
              "Europe/Zurich.")
        << bad;
  }
  e.set_time_zone(absl::StrCat("Europe/", std::string(60, 'Z')));
  EXPECT_THAT(Fields(ValidateNewEvent(e)), ElementsAre("event.time_zone"));
}

TEST(ValidateNewEvent, RegistrationClosesAfterItOpens) {
  v1::Event e = GoodEvent();
  *e.mutable_registration_opens_at() = At(kStart - 100);
  *e.mutable_registration_closes_at() = At(kStart - 100, 1);
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  *e.mutable_registration_closes_at() = At(kStart - 100);
  EXPECT_EQ(EventViolation(e, "event.registration_closes_at"),
            "Registration must close after it opens.");
  *e.mutable_registration_closes_at() = At(kStart - 200);
  EXPECT_THAT(Fields(ValidateNewEvent(e)),
              ElementsAre("event.registration_closes_at"));
  // Either one alone is fine.
  e.clear_registration_opens_at();
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  e = GoodEvent();
  *e.mutable_registration_opens_at() = At(kStart + 999);
  EXPECT_TRUE(ValidateNewEvent(e).ok());
}

TEST(ValidateNewEvent, HoldTtlIsFrom1SecondTo7DaysWhenSet) {
  v1::Event e = GoodEvent();
  constexpr int64_t kWeek = int64_t{7} * 86400;
  for (const auto& ok : {Dur(1), Dur(1, 500'000'000), Dur(1800), Dur(kWeek),
                         Dur(kWeek - 1, 999'999'999)}) {
    *e.mutable_hold_ttl() = ok;
    EXPECT_TRUE(ValidateNewEvent(e).ok()) << ok.DebugString();
  }
  for (const auto& bad :
       {Dur(0), Dur(0, 999'999'999), Dur(kWeek, 1), Dur(kWeek + 1), Dur(-1),
        Dur(5, -1), Dur(5, 1'000'000'000)}) {
    *e.mutable_hold_ttl() = bad;
    EXPECT_EQ(EventViolation(e, "event.hold_ttl"),
              "The hold time must be from 1 second to 7 days.")
        << bad.DebugString();
  }
}

TEST(ValidateNewEvent, CapacityIsFrom1To1000000) {
  v1::Event e = GoodEvent();
  for (int32_t ok : {1, 1'000'000}) {
    e.set_capacity(ok);
    EXPECT_TRUE(ValidateNewEvent(e).ok()) << ok;
  }
  for (int32_t bad : {0, -1, 1'000'001}) {
    e.set_capacity(bad);
    EXPECT_EQ(EventViolation(e, "event.capacity"),
              "The capacity must be from 1 to 1,000,000.")
        << bad;
  }
}

TEST(ValidateNewEvent, HasOneTo50TicketTypes) {
  v1::Event e = GoodEvent();
  e.clear_ticket_types();
  EXPECT_EQ(EventViolation(e, "event.ticket_types"),
            "Add at least one ticket type.");
  for (int i = 0; i < 50; ++i) {
    v1::TicketType* t = e.add_ticket_types();
    t->set_id(absl::StrCat("type-", i));
    t->set_name(absl::StrCat("Type ", i));
  }
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  v1::TicketType* extra = e.add_ticket_types();
  extra->set_id("type-0");  // also a duplicate: not examined past 50
  EXPECT_EQ(EventViolation(e, "event.ticket_types"),
            "An event can have at most 50 ticket types.");
}

TEST(ValidateNewEvent, TicketTypeIdsAreRequiredUniqueSlugs) {
  v1::Event e = GoodEvent();
  e.mutable_ticket_types(1)->set_id("delegate");
  EXPECT_EQ(EventViolation(e, "event.ticket_types[1].id"),
            "This ID is already used by event.ticket_types[0]; ticket type "
            "IDs must be unique within the event.");
  e.mutable_ticket_types(1)->clear_id();
  EXPECT_THAT(EventViolation(e, "event.ticket_types[1].id"),
              HasSubstr("Enter the ticket type's ID"));
  e.mutable_ticket_types(1)->set_id("Speaker");
  EXPECT_THAT(EventViolation(e, "event.ticket_types[1].id"),
              HasSubstr("must be 1-63 lower-case"));
}

TEST(ValidateNewEvent, TicketTypeNamesAre1To100CodePoints) {
  v1::Event e = GoodEvent();
  e.mutable_ticket_types(0)->set_name(Repeat("\xe6\x9d\x8e", 100));
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  e.mutable_ticket_types(0)->set_name(Repeat("\xe6\x9d\x8e", 101));
  EXPECT_EQ(EventViolation(e, "event.ticket_types[0].name"),
            "The ticket type's name is too long: use at most 100 characters.");
  e.mutable_ticket_types(0)->set_name("");
  EXPECT_EQ(EventViolation(e, "event.ticket_types[0].name"),
            "Enter the ticket type's name.");
  e.mutable_ticket_types(0)->set_name("Dele\x7fgate");
  EXPECT_THAT(EventViolation(e, "event.ticket_types[0].name"),
              HasSubstr("control characters"));
}

TEST(ValidateNewEvent, TicketTypeCapacityIsFrom0To1000000) {
  v1::Event e = GoodEvent();
  for (int32_t ok : {0, 1, 1'000'000}) {
    e.mutable_ticket_types(1)->set_capacity(ok);
    EXPECT_TRUE(ValidateNewEvent(e).ok()) << ok;
  }
  for (int32_t bad : {-1, 1'000'001}) {
    e.mutable_ticket_types(1)->set_capacity(bad);
    EXPECT_THAT(EventViolation(e, "event.ticket_types[1].capacity"),
                HasSubstr("from 0 (no limit of its own) to 1,000,000"))
        << bad;
  }
}

TEST(ValidateNewEvent, DescriptionsHaveLengthLimitsAndAllowLineBreaks) {
  v1::Event e = GoodEvent();
  e.set_description(Repeat("\xc3\xa9", 5000));
  e.mutable_ticket_types(0)->set_description(Repeat("\xc3\xa9", 2000));
  EXPECT_TRUE(ValidateNewEvent(e).ok());

  e.set_description(Repeat("\xc3\xa9", 5001));
  EXPECT_EQ(EventViolation(e, "event.description"),
            "The description is too long: use at most 5,000 characters.");
  e.set_description("");
  e.mutable_ticket_types(0)->set_description(Repeat("\xc3\xa9", 2001));
  EXPECT_EQ(EventViolation(e, "event.ticket_types[0].description"),
            "The description is too long: use at most 2,000 characters.");

  e.mutable_ticket_types(0)->set_description("Line one\nLine two\r\n\tend");
  EXPECT_TRUE(ValidateNewEvent(e).ok());
  e.set_description(std::string("Nul\0here", 8));
  EXPECT_EQ(EventViolation(e, "event.description"),
            "The description can contain line breaks and tabs but no other "
            "control characters.");
  e.set_description("Bad \xff byte");
  EXPECT_EQ(EventViolation(e, "event.description"),
            "The description is not valid UTF-8 text.");
}

TEST(ValidateNewEvent, ReportsEveryBadFieldAtOnce) {
  v1::Event e;
  e.set_id("Bad Id");
  *e.mutable_registration_opens_at() = At(kStart);
  *e.mutable_registration_closes_at() = At(kStart);
  *e.mutable_hold_ttl() = Dur(0);
  v1::TicketType* t = e.add_ticket_types();
  t->set_capacity(-5);
  t = e.add_ticket_types();
  t->set_id("x");
  t->set_name("X");
  const absl::Status s = ValidateNewEvent(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      Fields(s),
      UnorderedElementsAre(
          "event.id", "event.name", "event.starts_at", "event.ends_at",
          "event.time_zone", "event.registration_closes_at", "event.hold_ttl",
          "event.capacity", "event.ticket_types[0].id",
          "event.ticket_types[0].name", "event.ticket_types[0].capacity"));
}

}  // namespace
}  // namespace admit::registration
