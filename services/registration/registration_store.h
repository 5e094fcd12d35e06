// Storage of registrations: the records, and the interface the registration
// flow and the register batcher use (PgRegistrationStore implements it on
// Postgres; tests may fake it).
//
// Every operation is asynchronous: it returns at once and calls `done`
// exactly once, on a thread the store owns (or on the calling thread when the
// operation cannot even start, e.g. "database busy"). `done` must not block.
// Every successful write is committed before `done` runs.
// Errors common to every operation:
//   UNAVAILABLE       the database is unreachable or busy; nothing changed.
//   UNKNOWN           the connection broke during the commit: it may or may
//                     not have happened.
//   ABORTED           a conflict survived the store's own retries.
//   DEADLINE_EXCEEDED a statement ran past the statement timeout.
//   INTERNAL          a bug (unexpected SQL error).
// Thread safety: every method may be called from any thread at any time.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/registration/outbox_payload.h"

namespace admit::registration {

template <typename T>
using StoreCallback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// The values of admit.v1.RegistrationStatus (stored as such).
enum class RegistrationStatus {
  kPendingConfirmation = 1,
  kConfirmed = 2,
  kWaitlisted = 3,
  kCancelled = 4,
  kExpired = 5,
};

// Live = blocks its email within the event (pending, confirmed, waitlisted).
bool IsLive(RegistrationStatus status);

// The normalized attendee as stored.
struct AttendeeRecord {
  std::string email;
  std::string full_name;
  std::string organization;      // display form
  std::string organization_key;  // quota's org:<key>; "" = none
  std::string country_code;
};

// A registration as stored (plus its waitlist position, computed as of the
// read that returned it).
struct RegistrationRecord {
  std::string registration_id;
  std::string event_id;
  std::string ticket_type_id;
  std::string request_id;
  std::string fingerprint;  // see RequestFingerprint (registration_flow.h)
  AttendeeRecord attendee;
  RegistrationStatus status = RegistrationStatus::kPendingConfirmation;
  // While WAITLISTED: the 1-based place among the ticket type's WAITLISTED
  // registrations; 0 otherwise.
  int32_t waitlist_position = 0;
  std::string hold_id;  // "" = no hold was taken
  std::optional<absl::Time> hold_expires_at;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> confirmed_at;
  std::optional<absl::Time> cancelled_at;
  std::optional<absl::Time> expired_at;
  std::string token_hash;    // raw SHA-256 of the manage token
  std::string token_sealed;  // raw sealed token; "" when no longer kept
  std::string ticket_code;   // set while CONFIRMED (ConfirmRegistration)
};

// A registration to insert (status PENDING_CONFIRMATION with a hold, or
// WAITLISTED without one).
struct NewRegistration {
  std::string registration_id;
  std::string event_id;
  std::string ticket_type_id;
  std::string request_id;
  std::string fingerprint;
  AttendeeRecord attendee;
  RegistrationStatus status = RegistrationStatus::kPendingConfirmation;
  std::string hold_id;  // required when pending, "" when waitlisted
  std::optional<absl::Time> hold_expires_at;
  std::string token_hash;
  std::string token_sealed;
  // The event data of its outbox row's payload (OUTBOX.md), from the event
  // snapshot the flow validated.
  OutboxEvent event;
};

// What a batch did with one NewRegistration.
enum class InsertOutcome {
  // Inserted; `record` is the new row (with its waitlist position).
  kInserted,
  // The event already had a registration with this request_id (stored
  // earlier, or by an earlier command of the same batch); `record` is it.
  // The caller compares fingerprints (REQUEST_ID_REUSED when they differ).
  kSameRequest,
  // Another request already holds a live registration of the event for this
  // email (stored, or an earlier command of the batch); nothing inserted,
  // `record` is empty.
  kEmailTaken,
};

struct InsertResult {
  InsertOutcome outcome = InsertOutcome::kInserted;
  RegistrationRecord record;
};
// (A per-command error, e.g. ABORTED for an abandoned hold, is carried as a
// non-OK entry of InsertBatch's result vector.)

// The pre-check of Register: one indexed read, no lock.
struct RegisterLookup {
  // The event's registration with this request_id, if any.
  std::optional<RegistrationRecord> same_request;
  // Whether the event has a live registration for this email under
  // another request_id.
  bool email_taken = false;
};

struct CancelResult {
  RegistrationRecord record;  // after the call
  // The status before the call (== record.status when nothing changed:
  // CANCELLED or EXPIRED already).
  RegistrationStatus previous = RegistrationStatus::kCancelled;
};

class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;

  // The pre-check of Register for (event, request_id, email).
  virtual void Lookup(std::string event_id, std::string request_id,
                      std::string email,
                      StoreCallback<RegisterLookup> done) = 0;

  // Inserts `registrations` (all of `event_id`, in arrival order) in ONE
  // transaction, together with one outbox row each (kind "confirmation",
  // reason "registered" for pending; "waitlist", reason "waitlisted" for
  // waitlisted; payload v1 of OUTBOX.md): locks the event's counter row
  // (creating it on first use), reads the registrations that conflict on
  // (event, request_id) or (event, email) among live ones, decides each
  // command in order (InsertOutcome), hands waitlisted ones gap-free
  // sequence numbers per ticket type, and inserts the rest with one
  // statement. A pending command whose hold was abandoned (AbandonHold) is
  // answered ABORTED (its client retries and gets a new hold); the others
  // are unaffected. Returns one InsertResult per command, in order; on error
  // nothing was inserted (except UNKNOWN: maybe all of it).
  virtual void InsertBatch(
      std::string event_id, std::vector<NewRegistration> registrations,
      StoreCallback<std::vector<absl::StatusOr<InsertResult>>> done) = 0;

  // The registration, or NOT_FOUND (reason REGISTRATION_NOT_FOUND).
  virtual void Get(std::string registration_id,
                   StoreCallback<RegistrationRecord> done) = 0;

  // PENDING_CONFIRMATION, WAITLISTED or CONFIRMED -> CANCELLED (a
  // waitlisted one leaves its ticket type's waitlist count); CANCELLED and
  // EXPIRED are returned unchanged. NOT_FOUND as Get. Releasing the hold is
  // the caller's job (the quota service is not this store's).
  virtual void Cancel(std::string registration_id,
                      StoreCallback<CancelResult> done) = 0;

  // Records that the caller gives up `hold_id` (its insert failed) so that
  // no batch stores a registration on it from now on, unless a registration
  // already owns it. Returns true when the caller may release the hold
  // (recorded), false when a registration owns it (keep it). Runs under the
  // event's lock, like InsertBatch.
  virtual void AbandonHold(std::string event_id, std::string hold_id,
                           StoreCallback<bool> done) = 0;

  // Registrations WAITLISTED now per ticket type of the event (counter
  // rows, not a scan); types with none may be missing.
  virtual void WaitlistCounts(
      std::string event_id,
      StoreCallback<std::map<std::string, int32_t>> done) = 0;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_STORE_H_
