#include "services/quota/validation.h"

#include <cstdint>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace admit::quota {
namespace {

bool IsSlugChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Decodes one UTF-8 code point at text[i]; advances i. Returns false on an
// invalid sequence (overlong forms, surrogates and values past U+10FFFF
// included).
bool NextCodePoint(std::string_view text, size_t& i, uint32_t& cp) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  unsigned char b0 = byte(i);
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
    unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return false;
  }
  i += len;
  return true;
}

bool IsControl(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
         cp == 0x2029;
}

constexpr char kSlugRule[] =
    "must be 1-63 characters of lower-case letters, digits and '-', not "
    "starting or ending with '-'";
constexpr char kOrganizationRule[] =
    "must be an organization match key: 1-200 characters, valid UTF-8, no "
    "control characters, trimmed, single spaces, ASCII letters lower-cased";

}  // namespace

bool IsSlug(std::string_view text) {
  if (text.empty() || text.size() > kMaxSlugLength) return false;
  if (text.front() == '-' || text.back() == '-') return false;
  for (char c : text) {
    if (!IsSlugChar(c)) return false;
  }
  return true;
}

bool IsHoldId(std::string_view text) {
  if (text.empty() || text.size() > kMaxHoldIdLength) return false;
  for (char c : text) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

bool IsOrganizationKey(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return false;
  size_t i = 0;
  size_t count = 0;
  uint32_t previous = 0;
  while (i < text.size()) {
    uint32_t cp;
    if (!NextCodePoint(text, i, cp)) return false;
    if (IsControl(cp)) return false;
    if (cp >= 'A' && cp <= 'Z') return false;
    if (cp == ' ' && previous == ' ') return false;
    previous = cp;
    if (++count > kMaxOrganizationLength) return false;
  }
  return true;
}

absl::Status InvalidFields(std::vector<FieldViolation> violations) {
  return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                       "INVALID_FIELDS");
}

void ValidateQuotaKey(const QuotaKey& key, const std::string& path,
                      std::vector<FieldViolation>& out) {
  const std::string prefix = path.empty() ? "" : absl::StrCat(path, ".");
  const auto field = [&](const char* name) {
    return absl::StrCat(prefix, name);
  };
  switch (key.kind) {
    case QuotaKind::kEvent:
      if (!key.ticket_type_id.empty()) {
        out.push_back(
            {field("ticket_type_id"), "must be empty for QUOTA_KIND_EVENT"});
      }
      if (!key.organization.empty()) {
        out.push_back(
            {field("organization"), "must be empty for QUOTA_KIND_EVENT"});
      }
      return;
    case QuotaKind::kTicketType:
      if (!IsSlug(key.ticket_type_id)) {
        out.push_back({field("ticket_type_id"),
                       absl::StrCat("is required for QUOTA_KIND_TICKET_TYPE "
                                    "and ",
                                    kSlugRule)});
      }
      if (!key.organization.empty()) {
        out.push_back({field("organization"),
                       "must be empty for QUOTA_KIND_TICKET_TYPE"});
      }
      return;
    case QuotaKind::kOrganization:
      if (!IsOrganizationKey(key.organization)) {
        out.push_back({field("organization"),
                       absl::StrCat("is required for QUOTA_KIND_ORGANIZATION "
                                    "and ",
                                    kOrganizationRule)});
      }
      if (!key.ticket_type_id.empty() && !IsSlug(key.ticket_type_id)) {
        out.push_back({field("ticket_type_id"), kSlugRule});
      }
      return;
  }
  out.push_back({field("kind"),
                 "must be QUOTA_KIND_EVENT, QUOTA_KIND_TICKET_TYPE or "
                 "QUOTA_KIND_ORGANIZATION"});
}

absl::Status ValidateReserve(const ReserveCommand& command) {
  std::vector<FieldViolation> v;
  if (!IsHoldId(command.hold_id)) {
    v.push_back({"hold_id", "is required: 1-128 printable ASCII characters"});
  }
  if (!IsSlug(command.event_id)) {
    v.push_back({"event_id", absl::StrCat("is required and ", kSlugRule)});
  }
  if (!IsSlug(command.ticket_type_id)) {
    v.push_back(
        {"ticket_type_id", absl::StrCat("is required and ", kSlugRule)});
  }
  if (!command.organization.empty() &&
      !IsOrganizationKey(command.organization)) {
    v.push_back({"organization", kOrganizationRule});
  }
  if (!command.ttl.has_value() || *command.ttl < kMinTtl ||
      *command.ttl > kMaxTtl) {
    v.push_back({"ttl", "is required: a duration from 1s to 7 days"});
  }
  if (v.empty()) return absl::OkStatus();
  return InvalidFields(std::move(v));
}

absl::Status ValidateHoldId(std::string_view hold_id) {
  if (IsHoldId(hold_id)) return absl::OkStatus();
  return InvalidFields(
      {{"hold_id", "is required: 1-128 printable ASCII characters"}});
}

absl::Status ValidateEventId(std::string_view event_id) {
  if (IsSlug(event_id)) return absl::OkStatus();
  return InvalidFields(
      {{"event_id", absl::StrCat("is required and ", kSlugRule)}});
}

absl::Status ValidateSetQuotas(const SetQuotasCommand& command) {
  std::vector<FieldViolation> v;
  if (!IsSlug(command.event_id)) {
    v.push_back({"event_id", absl::StrCat("is required and ", kSlugRule)});
  }
  // Where each key was first seen, to name duplicates.
  std::map<QuotaKey, std::string> seen;
  for (size_t i = 0; i < command.set.size(); ++i) {
    const QuotaLimit& limit = command.set[i];
    const std::string path = absl::StrCat("set[", i, "]");
    const size_t before = v.size();
    ValidateQuotaKey(limit.key, absl::StrCat(path, ".key"), v);
    if (limit.capacity < 0 || limit.capacity > kMaxCapacity) {
      v.push_back(
          {absl::StrCat(path, ".capacity"), "must be from 0 to 1,000,000"});
    }
    if (v.size() != before) continue;
    auto [it, inserted] = seen.emplace(limit.key, path);
    if (!inserted) {
      v.push_back({absl::StrCat(path, ".key"),
                   absl::StrCat("quota ", limit.key.Text(), " is also in ",
                                it->second)});
    }
  }
  for (size_t i = 0; i < command.remove.size(); ++i) {
    const QuotaKey& key = command.remove[i];
    const std::string path = absl::StrCat("remove[", i, "]");
    const size_t before = v.size();
    ValidateQuotaKey(key, path, v);
    if (v.size() != before) continue;
    if (key.kind == QuotaKind::kEvent) {
      v.push_back(
          {absl::StrCat(path, ".kind"), "the event quota cannot be removed"});
      continue;
    }
    auto [it, inserted] = seen.emplace(key, path);
    if (!inserted) {
      v.push_back({path, absl::StrCat("quota ", key.Text(), " is also in ",
                                      it->second)});
    }
  }
  if (v.empty()) return absl::OkStatus();
  return InvalidFields(std::move(v));
}

}  // namespace admit::quota
