// The confirmation service's email metrics, on the server's registry.
//
//   admit_emails_sent_total{kind,result}   counter: outbox rows by outcome of
//       a delivery attempt: sent, retry (transient failure, scheduled
//       again), parked (given up: permanent failure, max attempts, bad row).
//       kind is the outbox kind, or "unknown".
//   admit_email_send_seconds               histogram: one SMTP transfer
//       (connection set-up included when there was none).
//   admit_outbox_pending                   gauge: outbox rows not processed.
//   admit_outbox_oldest_age_seconds        gauge: age of the oldest of them
//       (0 when none).
//   admit_outbox_parked                    gauge: deliveries parked.
// The gauges come from a cheap query the drainer runs every few seconds
// (ADMIT_CONFIRMATION_GAUGE_INTERVAL), never from a scrape.
// Thread safety: every method may be called from any thread.
#ifndef ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_METRICS_H_
#define ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_METRICS_H_

#include <cstdint>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace admit::confirmation {

enum class DeliveryResult { kSent = 0, kRetry = 1, kParked = 2 };

class ConfirmationMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit ConfirmationMetrics(prometheus::Registry& registry);
  ConfirmationMetrics(const ConfirmationMetrics&) = delete;
  ConfirmationMetrics& operator=(const ConfirmationMetrics&) = delete;

  // `kind` is an outbox kind; anything else counts as "unknown".
  void Count(std::string_view kind, DeliveryResult result);
  void ObserveSend(double seconds) { send_seconds_->Observe(seconds); }
  void SetBacklog(int64_t pending, double oldest_age_seconds, int64_t parked);

 private:
  // [kind index][result]; kinds: confirmation, promotion, waitlist, ticket,
  // unknown.
  prometheus::Counter* sent_[5][3];
  prometheus::Histogram* send_seconds_;
  prometheus::Gauge* pending_;
  prometheus::Gauge* oldest_age_;
  prometheus::Gauge* parked_;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_METRICS_H_
