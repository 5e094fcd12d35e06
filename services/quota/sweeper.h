// Expires holds: every interval, ends HELD holds whose expires_at has passed
// (database clock) as EXPIRED and returns their seats, batch by batch, until
// none is due. Runs on every replica at once safely: each batch is one
// transaction that takes its holds with FOR UPDATE SKIP LOCKED, so replicas
// split the due holds between them and never wait for each other's holds.
//
// Time: expiry is decided by the database's now(), the same clock Reserve
// used to set expires_at and Commit uses to refuse late commits, so replicas
// with skewed clocks agree. The sweeper's own clock only paces it, which
// is why it needs no injected clock: tests use a short interval and a 1 s
// TTL and wait on the condition.
//
// Thread safety: Start/Stop from one thread; SweepOnce from any thread
// except a pool thread of the store (it blocks).
#ifndef ADMIT_SERVICES_QUOTA_SWEEPER_H_
#define ADMIT_SERVICES_QUOTA_SWEEPER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "services/quota/hold_store.h"
#include "services/quota/quota_metrics.h"

namespace admit::quota {

struct SweeperOptions {
  // Pause between sweeps. Seats of an expired hold are back within
  // ttl + interval (+ the sweep's own duration).
  std::chrono::milliseconds interval{1000};
  // Holds expired per transaction.
  int batch_size = 500;
};

class Sweeper {
 public:
  // `store` must outlive this object; `metrics` may be null.
  Sweeper(HoldStore* store, QuotaMetrics* metrics, SweeperOptions options);
  // Stops the thread if running.
  ~Sweeper();
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Starts the background thread (first sweep at once). Idempotent.
  void Start();
  // Stops it: returns after the sweep in progress, if any, finished.
  // Idempotent.
  void Stop();

  // One sweep now: expires due holds in batches until a batch comes back
  // short. Returns how many holds it expired, or the first error (the
  // background thread logs it and tries again next interval).
  absl::StatusOr<int64_t> SweepOnce();

 private:
  absl::StatusOr<SweepResult> ExpireBatch();
  void Loop();

  HoldStore* const store_;
  QuotaMetrics* const metrics_;
  const SweeperOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_SWEEPER_H_
