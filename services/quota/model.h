// The quota service's domain model: quota keys, quotas with their use, holds,
// and the commands the service executes. Pure values: no gRPC, no pqxx.
//
// Capacity model (see proto/admit/v1/quota.proto for the contract):
//   - every event has one EVENT quota (its total);
//   - a ticket type may have a TICKET_TYPE quota of its own;
//   - an organization may have an ORGANIZATION allotment, event-wide and/or
//     for one ticket type.
// A reservation for (ticket type T, organization O) draws one seat from each
// of "event", "type:T", "org:O", "org:O/type:T" that exists (CandidateKeys),
// all or nothing.
#ifndef ADMIT_SERVICES_QUOTA_MODEL_H_
#define ADMIT_SERVICES_QUOTA_MODEL_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace admit::quota {

// Values are the wire values of admit.v1.QuotaKind (and the `kind` column).
enum class QuotaKind : int { kEvent = 1, kTicketType = 2, kOrganization = 3 };

// Names one quota within an event.
//
// Canonical order (operator<=>): kind, then organization, then
// ticket_type_id. It is the order GetUsage lists quotas in, and the order
// every transaction locks an event's quota rows in (the EVENT quota first),
// which is what keeps concurrent transactions from deadlocking.
struct QuotaKey {
  QuotaKind kind = QuotaKind::kEvent;
  std::string
      ticket_type_id;  // kTicketType; kOrganization for a per-type allotment
  std::string organization;  // kOrganization only

  static QuotaKey Event();
  static QuotaKey TicketType(std::string ticket_type_id);
  static QuotaKey Organization(std::string organization,
                               std::string ticket_type_id = "");

  // "event", "type:<id>", "org:<org>", "org:<org>/type:<id>": the `quota`
  // metric label, PreconditionFailure subjects, logs. Not a unique encoding
  // when an organization contains "/type:"; never parse it back.
  std::string Text() const;

  friend std::strong_ordering operator<=>(const QuotaKey& a, const QuotaKey& b);
  friend bool operator==(const QuotaKey& a, const QuotaKey& b) = default;
};

// The keys a reservation for (ticket_type_id, organization) draws from when
// they exist, in canonical order: event, type:T, then (organization not
// empty) org:O, org:O/type:T.
std::vector<QuotaKey> CandidateKeys(const std::string& ticket_type_id,
                                    const std::string& organization);

// Which candidate keys (CandidateKeys order) a hold drew from, as a bit set:
// the `quota_mask` column. Lets a hold name its quotas exactly without
// storing keys.
inline constexpr int kMaskEvent = 1;
inline constexpr int kMaskTicketType = 2;
inline constexpr int kMaskOrganization = 4;
inline constexpr int kMaskOrganizationType = 8;

// The mask bit of `key` among the candidates of (ticket type, organization);
// 0 when the key is not one of them.
int MaskBit(const QuotaKey& key, const std::string& ticket_type_id,
            const std::string& organization);
// The keys of `mask`'s bits, in canonical order.
std::vector<QuotaKey> KeysFromMask(int mask, const std::string& ticket_type_id,
                                   const std::string& organization);

// A quota's capacity and use. Invariant kept by every writer (and by a CHECK
// constraint in the database): 0 <= held, 0 <= sold, held + sold <= capacity.
struct QuotaUsage {
  QuotaKey key;
  int32_t capacity = 0;
  int32_t held = 0;
  int32_t sold = 0;

  // capacity - held - sold, never below 0.
  int32_t remaining() const;
};

// Values are the wire values of admit.v1.HoldState.
enum class HoldState : int {
  kHeld = 1,
  kCommitted = 2,
  kReleased = 3,
  kExpired = 4,
};

// Values are the wire values of admit.v1.ReleaseReason.
enum class ReleaseReason : int {
  kUnspecified = 0,
  kCancelled = 1,
  kAbandoned = 2,
};

// A hold as callers see it. A HELD hold whose expires_at has passed is
// reported as EXPIRED (ended_at = expires_at) even before the sweeper has
// returned its seats: it can no longer be committed.
struct Hold {
  std::string hold_id;
  std::string event_id;  // empty for an id burned by Release before any Reserve
  std::string ticket_type_id;
  std::string organization;
  HoldState state = HoldState::kHeld;
  std::vector<QuotaKey> quotas;  // canonical order
  absl::Time created_at;
  std::optional<absl::Time> expires_at;  // unset only for burned ids
  std::optional<absl::Time> committed_at;
  std::optional<absl::Time> ended_at;
  ReleaseReason release_reason = ReleaseReason::kUnspecified;

  // HELD and COMMITTED holds own a seat in each of `quotas`.
  bool OwnsSeat() const {
    return state == HoldState::kHeld || state == HoldState::kCommitted;
  }
};

// Reserve's input. `ttl` is nullopt when the request had none or a malformed
// one (validation rejects it).
struct ReserveCommand {
  std::string hold_id;
  std::string event_id;
  std::string ticket_type_id;
  std::string organization;
  std::optional<absl::Duration> ttl;

  // Whether `hold` was reserved with the same event, ticket type and
  // organization (a retry), as opposed to a reuse of the id for another
  // request. A burned id (empty event) matches any request.
  bool SameRequestAs(const Hold& hold) const;
};

enum class ReserveOutcome { kReserved, kSoldOut };

struct ReserveResult {
  ReserveOutcome outcome = ReserveOutcome::kSoldOut;
  // kReserved: the hold (new, or an earlier one under the same id).
  Hold hold;
  // kSoldOut: the applicable quotas that had no room, canonical order.
  std::vector<QuotaKey> full_quotas;
  // kReserved: true when the hold already existed (no seat was taken now).
  bool existing = false;
};

struct QuotaLimit {
  QuotaKey key;
  int32_t capacity = 0;
};

// SetQuotas' input: upserts `set`, removes `remove`, all or nothing.
struct SetQuotasCommand {
  std::string event_id;
  std::vector<QuotaLimit> set;
  std::vector<QuotaKey> remove;
};

// Every quota of an event, consistent as of `as_of` (database time).
struct EventUsage {
  std::string event_id;
  std::vector<QuotaUsage> quotas;  // canonical order
  absl::Time as_of;
};

// Limits of the contract.
inline constexpr int32_t kMaxCapacity = 1'000'000;
inline constexpr absl::Duration kMinTtl = absl::Seconds(1);
inline constexpr absl::Duration kMaxTtl = absl::Hours(24 * 7);
inline constexpr size_t kMaxHoldIdLength = 128;
inline constexpr size_t kMaxOrganizationLength = 200;  // code points
inline constexpr size_t kMaxSlugLength = 63;

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_MODEL_H_
