// Request validation for the quota service. Pure: no gRPC, no database.
//
// Every function returns OK or INVALID_ARGUMENT carrying a google.rpc
// BadRequest with one field violation per bad field (admit::FieldViolation),
// `field` being the request field's path as written in quota.proto
// ("ttl", "set[2].capacity", "remove[0].organization"), plus ErrorInfo
// reason INVALID_FIELDS. All violations are reported, not just the first.
// What needs the database (a first SetQuotas without the EVENT quota, a
// capacity below use) is checked by the store.
#ifndef ADMIT_SERVICES_QUOTA_VALIDATION_H_
#define ADMIT_SERVICES_QUOTA_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/status/status.h"
#include "services/quota/model.h"

namespace admit::quota {

// event_id / ticket_type_id: 1-63 of [a-z0-9-], not starting or ending
// with '-'.
bool IsSlug(std::string_view text);
// hold_id: 1-128 printable ASCII characters (0x20-0x7E).
bool IsHoldId(std::string_view text);
// An organization match key: valid UTF-8, 1-200 code points, no control
// characters (Cc, U+2028, U+2029), already normalized (no leading or
// trailing space, no run of two spaces, no upper-case ASCII letter). Empty
// is not an organization key (callers treat empty as "none").
bool IsOrganizationKey(std::string_view text);

// Appends the violations of `key` to `out`, with field paths under `path`
// ("set[0].key" -> "set[0].key.kind").
void ValidateQuotaKey(const QuotaKey& key, const std::string& path,
                      std::vector<FieldViolation>& out);

absl::Status ValidateReserve(const ReserveCommand& command);
// For Commit, Release and GetHold (field "hold_id").
absl::Status ValidateHoldId(std::string_view hold_id);
// For GetUsage (field "event_id").
absl::Status ValidateEventId(std::string_view event_id);
// Keys well formed, capacities in [0, 1,000,000], no key twice across set
// and remove, the EVENT quota not removed.
absl::Status ValidateSetQuotas(const SetQuotasCommand& command);

// INVALID_ARGUMENT + BadRequest(violations) + ErrorInfo INVALID_FIELDS.
absl::Status InvalidFields(std::vector<FieldViolation> violations);

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_VALIDATION_H_
