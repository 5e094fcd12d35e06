// Per-replica group commit of new registrations.
//
// The registrations of one event that are ready to be stored (their quota
// answer is in) queue here; while one batch of that event is in its
// transaction, newcomers wait; when it finishes, everything that arrived
// meanwhile (up to max_batch, in arrival order) becomes the next batch: one
// RegistrationStore::InsertBatch transaction that locks the event's counter
// row once, checks the unique keys, hands out waitlist positions and inserts
// every row with one statement. No timer: a lone registration is sent at
// once as a batch of one; batches grow only while the database is the
// bottleneck. Events are independent (one batch in flight per event per
// replica); other replicas batch on their own and the event's counter row
// orders their batches. The same scheme as the quota service's
// ReserveBatcher (services/quota/README.md).
//
// Pure: no gRPC, no database (the store does the I/O).
// Thread safety: Insert() may be called from any thread. `done` callbacks
// run on the store's threads (or on the caller's thread when the request is
// refused at once) and must not block.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTER_BATCHER_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTER_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

struct RegisterBatcherOptions {
  // Most registrations inserted in one transaction.
  int max_batch = 128;
  // Most registrations waiting (not yet in a transaction) across all events;
  // beyond it Insert answers UNAVAILABLE at once, so an overloaded replica
  // sheds load instead of queueing past every deadline.
  int64_t max_pending = 20000;
};

struct RegisterBatcherStats {
  int64_t batches = 0;        // transactions started
  int64_t registrations = 0;  // commands sent in them
  int64_t largest_batch = 0;
  int64_t pending = 0;    // waiting now
  int64_t in_flight = 0;  // batches in a transaction now
};

class RegisterBatcher {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<InsertResult>)>;
  // Called with the size of every batch sent (metrics); may be empty.
  using BatchObserver = std::function<void(size_t)>;

  // `store` must outlive this object.
  RegisterBatcher(RegistrationStore* store, RegisterBatcherOptions options = {},
                  BatchObserver observer = nullptr);
  // Waits until no batch is in flight (their callbacks use this object).
  ~RegisterBatcher();
  RegisterBatcher(const RegisterBatcher&) = delete;
  RegisterBatcher& operator=(const RegisterBatcher&) = delete;

  // Queues `registration` and calls `done` exactly once with its
  // InsertResult or per-registration error (ABORTED: abandoned hold), the
  // batch's error (UNAVAILABLE, UNKNOWN, ...), or
  // UNAVAILABLE when max_pending registrations are already waiting.
  void Insert(NewRegistration registration, Done done);

  // Blocks until nothing is waiting or in flight.
  void WaitIdle();

  RegisterBatcherStats stats() const;

 private:
  struct Pending {
    NewRegistration registration;
    Done done;
  };
  struct EventQueue {
    std::deque<Pending> waiting;
  };

  std::vector<Pending> TakeLocked(EventQueue& queue);
  void Dispatch(const std::string& event_id, std::vector<Pending> batch);
  void OnBatchDone(
      const std::string& event_id, std::vector<Pending> batch,
      absl::StatusOr<std::vector<absl::StatusOr<InsertResult>>> result);

  RegistrationStore* const store_;
  const RegisterBatcherOptions options_;
  const BatchObserver observer_;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  // Events with a batch in flight (and their waiting registrations).
  std::map<std::string, EventQueue> queues_;
  int64_t callbacks_running_ = 0;  // OnBatchDone calls not yet returned
  RegisterBatcherStats stats_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTER_BATCHER_H_
