// The gRPC adapter of admit.v1.OrganizerService (callback API), event part:
// CreateEvent and GetEvent. Every other RPC answers UNIMPLEMENTED (the
// generated base class) until its issue lands.
//
// Every call: API key first (ApiKeyAuthenticator: UNAUTHENTICATED,
// PERMISSION_DENIED), then the request's validation (INVALID_ARGUMENT with
// BadRequest field violations), then the work. Handlers never block a gRPC
// thread: the database work runs on the pg pool, the quota call is an async
// client call, and the call is finished from their callbacks. Anything
// thrown is answered INTERNAL (admit::server guard) and the server keeps
// serving.
//
// CreateEvent keeps the quota service consistent with the events table:
//   1. the event is inserted "pending" (EventStore::CreatePending): Register
//      and GetEvent do not see it yet;
//   2. QuotaService.SetQuotas sets its quotas: "event" = capacity and
//      "type:<id>" = capacity for each ticket type with a capacity > 0;
//   3. the event is marked ready and returned.
// A failure between the steps leaves a pending event that nobody sees; the
// same request retried (same event, as sent) finishes it; any other create
// of that id answers ALREADY_EXISTS. So quotas are only ever set by the
// create that owns the id (never overwritten by a duplicate), and an event
// Register can see always has its quotas. With a server-assigned id a
// retry creates a new event (a pending one stays behind, invisible).
//
// Defaults filled by CreateEvent: id (a slug of the name + "-" + 8 random
// characters), registration_opens_at = now, registration_closes_at =
// ends_at, hold_ttl = 30 min. The window must then be non-empty (closes
// after opens), else INVALID_ARGUMENT on event.registration_closes_at.
//
// Error mapping: store errors keep their code, except UNKNOWN,
// DEADLINE_EXCEEDED, ABORTED and CANCELLED, which become UNAVAILABLE (a
// retry of the same request is safe). A SetQuotas failure becomes
// UNAVAILABLE, except FAILED_PRECONDITION (kept, with its details) and
// INVALID_ARGUMENT (a bug here: INTERNAL).
//
// Thread safety: as any grpc::Service. The store, authenticator, quota stub
// and cache must outlive it; the destructor waits for CreateEvent calls
// still in flight (destroy it after the gRPC server has shut down).
#ifndef ADMIT_SERVICES_REGISTRATION_ORGANIZER_SERVICE_H_
#define ADMIT_SERVICES_REGISTRATION_ORGANIZER_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admit/v1/organizer.grpc.pb.h"
#include "admit/v1/quota.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/registration/api_keys.h"
#include "services/registration/counts_service.h"
#include "services/registration/event_cache.h"
#include "services/registration/event_store.h"
#include "services/registration/registration_listing.h"

namespace admit::registration {

class OrganizerWrites;  // organizer_writes.h

struct OrganizerServiceOptions {
  // Deadline of CreateEvent's QuotaService.SetQuotas call.
  std::chrono::milliseconds set_quotas_timeout{2000};
};

class OrganizerService final : public v1::OrganizerService::CallbackService {
 public:
  using Clock = std::function<absl::Time()>;

  // `cache` may be null; when set, CreateEvent invalidates the new id in it
  // so this replica's Register sees the event at once (other replicas
  // within the cache's negative TTL).
  OrganizerService(
      EventStore* store, const ApiKeyAuthenticator* keys,
      v1::QuotaService::StubInterface* quota, EventCache* cache,
      OrganizerServiceOptions options = {},
      Clock clock = [] { return absl::Now(); });
  ~OrganizerService() override;

  grpc::ServerUnaryReactor* CreateEvent(
      grpc::CallbackServerContext* context,
      const v1::CreateEventRequest* request,
      v1::CreateEventResponse* response) override;
  grpc::ServerUnaryReactor* GetEvent(grpc::CallbackServerContext* context,
                                     const v1::GetEventRequest* request,
                                     v1::GetEventResponse* response) override;

  // ListRegistrations and ExportRegistrations are served by `listing`
  // (registration_listing.h); UNIMPLEMENTED until it is set. Set it before
  // the server starts; it must outlive the calls.
  void SetListing(RegistrationListing* listing) { listing_ = listing; }
  grpc::ServerUnaryReactor* ListRegistrations(
      grpc::CallbackServerContext* context,
      const v1::ListRegistrationsRequest* request,
      v1::ListRegistrationsResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportChunk>* ExportRegistrations(
      grpc::CallbackServerContext* context,
      const v1::ExportRegistrationsRequest* request) override;

  // GetRegistrationCounts and WatchRegistrationCounts are served by `counts`
  // (counts_service.h); UNIMPLEMENTED until it is set. Set it before the
  // server starts; it must outlive the calls.
  void SetCounts(CountsService* counts) { counts_ = counts; }
  grpc::ServerUnaryReactor* GetRegistrationCounts(
      grpc::CallbackServerContext* context,
      const v1::GetRegistrationCountsRequest* request,
      v1::RegistrationCounts* response) override;
  grpc::ServerWriteReactor<v1::RegistrationCounts>* WatchRegistrationCounts(
      grpc::CallbackServerContext* context,
      const v1::WatchRegistrationCountsRequest* request) override;

  // UpdateEvent, SetAllotment, CheckIn and EraseAttendeeData are served by
  // `writes` (organizer_writes.h), which also gets CreateEvent's audit row;
  // UNIMPLEMENTED until it is set. Set it before the server starts; it must
  // outlive the calls.
  void SetWrites(OrganizerWrites* writes) { writes_ = writes; }
  grpc::ServerUnaryReactor* UpdateEvent(
      grpc::CallbackServerContext* context,
      const v1::UpdateEventRequest* request,
      v1::UpdateEventResponse* response) override;
  grpc::ServerUnaryReactor* SetAllotment(
      grpc::CallbackServerContext* context,
      const v1::SetAllotmentRequest* request,
      v1::SetAllotmentResponse* response) override;
  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const v1::CheckInRequest* request,
                                    v1::CheckInResponse* response) override;
  grpc::ServerUnaryReactor* EraseAttendeeData(
      grpc::CallbackServerContext* context,
      const v1::EraseAttendeeDataRequest* request,
      v1::EraseAttendeeDataResponse* response) override;

 private:
  struct CreateCall;

  void SetQuotas(std::shared_ptr<CreateCall> call);
  void MarkReady(std::shared_ptr<CreateCall> call);
  void Finish(const std::shared_ptr<CreateCall>& call,
              const absl::Status& status);
  void CallStarted();
  void CallDone();

  EventStore* const store_;
  const ApiKeyAuthenticator* const keys_;
  v1::QuotaService::StubInterface* const quota_;
  EventCache* const cache_;
  const OrganizerServiceOptions options_;
  const Clock clock_;
  RegistrationListing* listing_ = nullptr;
  OrganizerWrites* writes_ = nullptr;
  CountsService* counts_ = nullptr;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t creates_in_flight_ = 0;
};

namespace internal {

// The event CreateEvent stores for `requested` (validated): output-only
// fields cleared, defaults filled in (see above), `new_id` used when the id
// is empty. INVALID_ARGUMENT when the effective registration window is
// empty.
absl::StatusOr<v1::Event> EffectiveNewEvent(const v1::Event& requested,
                                            absl::Time now,
                                            const std::string& new_id);

// A server-assigned id: the name's ASCII letters and digits lower-cased,
// other runs as '-', at most 40 characters ("event" if nothing is left),
// then '-' and `suffix`.
std::string IdFromName(const std::string& name, const std::string& suffix);

// 8 random characters of [a-z0-9].
std::string RandomIdSuffix();

// SHA-256 of the request's event as sent, output-only fields cleared.
std::string CreateFingerprint(const v1::Event& requested);

// The quotas of `event`: "event" = capacity, "type:<id>" = capacity for
// each ticket type with a capacity > 0.
v1::SetQuotasRequest QuotasFor(const v1::Event& event);

// registration_opens_at <= now < registration_closes_at.
bool RegistrationOpen(const v1::Event& event, absl::Time now);

}  // namespace internal
}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_ORGANIZER_SERVICE_H_
