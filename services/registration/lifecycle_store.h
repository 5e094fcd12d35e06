// The registration lifecycle's writes after Register, on Postgres (schema
// `registration`): confirmation, resend of the confirmation email, expiry of
// lapsed holds and waitlist promotion. The quota calls that must agree with
// a row change (Commit on confirmation, Reserve on promotion) are made
// inside the transaction that changes the row, while its lock is held: the
// pool thread waits for the quota answer. Quota calls are idempotent (same
// hold id), so a transaction retried by pg::Transact repeats them safely.
//
// Lock order, as pg_registration_store.h: the event's event_counters row
// first (promotion), then registration rows. Confirm and QueueResend lock
// only the registration row (they change no waitlist); the expiry sweep
// claims rows with FOR UPDATE SKIP LOCKED and so never waits.
//
// Errors common to every operation: as registration_store.h (UNAVAILABLE,
// UNKNOWN, ABORTED, DEADLINE_EXCEEDED, INTERNAL).
// Thread safety: every method may be called from any thread; the blocking
// ones (ExpireBatch, Promote, WaitlistedTypes) never from a pool thread or a
// gRPC thread. The pool and the quota client must outlive the store.
#ifndef ADMIT_SERVICES_REGISTRATION_LIFECYCLE_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_LIFECYCLE_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pg/pool.h"
#include "services/registration/outbox_payload.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

// The hold id of the promotion of `registration_id`, attempt `generation`
// (0, 1, ...): "reg-" + 40 hex digits of SHA-256("promote.v1", id,
// generation). Every promoter computes the same id, so a promotion retried
// (on any replica) after its transaction failed gets the same hold back
// instead of a second seat. A generation is moved past only when its hold is
// dead (released or expired).
std::string PromotionHoldId(const std::string& registration_id, int generation);

struct QueuedEmail {
  RegistrationRecord record;
  int64_t outbox_id = 0;
  absl::Time queued_at;
};

// A registration the expiry sweep marked EXPIRED.
struct ExpiredRegistration {
  std::string registration_id;
  std::string event_id;
  std::string ticket_type_id;
  std::string hold_id;  // "" = none
};

struct PromoteOptions {
  // Most promotions in one transaction (the event's lock is held meanwhile,
  // and Register's batches of the event wait for it).
  int max_per_transaction = 16;
  int max_hold_generations = 4;
};

struct PromoteResult {
  int promoted = 0;
  // True when the pass stopped because it reached max_per_transaction:
  // there may be more to promote (call again).
  bool more = false;
};

class PgLifecycleStore {
 public:
  PgLifecycleStore(pg::Pool* pool, QuotaClient* quota,
                   pg::RetryPolicy retry = {});

  // ConfirmRegistration (lifecycle.proto): locks the row, checks it is
  // PENDING_CONFIRMATION with hold_expires_at in the future, commits its
  // hold through the quota service, and sets CONFIRMED, ticket_code,
  // confirmed_at, hold_expires_at NULL and a `ticket` outbox row (reason
  // "confirmed", payload with `event`) in the same transaction. A CONFIRMED
  // row is returned unchanged. Errors: NOT_FOUND REGISTRATION_NOT_FOUND;
  // FAILED_PRECONDITION REGISTRATION_EXPIRED (EXPIRED, lapsed, or the quota
  // service says the hold expired or was released), REGISTRATION_CANCELLED,
  // REGISTRATION_NOT_PENDING (WAITLISTED); UNAVAILABLE when the quota
  // service cannot decide.
  void Confirm(std::string registration_id, std::string ticket_code,
               OutboxEvent event, StoreCallback<RegistrationRecord> done);

  // QueueConfirmationEmail (lifecycle.proto): locks the row, checks the
  // manage token (`token_hash` = its SHA-256, compared in constant time),
  // that it is PENDING_CONFIRMATION and not lapsed, and that fewer than
  // `max_per_hour` outbox rows of kind `confirmation` with reason "resend"
  // were written for it in the last hour; then writes one (payload with
  // `event`). Errors: NOT_FOUND REGISTRATION_NOT_FOUND (also a wrong token);
  // FAILED_PRECONDITION REGISTRATION_NOT_PENDING / _EXPIRED / _CANCELLED;
  // RESOURCE_EXHAUSTED RATE_LIMITED with RetryInfo = the time until the
  // oldest counted row is an hour old.
  void QueueResend(std::string registration_id, std::string token_hash,
                   int max_per_hour, OutboxEvent event,
                   StoreCallback<QueuedEmail> done);

  // Blocking. Marks up to `limit` PENDING_CONFIRMATION rows whose
  // hold_expires_at has passed EXPIRED (expired_at = now), claiming them
  // with FOR UPDATE SKIP LOCKED (rows another transaction holds, e.g. a
  // Confirm in progress, are left for the next sweep). Releasing their
  // holds is the caller's job.
  absl::StatusOr<std::vector<ExpiredRegistration>> ExpireBatch(int limit);

  // Blocking. One promotion transaction for (event, ticket type): under the
  // event's lock, takes the ticket type's WAITLISTED registrations in
  // waitlist order, reserves a seat for each (PromotionHoldId, `hold_ttl`),
  // and for each reserved one sets PENDING_CONFIRMATION, hold_id,
  // hold_expires_at, decrements waitlisted and writes a `promotion` outbox
  // row (reason "promoted", payload with `event`). Stops at the first
  // sold-out answer, except one refused only by the registration's
  // organization allotment (full_quotas all ORGANIZATION): that one is
  // passed over (it keeps its place) and the next is tried. A quota error
  // stops the pass: what was promoted before it is committed, and the error
  // is returned only when nothing was.
  absl::StatusOr<PromoteResult> Promote(const std::string& event_id,
                                        const std::string& ticket_type_id,
                                        absl::Duration hold_ttl,
                                        const OutboxEvent& event,
                                        const PromoteOptions& options = {});

  // Blocking. The (event_id, ticket_type_id) pairs with waitlisted > 0.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
  WaitlistedTypes();

 private:
  pg::Pool* const pool_;
  QuotaClient* const quota_;
  const pg::RetryPolicy retry_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_LIFECYCLE_STORE_H_
