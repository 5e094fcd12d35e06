#include "services/quota/quota_metrics.h"

#include <set>

namespace admit::quota {

QuotaMetrics::QuotaMetrics(prometheus::Registry& registry)
    : remaining_(prometheus::BuildGauge()
                     .Name("admit_quota_remaining")
                     .Help("Seats left in a quota (capacity - held - sold), "
                           "as this replica last saw it.")
                     .Register(registry)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("admit_quota_reserve_batch_size")
                      .Help("Reservations decided per group-commit "
                            "transaction.")
                      .Register(registry)),
      batch_size_histogram_(&batch_size_.Add(
          {}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64,
                                                      128, 256})),
      reservations_(prometheus::BuildCounter()
                        .Name("admit_quota_reservations_total")
                        .Help("Reserve answers by outcome (reserved, "
                              "existing, sold_out, error).")
                        .Register(registry)),
      reserved_(&reservations_.Add({{"outcome", "reserved"}})),
      existing_(&reservations_.Add({{"outcome", "existing"}})),
      sold_out_(&reservations_.Add({{"outcome", "sold_out"}})),
      error_(&reservations_.Add({{"outcome", "error"}})),
      expired_(&prometheus::BuildCounter()
                    .Name("admit_quota_holds_expired_total")
                    .Help("Holds this replica ended EXPIRED (sweeper or "
                          "Release of a lapsed hold).")
                    .Register(registry)
                    .Add({})) {}

void QuotaMetrics::ObserveBatch(size_t size) {
  batch_size_histogram_->Observe(static_cast<double>(size));
}

void QuotaMetrics::CountExpired(int64_t n) {
  if (n > 0) expired_->Increment(static_cast<double>(n));
}

void QuotaMetrics::SetRemaining(const std::string& event_id,
                                const QuotaUsage& usage) {
  const std::string text = usage.key.Text();
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Gauge*& gauge = series_[event_id][text];
  if (gauge == nullptr) {
    gauge = &remaining_.Add({{"event", event_id}, {"quota", text}});
  }
  gauge->Set(usage.remaining());
}

void QuotaMetrics::SetRemaining(const std::vector<TouchedQuota>& touched) {
  for (const TouchedQuota& t : touched) SetRemaining(t.event_id, t.usage);
}

void QuotaMetrics::SetEventQuotas(const std::string& event_id,
                                  const std::vector<QuotaUsage>& quotas) {
  std::set<std::string> keep;
  for (const QuotaUsage& q : quotas) keep.insert(q.key.Text());
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& event = series_[event_id];
    for (auto it = event.begin(); it != event.end();) {
      if (keep.contains(it->first)) {
        ++it;
        continue;
      }
      remaining_.Remove(it->second);
      it = event.erase(it);
    }
  }
  for (const QuotaUsage& q : quotas) SetRemaining(event_id, q);
}

}  // namespace admit::quota
