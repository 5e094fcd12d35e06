// The Register flow, without gRPC: event checks, idempotency and the
// duplicate-email pre-check, the quota reservation, the group-commit insert,
// and the answer (registration + manage token).
//
//   validated request
//     -> EventSource: event, ticket type, registration window
//     -> one flow per (event, email) at a time on this replica (later ones
//        wait for it, so a duplicate in flight is found by the pre-check)
//     -> store Lookup (batched per event): same request_id -> the stored
//        answer (REQUEST_ID_REUSED if the request differs); live registration
//        with this email -> ALREADY_EXISTS, before any seat is taken
//     -> quota Reserve, hold_id = HoldIdFor(event, request_id, generation):
//        RESERVED -> PENDING_CONFIRMATION, SOLD_OUT -> WAITLISTED
//     -> RegisterBatcher (one transaction per batch of the event): row +
//        outbox row; conflicts decided under the event's lock
//     -> answer, only after the commit.
//
// Copies of one request (same event and request_id): on one replica the
// later copies wait for the first and get its answer (REQUEST_ID_REUSED if
// their payload differs); across replicas they share one quota hold (the
// hold_id is derived from the request) and the batch's unique check on
// (event, request_id) lets exactly one row in, the others answering from it.
// A hold taken for a request that ends without its own row (lost a race, the
// email was taken, the transaction failed) is recorded as abandoned under the
// event's lock (so no copy's batch stores a row on it afterwards) and then
// released (ABANDONED); except when the transaction's outcome is unknown (the
// row may exist; the hold then expires on its own if it does not).
//
// Thread safety: Register may be called from any thread; `done` runs on a
// store, quota-client or event-source thread and must not block.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRAR_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRAR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/sealer.h"
#include "services/registration/event_source.h"
#include "services/registration/quota_client.h"
#include "services/registration/register_batcher.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

// A validated, normalized Register request.
struct RegisterInput {
  std::string request_id;
  std::string event_id;
  std::string ticket_type_id;
  AttendeeRecord attendee;
};

struct RegisterAnswer {
  RegistrationRecord record;
  // The manage token; "" only if a stored registration's sealed token can no
  // longer be opened (key changed), which is logged.
  std::string manage_token;
  // True when answered from a registration stored earlier (a retry).
  bool replayed = false;
};

// SHA-256 (hex) of the normalized request minus its ids: what must match for
// a retry under the same request_id to be "the same request".
std::string RequestFingerprint(const RegisterInput& input);

// The quota hold id for attempt `generation` (0, 1, ...) of a request:
// "reg-" + 40 hex digits of SHA-256(event, request_id, generation). Every
// copy of a request computes the same ids, so copies share one hold. A
// generation is only moved past when its hold is dead (released by an
// earlier failed attempt, or expired) and no registration owns it.
std::string HoldIdFor(const std::string& event_id,
                      const std::string& request_id, int generation);

// A fresh random lower-case UUID (version 4).
std::string NewRegistrationId();

// The seat-taking decision for an event's settings, pure: OK, or
// TICKET_TYPE_NOT_FOUND, REGISTRATION_NOT_OPEN_YET, REGISTRATION_CLOSED.
// An unset registration_closes_at means ends_at; an unset opens_at, open.
absl::Status CheckOpen(const v1::Event& event,
                       const std::string& ticket_type_id, absl::Time now);

// The hold TTL of an event (30 minutes when unset).
absl::Duration HoldTtl(const v1::Event& event);

struct RegistrarOptions {
  RegisterBatcherOptions batcher;
  // Hold generations tried before giving up with UNAVAILABLE.
  int max_hold_generations = 4;
  // Most distinct requests in flight on this replica; a new one beyond it
  // is answered UNAVAILABLE at once (before any read or seat), so that an
  // overloaded replica sheds load instead of queueing it for seconds.
  // Copies of a request in flight always join it.
  int64_t max_in_flight = 2048;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

class Registrar {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<RegisterAnswer>)>;

  // Every pointer must outlive this object; `metrics` may be null.
  Registrar(EventSource* events, RegistrationStore* store, QuotaClient* quota,
            const crypto::Sealer* sealer, RegistrationMetrics* metrics,
            RegistrarOptions options = {});
  // Waits for every flow and every hold release it started.
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  // Runs the flow above; `done` gets the answer or an error as listed in
  // registration.proto (NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS,
  // INVALID_ARGUMENT REQUEST_ID_REUSED, UNAVAILABLE: retry with the same
  // request_id).
  void Register(RegisterInput input, Done done);

  // The manage token sealed in `record`, or "" (logged) if it cannot be
  // opened.
  std::string OpenToken(const RegistrationRecord& record) const;

  RegisterBatcherStats batcher_stats() const { return batcher_.stats(); }

 private:
  struct Flow;
  struct Waiter {
    std::string fingerprint;
    Done done;
  };
  struct InFlight {
    std::vector<Waiter> waiters;
  };

  void OnEvent(std::shared_ptr<Flow> flow, absl::StatusOr<EventSnapshot> event);
  static std::string EmailKey(const RegisterInput& input);
  void PreCheck(std::shared_ptr<Flow> flow);
  void OnLookup(std::shared_ptr<Flow> flow,
                absl::StatusOr<RegisterLookup> lookup);
  void Reserve(std::shared_ptr<Flow> flow);
  void OnReserve(std::shared_ptr<Flow> flow,
                 absl::StatusOr<v1::ReserveResponse> response);
  void Store(std::shared_ptr<Flow> flow);
  void OnInserted(std::shared_ptr<Flow> flow,
                  absl::StatusOr<InsertResult> result);
  // The stored registration as the answer to `flow` (REQUEST_ID_REUSED when
  // the request differs).
  absl::StatusOr<RegisterAnswer> AnswerFrom(const Flow& flow,
                                            const RegistrationRecord& record);
  // Gives `hold_id` up in the background: AbandonHold in the store, then
  // Release (ABANDONED) unless a registration owns it.
  void Abandon(const std::string& event_id, const std::string& hold_id);
  void Finish(std::shared_ptr<Flow> flow,
              absl::StatusOr<RegisterAnswer> answer);
  void Begin();
  void End();

  EventSource* const events_;
  RegistrationStore* const store_;
  QuotaClient* const quota_;
  const crypto::Sealer* const sealer_;
  RegistrationMetrics* const metrics_;
  const RegistrarOptions options_;
  RegisterBatcher batcher_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  // Requests being processed on this replica, by event + '\n' + request_id.
  std::map<std::string, InFlight> in_flight_;
  // (event, email) of the flows past their event check on this replica, by
  // event + '\n' + email, with the flows of the same email waiting for
  // their turn (in arrival order).
  std::map<std::string, std::deque<std::shared_ptr<Flow>>> by_email_;
  int64_t active_ = 0;  // flows and releases not yet finished
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRAR_H_
