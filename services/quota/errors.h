// The quota service's domain errors: absl::Status values with the code and
// google.rpc details the contract (quota.proto) promises. The gRPC adapter
// converts them with admit::ToGrpcStatus and nothing else.
#ifndef ADMIT_SERVICES_QUOTA_ERRORS_H_
#define ADMIT_SERVICES_QUOTA_ERRORS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/quota/model.h"

namespace admit::quota {

// NOT_FOUND, reason EVENT_NOT_FOUND: the event has no quotas.
absl::Status EventNotFoundError(const std::string& event_id);
// NOT_FOUND, reason HOLD_NOT_FOUND.
absl::Status HoldNotFoundError(const std::string& hold_id);
// FAILED_PRECONDITION, reason HOLD_EXPIRED.
absl::Status HoldExpiredError(const std::string& hold_id);
// FAILED_PRECONDITION, reason HOLD_RELEASED.
absl::Status HoldReleasedError(const std::string& hold_id);
// INVALID_ARGUMENT, reason REQUEST_ID_REUSED, field violation on hold_id.
absl::Status HoldIdReusedError(const std::string& hold_id);
// INVALID_ARGUMENT (INVALID_FIELDS) on "set": a first SetQuotas without the
// EVENT quota.
absl::Status EventQuotaRequiredError();

// One quota whose new capacity is below its use.
struct CapacityViolation {
  QuotaKey key;
  int32_t capacity = 0;  // the requested capacity
  int32_t held = 0;
  int32_t sold = 0;
};
// FAILED_PRECONDITION, reason CAPACITY_BELOW_USAGE, with a
// google.rpc.PreconditionFailure: one violation per quota, type "CAPACITY",
// subject the key's text form, description with the figures.
absl::Status CapacityBelowUsageError(
    const std::vector<CapacityViolation>& violations);

// The google.rpc.PreconditionFailure violations attached by
// CapacityBelowUsageError, as (subject, description) pairs (tests).
std::vector<std::pair<std::string, std::string>> GetPreconditionViolations(
    const absl::Status& status);

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_ERRORS_H_
