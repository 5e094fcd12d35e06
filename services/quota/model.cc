#include "services/quota/model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace admit::quota {

QuotaKey QuotaKey::Event() { return QuotaKey{QuotaKind::kEvent, "", ""}; }

QuotaKey QuotaKey::TicketType(std::string ticket_type_id) {
  return QuotaKey{QuotaKind::kTicketType, std::move(ticket_type_id), ""};
}

QuotaKey QuotaKey::Organization(std::string organization,
                                std::string ticket_type_id) {
  return QuotaKey{QuotaKind::kOrganization, std::move(ticket_type_id),
                  std::move(organization)};
}

std::string QuotaKey::Text() const {
  switch (kind) {
    case QuotaKind::kEvent:
      return "event";
    case QuotaKind::kTicketType:
      return absl::StrCat("type:", ticket_type_id);
    case QuotaKind::kOrganization:
      if (ticket_type_id.empty()) return absl::StrCat("org:", organization);
      return absl::StrCat("org:", organization, "/type:", ticket_type_id);
  }
  return "unknown";
}

std::strong_ordering operator<=>(const QuotaKey& a, const QuotaKey& b) {
  if (a.kind != b.kind) {
    return static_cast<int>(a.kind) < static_cast<int>(b.kind)
               ? std::strong_ordering::less
               : std::strong_ordering::greater;
  }
  if (auto c = a.organization.compare(b.organization); c != 0) {
    return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  auto c = a.ticket_type_id.compare(b.ticket_type_id);
  if (c == 0) return std::strong_ordering::equal;
  return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
}

std::vector<QuotaKey> CandidateKeys(const std::string& ticket_type_id,
                                    const std::string& organization) {
  std::vector<QuotaKey> keys = {QuotaKey::Event(),
                                QuotaKey::TicketType(ticket_type_id)};
  if (!organization.empty()) {
    keys.push_back(QuotaKey::Organization(organization));
    keys.push_back(QuotaKey::Organization(organization, ticket_type_id));
  }
  return keys;
}

int MaskBit(const QuotaKey& key, const std::string& ticket_type_id,
            const std::string& organization) {
  switch (key.kind) {
    case QuotaKind::kEvent:
      return kMaskEvent;
    case QuotaKind::kTicketType:
      return key.ticket_type_id == ticket_type_id ? kMaskTicketType : 0;
    case QuotaKind::kOrganization:
      if (organization.empty() || key.organization != organization) return 0;
      if (key.ticket_type_id.empty()) return kMaskOrganization;
      return key.ticket_type_id == ticket_type_id ? kMaskOrganizationType : 0;
  }
  return 0;
}

std::vector<QuotaKey> KeysFromMask(int mask, const std::string& ticket_type_id,
                                   const std::string& organization) {
  std::vector<QuotaKey> keys;
  if (mask & kMaskEvent) keys.push_back(QuotaKey::Event());
  if (mask & kMaskTicketType) {
    keys.push_back(QuotaKey::TicketType(ticket_type_id));
  }
  if (!organization.empty()) {
    if (mask & kMaskOrganization) {
      keys.push_back(QuotaKey::Organization(organization));
    }
    if (mask & kMaskOrganizationType) {
      keys.push_back(QuotaKey::Organization(organization, ticket_type_id));
    }
  }
  return keys;
}

int32_t QuotaUsage::remaining() const {
  return std::max<int32_t>(0, capacity - held - sold);
}

bool ReserveCommand::SameRequestAs(const Hold& hold) const {
  if (hold.event_id.empty()) return true;  // burned by Release
  return hold.event_id == event_id && hold.ticket_type_id == ticket_type_id &&
         hold.organization == organization;
}

}  // namespace admit::quota
