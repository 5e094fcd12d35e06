// Per-replica group commit of reservations.
//
// Reserve calls for the same event are queued here; while one batch of that
// event is in its transaction, newcomers wait; when it finishes, everything
// that arrived meanwhile (up to max_batch, in arrival order) becomes the next
// batch: one HoldStore::ReserveBatch transaction that locks the event's quota
// rows once, decides every request and updates each quota row once. No timer
// and no artificial delay: a request that finds its event idle is sent at
// once as a batch of one; batches grow only while the database is the
// bottleneck, which is exactly when the per-transaction cost needs sharing.
// Events are independent (one batch in flight per event per replica); other
// replicas batch on their own and Postgres row locks order their batches.
//
// Pure: no gRPC, no database (the store does the I/O).
// Thread safety: Reserve() may be called from any thread. `done` callbacks
// run on the store's threads (or on the caller's thread when the request is
// refused at once) and must not block.
#ifndef ADMIT_SERVICES_QUOTA_RESERVE_BATCHER_H_
#define ADMIT_SERVICES_QUOTA_RESERVE_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/quota/hold_store.h"
#include "services/quota/quota_metrics.h"

namespace admit::quota {

struct ReserveBatcherOptions {
  // Most reservations decided in one transaction.
  int max_batch = 128;
  // Most reservations waiting (not yet in a transaction) across all events;
  // beyond it Reserve answers UNAVAILABLE at once ("replica busy"), so an
  // overloaded replica sheds load instead of queueing past every deadline.
  int64_t max_pending = 20000;
};

struct ReserveBatcherStats {
  int64_t batches = 0;       // transactions started
  int64_t reservations = 0;  // commands sent in them
  int64_t largest_batch = 0;
  int64_t pending = 0;    // waiting now
  int64_t in_flight = 0;  // batches in a transaction now
};

class ReserveBatcher {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<ReserveResult>)>;

  // `store` must outlive this object; `metrics` may be null.
  ReserveBatcher(HoldStore* store, QuotaMetrics* metrics,
                 ReserveBatcherOptions options = {});
  // Waits until no batch is in flight (their callbacks use this object).
  ~ReserveBatcher();
  ReserveBatcher(const ReserveBatcher&) = delete;
  ReserveBatcher& operator=(const ReserveBatcher&) = delete;

  // Queues `command` (validated) and calls `done` exactly once with its
  // answer: the ReserveResult, a per-request error (REQUEST_ID_REUSED), the
  // batch's error (NOT_FOUND, UNAVAILABLE, ...), or UNAVAILABLE when
  // max_pending requests are already waiting.
  void Reserve(ReserveCommand command, Done done);

  // Blocks until nothing is waiting or in flight.
  void WaitIdle();

  ReserveBatcherStats stats() const;

 private:
  struct Pending {
    ReserveCommand command;
    Done done;
  };
  struct EventQueue {
    std::deque<Pending> waiting;
    bool in_flight = false;
  };

  // Moves up to max_batch requests out of `queue` (mu_ held); counts a
  // batch unless `queue` is empty (then returns an empty vector).
  std::vector<Pending> TakeLocked(EventQueue& queue);
  void Dispatch(const std::string& event_id, std::vector<Pending> batch);
  void OnBatchDone(const std::string& event_id, std::vector<Pending> batch,
                   absl::StatusOr<ReserveBatchResult> result);

  HoldStore* const store_;
  QuotaMetrics* const metrics_;
  const ReserveBatcherOptions options_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<std::string, EventQueue> queues_;  // events waiting or in flight
  int64_t callbacks_running_ = 0;  // OnBatchDone calls not yet returned
  ReserveBatcherStats stats_;
};

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_RESERVE_BATCHER_H_
