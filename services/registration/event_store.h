// Postgres access to events and their ticket types (schema `registration`,
// tables events and ticket_types; see schema/001_events.sql).
//
// Every operation is one transaction run on a pool thread (pg::Pool::Submit,
// READ COMMITTED) and returns at once; `done` is called exactly once, on a
// pool thread (or on the calling thread when the job cannot even be queued:
// "database busy"). So gRPC handlers may call it; `done` must not block.
//
// An event is created in two steps so that Register never sees an event
// whose quotas the quota service does not have (see CreatePending): the row
// is inserted "pending", the caller sets the quotas, then MarkReady. Get
// treats a pending event as absent.
//
// Precision: times are stored with microseconds (Postgres timestamptz), so
// Timestamp nanos are truncated to whole microseconds; hold_ttl is stored in
// whole milliseconds. Events are returned as stored.
//
// Errors common to every operation:
//   UNAVAILABLE       Postgres unreachable or busy; nothing changed.
//   UNKNOWN           the connection broke during the commit (it may have
//                     happened; every operation is safe to retry).
//   DEADLINE_EXCEEDED a statement ran past the statement timeout.
//   INTERNAL          a bug (unexpected SQL error).
//
// Thread safety: every method may be called from any thread at any time.
// The pool must outlive the store.
#ifndef ADMIT_SERVICES_REGISTRATION_EVENT_STORE_H_
#define ADMIT_SERVICES_REGISTRATION_EVENT_STORE_H_

#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admit/v1/common.pb.h"
#include "common/pg/pool.h"
#include "pqxx/transaction_base"
#include "services/registration/event_source.h"

namespace admit::registration {

// NOT_FOUND with ErrorInfo reason EVENT_NOT_FOUND.
absl::Status EventNotFoundError(const std::string& event_id);
// ALREADY_EXISTS with ErrorInfo reason EVENT_ALREADY_EXISTS.
absl::Status EventAlreadyExistsError(const std::string& event_id);

// Converters between proto Timestamp / Duration and absl (the proto must be
// valid: nanos in range).
absl::Time TimeFromProto(const google::protobuf::Timestamp& t);
void TimeToProto(absl::Time t, google::protobuf::Timestamp* out);
absl::Duration DurationFromProto(const google::protobuf::Duration& d);
void DurationToProto(absl::Duration d, google::protobuf::Duration* out);

// The ready event `event_id` with its ticket types as stored, read in `tx`
// (for writers that lock the event row first); nullopt when there is no
// ready event with this id.
std::optional<v1::Event> ReadReadyEvent(pqxx::transaction_base& tx,
                                        const std::string& event_id);

class EventStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

  explicit EventStore(pg::Pool* pool) : pool_(pool) {}

  // Step 1 of a create. `event` must be complete and valid: id set, every
  // default filled in (registration window, hold_ttl), ticket types
  // validated; output-only fields are ignored. `fingerprint` identifies the
  // create request (the same request retried gives the same bytes).
  //
  // Inserts the event and its ticket types, pending, in one transaction, and
  // returns the event as stored (created_at/updated_at set,
  // registration_open false). If the id is taken:
  //   - by a pending event with the same fingerprint (this create, retried
  //     after a failure between the steps): returns that stored event, so
  //     the caller can finish the create (set the quotas, MarkReady);
  //   - otherwise (a ready event, or another request's pending one):
  //     ALREADY_EXISTS, EventAlreadyExistsError.
  void CreatePending(v1::Event event, std::string fingerprint,
                     Callback<v1::Event> done);

  // Step 2: marks the event ready (its quotas are set) and returns it as
  // stored. Idempotent. NOT_FOUND (EventNotFoundError) if there is no such
  // event, pending or ready.
  void MarkReady(std::string event_id, Callback<v1::Event> done);

  // The ready event `event_id` with its ticket types (in display order), as
  // stored; registration_open is false (the caller computes it).
  // NOT_FOUND (EventNotFoundError) if there is no ready event with this id.
  void Get(std::string event_id, Callback<EventSnapshot> done);

 private:
  pg::Pool* const pool_;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_EVENT_STORE_H_
