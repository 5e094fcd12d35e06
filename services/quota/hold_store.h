// Storage of quotas and holds: the interface the service, the reservation
// batcher and the sweeper use, and that PgHoldStore implements on Postgres.
//
// Every operation is asynchronous: it returns at once and calls `done`
// exactly once, on a thread the store owns (or on the calling thread when the
// operation cannot even start, e.g. "database busy"). So gRPC handlers can
// call it without blocking. `done` must not block for long.
//
// Every successful answer is durable (committed) before `done` runs.
// Errors common to every operation:
//   UNAVAILABLE       the database is unreachable or busy; nothing changed.
//   UNKNOWN           the connection broke during the commit: it may or may
//                     not have happened. Every operation is idempotent, so
//                     retrying with the same arguments is safe either way.
//   ABORTED           a conflict survived the store's own retries.
//   DEADLINE_EXCEEDED a statement ran past the statement timeout.
//   INTERNAL          a bug (unexpected SQL error).
// Thread safety: every method may be called from any thread at any time.
#ifndef ADMIT_SERVICES_QUOTA_HOLD_STORE_H_
#define ADMIT_SERVICES_QUOTA_HOLD_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/quota/model.h"

namespace admit::quota {

template <typename T>
using StoreCallback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// A quota of an event, after a change, for the remaining-seats gauge.
struct TouchedQuota {
  std::string event_id;
  QuotaUsage usage;
};

struct ReserveBatchResult {
  // One per command, in the order given: a ReserveResult, or a per-request
  // error (REQUEST_ID_REUSED).
  std::vector<absl::StatusOr<ReserveResult>> results;
  // Every quota row the batch locked, as it is after the batch.
  std::vector<TouchedQuota> touched;
};

struct HoldChange {
  Hold hold;
  // Quotas whose use changed, after the change; empty when nothing changed.
  std::vector<TouchedQuota> touched;
  // The call found a HELD hold past expires_at and ended it EXPIRED.
  bool expired_now = false;
};

struct SweepResult {
  int64_t expired = 0;  // holds ended EXPIRED by this call
  std::vector<TouchedQuota> touched;
};

class HoldStore {
 public:
  virtual ~HoldStore() = default;

  // Applies `command` (validated with ValidateSetQuotas) all or nothing and
  // returns every quota of the event with its use. A quota created by the
  // call starts with the seats of the event's live holds (HELD or COMMITTED)
  // it applies to, which from then on also draw from it. Errors:
  // INVALID_ARGUMENT (EventQuotaRequiredError), FAILED_PRECONDITION
  // (CapacityBelowUsageError).
  virtual void SetQuotas(SetQuotasCommand command,
                         StoreCallback<EventUsage> done) = 0;

  // Decides and records `commands` (validated, all for `event_id`, in arrival
  // order) in ONE transaction: locks the event's quota rows the batch draws
  // from, answers commands whose hold_id exists from the stored hold
  // (existing = true, or REQUEST_ID_REUSED when it was for another request),
  // admits the others in order with DecideBatch, inserts the new holds
  // (HELD, expires_at = database now() + ttl) and adds their seats to the
  // quotas. Commands repeating a hold_id of an earlier command of the batch
  // get that command's answer (or REQUEST_ID_REUSED). Batch-wide errors
  // (every command failed the same way): NOT_FOUND (EventNotFoundError) and
  // the common ones.
  virtual void ReserveBatch(std::string event_id,
                            std::vector<ReserveCommand> commands,
                            StoreCallback<ReserveBatchResult> done) = 0;

  // HELD -> COMMITTED (seats move from held to sold). COMMITTED: returned
  // unchanged. Errors: NOT_FOUND (HoldNotFoundError), FAILED_PRECONDITION
  // (HoldExpiredError once expires_at has passed on the database clock;
  // HoldReleasedError).
  virtual void Commit(std::string hold_id, StoreCallback<HoldChange> done) = 0;

  // HELD or COMMITTED -> RELEASED (seats freed); a HELD hold past expires_at
  // -> EXPIRED (seats freed, expired_now); RELEASED/EXPIRED: unchanged; an
  // unknown id is recorded RELEASED with no event ("burned").
  virtual void Release(std::string hold_id, ReleaseReason reason,
                       StoreCallback<HoldChange> done) = 0;

  // Errors: NOT_FOUND (HoldNotFoundError).
  virtual void GetHold(std::string hold_id, StoreCallback<Hold> done) = 0;

  // Errors: NOT_FOUND (EventNotFoundError).
  virtual void GetUsage(std::string event_id,
                        StoreCallback<EventUsage> done) = 0;

  // Ends up to `limit` HELD holds whose expires_at has passed (database
  // clock) as EXPIRED and frees their seats, in one transaction. Safe to run
  // concurrently from several replicas: holds another transaction has locked
  // are skipped (FOR UPDATE SKIP LOCKED), so no two sweepers take the same
  // hold and none waits for another.
  virtual void ExpireDue(int limit, StoreCallback<SweepResult> done) = 0;
};

}  // namespace admit::quota

#endif  // ADMIT_SERVICES_QUOTA_HOLD_STORE_H_
