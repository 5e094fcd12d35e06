#include "services/quota/admission.h"

namespace admit::quota {

std::vector<QuotaKey> ApplicableQuotas(
    const std::map<QuotaKey, QuotaUsage>& existing,
    const std::string& ticket_type_id, const std::string& organization) {
  std::vector<QuotaKey> out;
  for (QuotaKey& key : CandidateKeys(ticket_type_id, organization)) {
    if (existing.contains(key)) out.push_back(std::move(key));
  }
  return out;
}

std::vector<AdmissionDecision> DecideBatch(
    std::map<QuotaKey, QuotaUsage>& quotas,
    const std::vector<AdmissionRequest>& requests) {
  std::vector<AdmissionDecision> decisions(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    AdmissionDecision& decision = decisions[i];
    std::vector<QuotaUsage*> rows;
    for (const QuotaKey& key : requests[i].quotas) {
      auto it = quotas.find(key);
      if (it == quotas.end()) continue;
      QuotaUsage& q = it->second;
      if (static_cast<int64_t>(q.capacity) - q.held - q.sold < 1) {
        decision.full_quotas.push_back(key);
      }
      rows.push_back(&q);
    }
    if (!decision.full_quotas.empty()) continue;
    for (QuotaUsage* q : rows) ++q->held;
    decision.admitted = true;
  }
  return decisions;
}

}  // namespace admit::quota
