// The registration service's domain metrics, on the server's Prometheus
// registry.
//
//   admit_registrations_total{event,status}   counter: Register and Cancel
//       outcomes: status pending_confirmation / waitlisted (a new
//       registration), replayed (an idempotent retry answered from the stored
//       one), cancelled (CancelRegistration changed it), expired (the
//       expiry sweeper), promoted (waitlist promotion), confirmed
//       (ConfirmRegistration changed it). Event ids are organizer-chosen
//       slugs; cardinality is events x 7.
//   admit_registration_rejected_total{reason}  counter: Register answers that
//       are errors, by class (invalid, not_found, closed, already_exists,
//       request_id_reused, unavailable, aborted, other).
//   admit_registration_reserve_seconds        histogram: the quota Reserve
//       of one Register, retries included.
//   admit_registration_batch_size             histogram: registrations per
//       group-commit transaction.
//
// No label carries an email, a name or a token.
// Thread safety: every method may be called from any thread.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_METRICS_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_METRICS_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace admit::registration {

class RegistrationMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object.
  explicit RegistrationMetrics(prometheus::Registry& registry);
  RegistrationMetrics(const RegistrationMetrics&) = delete;
  RegistrationMetrics& operator=(const RegistrationMetrics&) = delete;

  // `status`: "pending_confirmation", "waitlisted", "replayed", "cancelled".
  void CountRegistration(const std::string& event_id,
                         const std::string& status);
  // Classifies a Register error (see the header comment).
  void CountRejected(const absl::Status& status);
  void ObserveReserve(double seconds) { reserve_->Observe(seconds); }
  void ObserveBatch(size_t size) { batch_->Observe(static_cast<double>(size)); }

 private:
  prometheus::Family<prometheus::Counter>& registrations_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Histogram* reserve_;
  prometheus::Histogram* batch_;

  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> series_;
  std::map<std::string, prometheus::Counter*> rejected_series_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_METRICS_H_
