// Expires lapsed holds (DESIGN.md, flow 4): every `interval`, one background
// thread per replica marks PENDING_CONFIRMATION registrations whose
// hold_expires_at has passed EXPIRED (PgLifecycleStore::ExpireBatch, batches
// claimed with FOR UPDATE SKIP LOCKED, so replicas sweeping at once split
// the rows), releases their holds through the quota service, and asks the
// promoter to hand the freed seats to the waitlist.
//
// Release reason: quota.proto has no EXPIRED reason. The sweeper releases
// with RELEASE_REASON_ABANDONED ("the caller gave up on the hold"); the
// quota service ends a HELD hold past its expires_at as EXPIRED whatever the
// reason, so the hold's record is right either way. The release is what
// frees the seat at once instead of at the quota service's next sweep; if it
// fails (quota down) it is only logged: the quota sweeper frees the seat
// anyway, and the promoter's periodic pass hands it out then.
//
// Thread safety: SweepOnce() from any thread but a gRPC or pool thread
// (it blocks). The destructor stops the thread.
#ifndef ADMIT_SERVICES_REGISTRATION_EXPIRY_SWEEPER_H_
#define ADMIT_SERVICES_REGISTRATION_EXPIRY_SWEEPER_H_

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/registration/lifecycle_store.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/waitlist_promoter.h"

namespace admit::registration {

struct ExpirySweeperOptions {
  // ADMIT_REGISTRATION_EXPIRY_INTERVAL.
  absl::Duration interval = absl::Seconds(1);
  // Rows per transaction; a full batch is followed by the next at once.
  int batch_size = 256;
  // Counts `expired` per event; may be null.
  RegistrationMetrics* metrics = nullptr;
};

class ExpirySweeper {
 public:
  // `promoter` may be null (no promotion).
  ExpirySweeper(PgLifecycleStore* store, QuotaClient* quota,
                WaitlistPromoter* promoter, ExpirySweeperOptions options = {});
  ~ExpirySweeper();
  ExpirySweeper(const ExpirySweeper&) = delete;
  ExpirySweeper& operator=(const ExpirySweeper&) = delete;

  void Start();
  // One sweep until no lapsed row is left: the number expired by this call.
  absl::StatusOr<int> SweepOnce();

 private:
  void Loop();

  PgLifecycleStore* const store_;
  QuotaClient* const quota_;
  WaitlistPromoter* const promoter_;
  const ExpirySweeperOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EXPIRY_SWEEPER_H_
