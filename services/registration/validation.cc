#include "services/registration/validation.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace admit::registration {
namespace {

// Debian's abseil is built with its own string_view type rather than
// std::string_view, so views cross into absl through this.
absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// ---------------------------------------------------------------- text ----

// Decodes one UTF-8 code point at text[i] and advances i past it. Returns
// false (i unchanged) on an invalid sequence: overlong forms, surrogates and
// values past U+10FFFF included. Hand-written (as in services/quota) because
// abseil 20220623 has no public UTF-8 decoder.
bool NextCodePoint(std::string_view text, size_t& i, uint32_t& cp) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  const unsigned char b0 = byte(i);
  size_t len;
  uint32_t min;
  if (b0 < 0x80) {
    cp = b0;
    ++i;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return false;
  }
  if (i + len > text.size()) return false;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return false;
  }
  i += len;
  return true;
}

// Unicode's White_Space property (PropList.txt).
bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Category Cc, plus the line and paragraph separators.
bool IsControl(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
         cp == 0x2029;
}

// Calls `f(start, end, cp, valid)` for each code point of `text`; an invalid
// byte is reported as one code point with valid == false.
template <typename F>
void ForEachCodePoint(std::string_view text, F f) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    uint32_t cp = 0;
    const bool valid = NextCodePoint(text, i, cp);
    if (!valid) ++i;
    f(start, i, cp, valid);
  }
}

// `text` without leading and trailing whitespace.
std::string_view TrimWhitespace(std::string_view text) {
  size_t first = text.size();
  size_t last_end = 0;
  ForEachCodePoint(text,
                   [&](size_t start, size_t end, uint32_t cp, bool valid) {
                     if (valid && IsWhitespace(cp)) return;
                     if (first == text.size()) first = start;
                     last_end = end;
                   });
  if (first >= last_end) return {};
  return text.substr(first, last_end - first);
}

// What is wrong with a piece of free text, in the order it is reported.
enum class TextProblem { kNone, kNotUtf8, kControl, kTooLong };

// Checks `text` as it will be stored: valid UTF-8, at most `max_chars` code
// points, and no control character (but tab, LF and CR when
// `allow_line_breaks`).
TextProblem CheckText(std::string_view text, size_t max_chars,
                      bool allow_line_breaks = false) {
  bool utf8 = true;
  bool control = false;
  size_t count = 0;
  ForEachCodePoint(text, [&](size_t, size_t, uint32_t cp, bool valid) {
    ++count;
    if (!valid) {
      utf8 = false;
    } else if (IsControl(cp) && !(allow_line_breaks &&
                                  (cp == '\t' || cp == '\n' || cp == '\r'))) {
      control = true;
    }
  });
  if (!utf8) return TextProblem::kNotUtf8;
  if (control) return TextProblem::kControl;
  if (count > max_chars) return TextProblem::kTooLong;
  return TextProblem::kNone;
}

// ------------------------------------------------------------- email ----

constexpr size_t kMaxEmailLength = 254;
constexpr size_t kMaxLocalPartLength = 64;
constexpr size_t kMaxLabelLength = 63;

enum class EmailProblem { kNone, kTooLong, kLocalPartTooLong, kMalformed };

// RFC 5322 atext.
bool IsAtext(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) !=
             std::string_view::npos;
}

// RFC 5322 dot-atom-text: runs of atext separated by single dots.
bool IsDotAtom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  char previous = '\0';
  for (char c : text) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    previous = c;
  }
  return true;
}

// At least two labels of 1-63 [A-Za-z0-9-], not starting or ending with '-'.
bool IsDomain(std::string_view text) {
  size_t labels = 0;
  for (absl::string_view label : absl::StrSplit(AsAbsl(text), '.')) {
    ++labels;
    if (label.empty() || label.size() > kMaxLabelLength) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return false;
      }
    }
  }
  return labels >= 2;
}

// `email` is already trimmed and not empty.
EmailProblem CheckEmail(std::string_view email) {
  if (email.size() > kMaxEmailLength) return EmailProblem::kTooLong;
  const size_t at = email.find('@');
  if (at == std::string_view::npos) return EmailProblem::kMalformed;
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.size() > kMaxLocalPartLength) {
    return EmailProblem::kLocalPartTooLong;
  }
  // A second '@' fails IsDomain: '@' is not a label character.
  if (!IsDotAtom(local) || !IsDomain(domain)) return EmailProblem::kMalformed;
  return EmailProblem::kNone;
}

// --------------------------------------------------------- countries ----

// ISO 3166-1 alpha-2, officially assigned codes (249, as of 2024; the same
// list as Debian's iso-codes and tzdata's iso3166.tab), plus XK (Kosovo,
// user-assigned but in common use). Sorted, for binary search.
constexpr std::string_view kCountryCodes[] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT",
    "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI",
    "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY",
    "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK",
    "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL",
    "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
    "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
    "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS",
    "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW",
    "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP",
    "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF",
    "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
};
static_assert(std::size(kCountryCodes) == 249 + 1);
static_assert(std::is_sorted(std::begin(kCountryCodes),
                             std::end(kCountryCodes)));

// ------------------------------------------------------- event limits ----

constexpr size_t kMaxRequestIdLength = 128;
constexpr size_t kMaxSlugLength = 63;
constexpr size_t kMaxPersonTextLength = 200;  // full_name, organization
constexpr size_t kMaxEventNameLength = 200;
constexpr size_t kMaxEventDescriptionLength = 5000;
constexpr size_t kMaxTicketTypeNameLength = 100;
constexpr size_t kMaxTicketTypeDescriptionLength = 2000;
constexpr int kMaxTicketTypes = 50;
constexpr int32_t kMaxCapacity = 1'000'000;
constexpr int64_t kMinHoldTtlSeconds = 1;
constexpr int64_t kMaxHoldTtlSeconds = int64_t{7} * 24 * 3600;
// Longer than any IANA name (the longest is 32 characters); bounds what is
// handed to the zone loader.
constexpr size_t kMaxTimeZoneNameLength = 64;

// google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62'135'596'800 && t.seconds() <= 253'402'300'799 &&
         t.nanos() >= 0 && t.nanos() <= 999'999'999;
}

bool Before(const google::protobuf::Timestamp& a,
            const google::protobuf::Timestamp& b) {
  return std::pair(a.seconds(), a.nanos()) < std::pair(b.seconds(), b.nanos());
}

// 1s <= d <= 7 days, and d valid per google.protobuf.Duration (nanos within
// +-999,999,999 and of the same sign as seconds).
bool IsValidHoldTtl(const google::protobuf::Duration& d) {
  if (d.nanos() < 0 || d.nanos() > 999'999'999) return false;  // d > 0 only
  if (d.seconds() < kMinHoldTtlSeconds) return false;
  return d.seconds() < kMaxHoldTtlSeconds ||
         (d.seconds() == kMaxHoldTtlSeconds && d.nanos() == 0);
}

// The shape of an IANA zone name ("Europe/Zurich", "America/Port-au-Prince",
// "Etc/GMT+5", "UTC"): '/'-separated parts, each starting with an
// upper-case letter, then letters, digits, '_', '-', '+'. Checked before
// absl::LoadTimeZone, which would also accept file paths ("/etc/passwd",
// "../x"), "localtime" and "Fixed/UTC+01:00", and which caches every name it
// is asked for, found or not.
bool LooksLikeIanaZoneName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTimeZoneNameLength) return false;
  for (absl::string_view part : absl::StrSplit(AsAbsl(name), '/')) {
    if (part.empty() ||
        !absl::ascii_isupper(static_cast<unsigned char>(part.front()))) {
      return false;
    }
    for (char c : part) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
          c != '-' && c != '+') {
        return false;
      }
    }
  }
  return true;
}

bool IsTimeZone(std::string_view name) {
  absl::TimeZone zone;
  return LooksLikeIanaZoneName(name) &&
         absl::LoadTimeZone(std::string(name), &zone);
}

// ------------------------------------------------------------ messages ----

std::string Path(absl::string_view prefix, absl::string_view field) {
  if (prefix.empty()) return std::string(field);
  return absl::StrCat(prefix, ".", field);
}

constexpr char kSlugShape[] =
    "1-63 lower-case letters, digits and hyphens, not starting or ending "
    "with a hyphen";

// 5000 -> "5,000".
std::string WithThousands(size_t n) {
  std::string digits = absl::StrCat(n);
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

// The sentence for a free-text problem; `what` is "The full name" etc.
std::string TextMessage(TextProblem problem, absl::string_view what,
                        size_t max_chars, bool allow_line_breaks = false) {
  switch (problem) {
    case TextProblem::kNotUtf8:
      return absl::StrCat(what, " is not valid UTF-8 text.");
    case TextProblem::kControl:
      return allow_line_breaks
                 ? absl::StrCat(what,
                                " can contain line breaks and tabs but no "
                                "other control characters.")
                 : absl::StrCat(what,
                                " cannot contain line breaks, tabs or other "
                                "control characters.");
    case TextProblem::kTooLong:
      return absl::StrCat(what, " is too long: use at most ",
                          WithThousands(max_chars), " characters.");
    case TextProblem::kNone:
      break;
  }
  return "";
}

// ---------------------------------------------------- attendee fields ----

// Appends the violation of "attendee.email", or sets `out`.
void CheckAttendeeEmail(std::string_view raw, std::vector<FieldViolation>& v,
                        std::string& out) {
  constexpr char kField[] = "attendee.email";
  const std::string_view email = TrimWhitespace(raw);
  if (email.empty()) {
    v.push_back({kField, "Enter an email address."});
    return;
  }
  switch (CheckEmail(email)) {
    case EmailProblem::kTooLong:
      v.push_back({kField,
                   "This email address is too long: use at most 254 "
                   "characters."});
      return;
    case EmailProblem::kLocalPartTooLong:
      v.push_back({kField,
                   "The part of the email address before the @ is too "
                   "long: use at most 64 characters."});
      return;
    case EmailProblem::kMalformed:
      v.push_back({kField, "Enter an email address like name@example.org."});
      return;
    case EmailProblem::kNone:
      break;
  }
  const size_t at = email.find('@');
  out = absl::StrCat(AsAbsl(email.substr(0, at)), "@",
                     absl::AsciiStrToLower(AsAbsl(email.substr(at + 1))));
}

void CheckAttendeeFullName(std::string_view raw, std::vector<FieldViolation>& v,
                           std::string& out) {
  constexpr char kField[] = "attendee.full_name";
  const std::string_view name = TrimWhitespace(raw);
  if (name.empty()) {
    v.push_back({kField, "Enter a full name."});
    return;
  }
  const TextProblem problem = CheckText(name, kMaxPersonTextLength);
  if (problem != TextProblem::kNone) {
    v.push_back(
        {kField, TextMessage(problem, "The full name", kMaxPersonTextLength)});
    return;
  }
  out = std::string(name);
}

void CheckAttendeeOrganization(std::string_view raw,
                               std::vector<FieldViolation>& v,
                               NormalizedAttendee& out) {
  constexpr char kField[] = "attendee.organization";
  // Characters are checked before whitespace is collapsed, so that an inner
  // tab or line break is reported rather than turned into a space.
  const std::string_view trimmed = TrimWhitespace(raw);
  TextProblem problem = CheckText(trimmed, SIZE_MAX);
  std::string normalized;
  if (problem == TextProblem::kNone) {
    normalized = NormalizeOrganization(trimmed);
    problem = CheckText(normalized, kMaxPersonTextLength);
  }
  if (problem != TextProblem::kNone) {
    v.push_back({kField, TextMessage(problem, "The organization",
                                     kMaxPersonTextLength)});
    return;
  }
  out.organization_key = OrganizationKey(normalized);
  out.organization = std::move(normalized);
}

// ------------------------------------------------------- event fields ----

// Appends a violation when `t` is outside google.protobuf.Timestamp's range.
void CheckTimestamp(const google::protobuf::Timestamp& t,
                    const std::string& field, std::vector<FieldViolation>& v) {
  if (!IsValidTimestamp(t)) {
    v.push_back({field,
                 "This is not a valid time: it must be between the years 1 "
                 "and 9999, with nanos from 0 to 999,999,999."});
  }
}

// A display name: required (not blank), at most `max_chars`, no control
// characters. Stored as given: the proto does not ask for trimming here.
void CheckDisplayName(std::string_view name, size_t max_chars,
                      const std::string& field, absl::string_view what,
                      const char* missing, std::vector<FieldViolation>& v) {
  if (TrimWhitespace(name).empty()) {
    v.push_back({field, missing});
    return;
  }
  const TextProblem problem = CheckText(name, max_chars);
  if (problem != TextProblem::kNone) {
    v.push_back({field, TextMessage(problem, what, max_chars)});
  }
}

void CheckDescription(std::string_view text, size_t max_chars,
                      const std::string& field,
                      std::vector<FieldViolation>& v) {
  const TextProblem problem =
      CheckText(text, max_chars, /*allow_line_breaks=*/true);
  if (problem != TextProblem::kNone) {
    v.push_back({field, TextMessage(problem, "The description", max_chars,
                                    /*allow_line_breaks=*/true)});
  }
}

void CheckTicketTypes(const v1::Event& event, absl::string_view prefix,
                      std::vector<FieldViolation>& v) {
  const std::string list = Path(prefix, "ticket_types");
  const int count = event.ticket_types_size();
  if (count == 0) {
    v.push_back({list, "Add at least one ticket type."});
    return;
  }
  if (count > kMaxTicketTypes) {
    // Not examined one by one: the list has to shrink first anyway, and the
    // violations stay bounded.
    v.push_back({list, "An event can have at most 50 ticket types."});
    return;
  }
  std::map<std::string_view, int> first_index;
  for (int i = 0; i < count; ++i) {
    const v1::TicketType& type = event.ticket_types(i);
    const std::string path = absl::StrCat(list, "[", i, "]");
    const std::string id_field = absl::StrCat(path, ".id");
    if (type.id().empty()) {
      v.push_back({id_field, absl::StrCat("Enter the ticket type's ID: ",
                                          kSlugShape, ".")});
    } else if (!IsSlug(type.id())) {
      v.push_back({id_field, absl::StrCat("The ticket type's ID must be ",
                                          kSlugShape, ".")});
    } else if (auto [it, inserted] = first_index.emplace(type.id(), i);
               !inserted) {
      v.push_back({id_field, absl::StrCat("This ID is already used by ", list,
                                          "[", it->second,
                                          "]; ticket type IDs must be "
                                          "unique within the event.")});
    }
    CheckDisplayName(type.name(), kMaxTicketTypeNameLength,
                     absl::StrCat(path, ".name"), "The ticket type's name",
                     "Enter the ticket type's name.", v);
    if (type.capacity() < 0 || type.capacity() > kMaxCapacity) {
      v.push_back({absl::StrCat(path, ".capacity"),
                   "The capacity must be from 0 (no limit of its own) to "
                   "1,000,000."});
    }
    CheckDescription(type.description(), kMaxTicketTypeDescriptionLength,
                     absl::StrCat(path, ".description"), v);
  }
}

}  // namespace

// ------------------------------------------------------------- public ----

bool IsSlug(std::string_view text) {
  if (text.empty() || text.size() > kMaxSlugLength) return false;
  if (text.front() == '-' || text.back() == '-') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsRequestId(std::string_view text) {
  if (text.empty() || text.size() > kMaxRequestIdLength) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x21 && c <= 0x7E; });
}

bool IsCountryCode(std::string_view text) {
  if (text.size() != 2) return false;
  const char upper[2] = {
      absl::ascii_toupper(static_cast<unsigned char>(text[0])),
      absl::ascii_toupper(static_cast<unsigned char>(text[1]))};
  return std::binary_search(std::begin(kCountryCodes), std::end(kCountryCodes),
                            std::string_view(upper, 2));
}

std::string NormalizeOrganization(std::string_view organization) {
  const std::string_view trimmed = TrimWhitespace(organization);
  std::string out;
  out.reserve(trimmed.size());
  bool in_space = false;
  ForEachCodePoint(trimmed,
                   [&](size_t start, size_t end, uint32_t cp, bool valid) {
                     if (valid && IsWhitespace(cp)) {
                       if (!in_space) out.push_back(' ');
                       in_space = true;
                       return;
                     }
                     in_space = false;
                     out.append(trimmed.substr(start, end - start));
                   });
  return out;
}

std::string OrganizationKey(std::string_view organization) {
  return absl::AsciiStrToLower(NormalizeOrganization(organization));
}

absl::Status InvalidFields(std::vector<FieldViolation> violations) {
  return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                       "INVALID_FIELDS");
}

absl::StatusOr<NormalizedAttendee> ValidateRegisterRequest(
    const v1::RegisterRequest& request) {
  std::vector<FieldViolation> v;
  if (request.request_id().empty()) {
    v.push_back({"request_id",
                 "Send a request ID: generate one per attempt (a random "
                 "UUID) and reuse it on retries."});
  } else if (!IsRequestId(request.request_id())) {
    v.push_back({"request_id",
                 "The request ID must be 1-128 printable ASCII characters, "
                 "without spaces."});
  }
  if (request.event_id().empty()) {
    v.push_back({"event_id", "Choose an event."});
  } else if (!IsSlug(request.event_id())) {
    v.push_back(
        {"event_id", absl::StrCat("The event ID must be ", kSlugShape, ".")});
  }
  if (request.ticket_type_id().empty()) {
    v.push_back({"ticket_type_id", "Choose a ticket type."});
  } else if (!IsSlug(request.ticket_type_id())) {
    v.push_back({"ticket_type_id",
                 absl::StrCat("The ticket type ID must be ", kSlugShape, ".")});
  }

  NormalizedAttendee out;
  if (!request.has_attendee()) {
    v.push_back(
        {"attendee", "Enter the attendee's email address, name and country."});
  } else {
    const v1::Attendee& attendee = request.attendee();
    CheckAttendeeEmail(attendee.email(), v, out.email);
    CheckAttendeeFullName(attendee.full_name(), v, out.full_name);
    CheckAttendeeOrganization(attendee.organization(), v, out);
    if (attendee.country_code().empty()) {
      v.push_back({"attendee.country_code", "Choose a country."});
    } else if (!IsCountryCode(attendee.country_code())) {
      v.push_back({"attendee.country_code",
                   "Choose a country from the list: a two-letter ISO 3166-1 "
                   "code such as CH."});
    } else {
      out.country_code = absl::AsciiStrToUpper(attendee.country_code());
    }
  }
  if (!v.empty()) return InvalidFields(std::move(v));
  return out;
}

absl::Status ValidateNewEvent(const v1::Event& event,
                              absl::string_view field_prefix) {
  const auto field = [&](absl::string_view name) {
    return Path(field_prefix, name);
  };
  std::vector<FieldViolation> v;
  if (!event.id().empty() && !IsSlug(event.id())) {
    v.push_back(
        {field("id"), absl::StrCat("The event ID must be ", kSlugShape,
                                   "; leave it empty to have one assigned.")});
  }
  CheckDisplayName(event.name(), kMaxEventNameLength, field("name"),
                   "The event's name", "Enter the event's name.", v);

  if (!event.has_starts_at()) {
    v.push_back({field("starts_at"), "Set when the event starts."});
  } else {
    CheckTimestamp(event.starts_at(), field("starts_at"), v);
  }
  if (!event.has_ends_at()) {
    v.push_back({field("ends_at"), "Set when the event ends."});
  } else if (!IsValidTimestamp(event.ends_at())) {
    CheckTimestamp(event.ends_at(), field("ends_at"), v);
  } else if (event.has_starts_at() && IsValidTimestamp(event.starts_at()) &&
             Before(event.ends_at(), event.starts_at())) {
    v.push_back({field("ends_at"), "The event cannot end before it starts."});
  }

  if (event.time_zone().empty()) {
    v.push_back({field("time_zone"),
                 "Choose the event's time zone, e.g. Europe/Zurich."});
  } else if (!IsTimeZone(event.time_zone())) {
    v.push_back({field("time_zone"),
                 "This is not a known IANA time zone name such as "
                 "Europe/Zurich."});
  }

  const bool opens_ok = event.has_registration_opens_at() &&
                        IsValidTimestamp(event.registration_opens_at());
  if (event.has_registration_opens_at()) {
    CheckTimestamp(event.registration_opens_at(),
                   field("registration_opens_at"), v);
  }
  if (event.has_registration_closes_at()) {
    if (!IsValidTimestamp(event.registration_closes_at())) {
      CheckTimestamp(event.registration_closes_at(),
                     field("registration_closes_at"), v);
    } else if (opens_ok && !Before(event.registration_opens_at(),
                                   event.registration_closes_at())) {
      v.push_back({field("registration_closes_at"),
                   "Registration must close after it opens."});
    }
  }

  if (event.has_hold_ttl() && !IsValidHoldTtl(event.hold_ttl())) {
    v.push_back(
        {field("hold_ttl"), "The hold time must be from 1 second to 7 days."});
  }
  if (event.capacity() < 1 || event.capacity() > kMaxCapacity) {
    v.push_back(
        {field("capacity"), "The capacity must be from 1 to 1,000,000."});
  }
  CheckTicketTypes(event, field_prefix, v);
  CheckDescription(event.description(), kMaxEventDescriptionLength,
                   field("description"), v);

  if (v.empty()) return absl::OkStatus();
  return InvalidFields(std::move(v));
}

}  // namespace admit::registration
