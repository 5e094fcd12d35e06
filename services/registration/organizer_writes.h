// OrganizerService's writes after CreateEvent (organizer.proto): UpdateEvent,
// SetAllotment, EraseAttendeeData and CheckIn, each recorded in the audit
// log (audit_log.h) in the transaction of the change. OrganizerService
// delegates these RPCs here (OrganizerService::SetWrites).
//
// Every call: API key first (UNAUTHENTICATED / PERMISSION_DENIED; read-only
// keys may not write), then the request's validation (INVALID_ARGUMENT with
// BadRequest), then one pg::Transact job on the pool; the gRPC thread never
// blocks. The quota calls that must agree with the change (SetQuotas) are
// made from that job while the event row is locked, as lifecycle_store.h
// does for Commit/Reserve: the pool thread waits for the answer (deadline
// quota_timeout), and SetQuotas is declarative, so a retried transaction
// repeats it safely. If the commit itself fails after SetQuotas succeeded
// the quotas are ahead of the event row until the next UpdateEvent (which
// sets them all again); the quota service stays the capacity authority.
//
// UpdateEvent: locks the event row with FOR UPDATE NOWAIT; a concurrent
// UpdateEvent/SetAllotment holding it makes this one ABORTED ("a concurrent
// update won"). The merged event is validated as CreateEvent does. When
// "capacity" or "ticket_types" is in the mask, SetQuotas gets the event's
// full quota set (removing the quotas of removed types and of types whose
// capacity became 0); the quota service refuses a capacity below held +
// sold atomically (FAILED_PRECONDITION CAPACITY_BELOW_USAGE with a
// PreconditionFailure per quota). After the commit: this replica's event
// cache forgets the event (others reload it within ADMIT_EVENT_CACHE_TTL, so
// a closed window reaches every Register within that), and the waitlist
// promoter is kicked for every ticket type (seats_freed).
//
// SetAllotment: quota key org:<OrganizationKey(organization)>[/type:<id>];
// seats 0 removes it. Under the event row's lock too (an UpdateEvent that
// removes the type cannot interleave). Kicks the promoter for the event's
// types afterwards: the promoter passes over an allotment-blocked head, so
// raising or removing an allotment promotes the organization's waitlisted
// registrations FIFO.
//
// EraseAttendeeData: locks the registration row, checks the key may write
// its event, optionally cancels it first (`cancel`: through the
// RegistrationStore and QuotaClient like CancelRegistration, then kicks the
// promoter), then sets email = '', full_name = '', request_fingerprint =
// 'erased' (it was a hash of the attendee), erased_at (first erasure only)
// and replaces the payload of the registration's unprocessed outbox rows by
// {"v":1,"scrubbed":true} (the confirmation drainer parks those). Status,
// hold, organization and country stay: counts and capacity are unchanged.
// The live-email index skips erased rows (schema 006), so the address can
// register again.
//
// CheckIn: the code (trimmed, upper-cased) must have a ticket code's form
// (TicketCoder::IsWellFormed), else TICKET_NOT_FOUND; it is looked up by
// registrations.ticket_code within the event; when a ticket key is
// configured (ADMIT_TICKET_KEY) its HMAC is verified against the found
// registration too. CONFIRMED only (else REGISTRATION_NOT_CONFIRMED);
// checked_in_at is set once; a repeat is ALREADY_EXISTS
// ALREADY_CHECKED_IN with ErrorInfo metadata checked_in_at (RFC 3339) and
// registration_id, or OK with already_checked_in when allow_repeat.
//
// Thread safety: as any grpc::Service. Everything passed in must outlive it;
// the destructor waits for the calls in flight.
#ifndef ADMIT_SERVICES_REGISTRATION_ORGANIZER_WRITES_H_
#define ADMIT_SERVICES_REGISTRATION_ORGANIZER_WRITES_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "admit/v1/quota.grpc.pb.h"
#include "common/config/config.h"
#include "common/pg/pool.h"
#include "grpcpp/grpcpp.h"
#include "services/confirmation/ticket_code.h"
#include "services/registration/api_keys.h"
#include "services/registration/event_cache.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

struct OrganizerWritesOptions {
  // Deadline of the SetQuotas call of UpdateEvent / SetAllotment.
  std::chrono::milliseconds quota_timeout{2000};
  // ADMIT_TICKET_KEY (base64 of 32 bytes), or "" (CheckIn then trusts the
  // stored ticket_code alone).
  std::string ticket_key;
};

// Registers ADMIT_TICKET_KEY (the confirmation service's ticket key; CheckIn
// verifies codes with it). `out` must outlive settings.Load().
void AddOrganizerWritesSettings(config::Settings& settings,
                                OrganizerWritesOptions* out);

class OrganizerWrites {
 public:
  // Called after a change that may free seats of (event, ticket type): the
  // waitlist promoter's Kick. May be empty.
  using SeatsFreed = std::function<void(const std::string& event_id,
                                        const std::string& ticket_type_id)>;

  // `cache`, `registrations` and `quota_client` may be null (no cache to
  // invalidate; EraseAttendeeData with cancel = true then answers
  // UNAVAILABLE). INVALID_ARGUMENT naming ADMIT_TICKET_KEY when the ticket
  // key is set but malformed.
  static absl::StatusOr<std::unique_ptr<OrganizerWrites>> Create(
      pg::Pool* pool, const ApiKeyAuthenticator* keys,
      v1::QuotaService::StubInterface* quota, EventCache* cache,
      OrganizerWritesOptions options);
  ~OrganizerWrites();
  OrganizerWrites(const OrganizerWrites&) = delete;
  OrganizerWrites& operator=(const OrganizerWrites&) = delete;

  // Set before the server starts.
  void SetSeatsFreed(SeatsFreed seats_freed) {
    seats_freed_ = std::move(seats_freed);
  }
  // Called after UpdateEvent changed capacities or SetAllotment changed an
  // allotment of `event_id` (CountsService::ForgetUsage). May be empty.
  void SetQuotasChanged(std::function<void(const std::string&)> changed) {
    quotas_changed_ = std::move(changed);
  }
  void SetCanceller(RegistrationStore* registrations, QuotaClient* quota) {
    registrations_ = registrations;
    quota_client_ = quota;
  }

  grpc::ServerUnaryReactor* UpdateEvent(grpc::CallbackServerContext* context,
                                        const v1::UpdateEventRequest* request,
                                        v1::UpdateEventResponse* response);
  grpc::ServerUnaryReactor* SetAllotment(grpc::CallbackServerContext* context,
                                         const v1::SetAllotmentRequest* request,
                                         v1::SetAllotmentResponse* response);
  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const v1::CheckInRequest* request,
                                    v1::CheckInResponse* response);
  grpc::ServerUnaryReactor* EraseAttendeeData(
      grpc::CallbackServerContext* context,
      const v1::EraseAttendeeDataRequest* request,
      v1::EraseAttendeeDataResponse* response);

  // Records CreateEvent of `event` by `key_id` (the event is already
  // stored; the row is appended in a transaction of its own, failures are
  // logged). Never blocks.
  void AuditCreateEvent(const std::string& key_id, const v1::Event& event);

 private:
  OrganizerWrites(pg::Pool* pool, const ApiKeyAuthenticator* keys,
                  v1::QuotaService::StubInterface* quota, EventCache* cache,
                  OrganizerWritesOptions options,
                  std::optional<confirmation::TicketCoder> coder);

  void Started();
  void Done();
  void KickEvent(const v1::Event& event);
  void Erase(grpc::ServerUnaryReactor* reactor, std::string key_id,
             std::string registration_id,
             v1::EraseAttendeeDataResponse* response);

  pg::Pool* const pool_;
  const ApiKeyAuthenticator* const keys_;
  v1::QuotaService::StubInterface* const quota_;
  EventCache* const cache_;
  const OrganizerWritesOptions options_;
  const std::optional<confirmation::TicketCoder> coder_;
  SeatsFreed seats_freed_;
  std::function<void(const std::string&)> quotas_changed_;
  RegistrationStore* registrations_ = nullptr;
  QuotaClient* quota_client_ = nullptr;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t in_flight_ = 0;
};

namespace internal {

// The update_mask path in snake_case ("registrationOpensAt" ->
// "registration_opens_at"), or "" when it is not one UpdateEvent accepts.
std::string UpdatableEventField(const std::string& path);

}  // namespace internal
}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_ORGANIZER_WRITES_H_
