// The quota service's domain metrics, on the server's Prometheus registry.
//
//   admit_quota_remaining{event,quota}          gauge: capacity - held - sold
//       of one quota as this replica last saw it (after each reservation
//       batch, commit, release, sweep, SetQuotas and GetUsage).
//   admit_quota_reserve_batch_size              histogram: reservations per
//       group-commit transaction.
//   admit_quota_reservations_total{outcome}     counter: Reserve answers by
//       outcome: reserved (a new hold), existing (a retry answered from the
//       stored hold), sold_out, error.
//   admit_quota_holds_expired_total             counter: holds this replica
//       ended EXPIRED (sweeper, or Release of a lapsed hold).
//
// Labels carry event ids and quota text forms ("org:<organization>" for an
// allotment: an organization's name, never a person's). Cardinality is the
// number of quotas organizers configured.
// Thread safety: every method may be called from any thread.
#ifndef ADMIT_SERVICES_QUOTA_QUOTA_METRICS_H_
#define ADMIT_SERVICES_QUOTA_QUOTA_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/quota/hold_store.h"

namespace admit::quota {

class QuotaMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit QuotaMetrics(prometheus::Registry& registry);
  QuotaMetrics(const QuotaMetrics&) = delete;
  QuotaMetrics& operator=(const QuotaMetrics&) = delete;

  void ObserveBatch(size_t size);
  void CountReserved() { reserved_->Increment(); }
  void CountExisting() { existing_->Increment(); }
  void CountSoldOut() { sold_out_->Increment(); }
  void CountError() { error_->Increment(); }
  void CountExpired(int64_t n);

  void SetRemaining(const std::string& event_id, const QuotaUsage& usage);
  void SetRemaining(const std::vector<TouchedQuota>& touched);
  // Makes the event's series exactly `quotas` (after SetQuotas or GetUsage):
  // series of quotas no longer there are removed.
  void SetEventQuotas(const std::string& event_id,
                      const std::vector<QuotaUsage>& quotas);

 private:
  prometheus::Family<prometheus::Gauge>& remaining_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Histogram* batch_size_histogram_;
  prometheus::Family<prometheus::Counter>& reservations_;
  prometheus::Counter* reserved_;
  prometheus::Counter* existing_;
  prometheus::Counter* sold_out_;
  prometheus::Counter* error_;
  prometheus::Counter* expired_;

  std::mutex mu_;
  // event_id -> quota text -> its series in remaining_.
  std::map<std::string, std::map<std::string, prometheus::Gauge*>> series_;
};

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_QUOTA_METRICS_H_
