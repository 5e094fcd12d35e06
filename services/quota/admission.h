// The batch admission decision: which reservations of a batch get a seat.
// Pure: no gRPC, no database. The Postgres store calls it inside the batch's
// transaction, with the batch's quota rows locked, so the figures it decides
// on are exact.
#ifndef ADMIT_SERVICES_QUOTA_ADMISSION_H_
#define ADMIT_SERVICES_QUOTA_ADMISSION_H_

#include <map>
#include <string>
#include <vector>

#include "services/quota/model.h"

namespace admit::quota {

// One reservation to decide: the quotas it draws from (those of
// CandidateKeys that exist; see ApplicableQuotas).
struct AdmissionRequest {
  std::vector<QuotaKey> quotas;
};

struct AdmissionDecision {
  bool admitted = false;
  // When not admitted: each of the request's quotas that had no room at its
  // turn, canonical order.
  std::vector<QuotaKey> full_quotas;
};

// The quotas in `existing` that a reservation for (ticket_type_id,
// organization) draws from, canonical order.
std::vector<QuotaKey> ApplicableQuotas(
    const std::map<QuotaKey, QuotaUsage>& existing,
    const std::string& ticket_type_id, const std::string& organization);

// Decides `requests` in order (arrival order): request i is admitted when
// every one of its quotas still has room (capacity - held - sold >= 1) after
// the requests admitted before it; then each of its quotas gets held + 1 in
// `quotas`. All or nothing per request: a request that does not fit changes
// nothing, and a later one that fits may still be admitted (e.g. another
// ticket type). A key missing from `quotas` is a caller bug and is ignored.
// Returns one decision per request, in order.
std::vector<AdmissionDecision> DecideBatch(
    std::map<QuotaKey, QuotaUsage>& quotas,
    const std::vector<AdmissionRequest>& requests);

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_ADMISSION_H_
