// The gRPC adapter of admit.v1.RegistrationService (callback API): request
// validation, proto <-> domain, absl::Status -> grpc::Status. The Register
// flow is the Registrar's; Get, Cancel and GetAvailability are short enough
// to live here.
//
// Handlers never block a gRPC thread: they validate, hand the work to the
// Registrar, the store, the event source or the quota client, and return the
// call's reactor; the call is finished from whichever thread completes it.
// Anything thrown is caught at the boundary and answered INTERNAL.
//
// Get / Cancel: the registration is read by id and the manage token's
// SHA-256 compared in constant time with the stored hash; an unknown id and a
// wrong token are the same NOT_FOUND (REGISTRATION_NOT_FOUND). A PENDING
// registration past hold_expires_at is shown as EXPIRED (what it becomes:
// its hold can no longer be committed) until the expiry flow marks it.
// Cancel releases the hold through the quota service after the row is
// CANCELLED; a failed release answers UNAVAILABLE and a retried Cancel
// (idempotent) releases again; then the freed seat goes to the waitlist
// (options.seat_freed, see waitlist_promoter.h).
//
// Thread safety: as any grpc::Service. Every dependency must outlive it.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_SERVICE_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_SERVICE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "admit/v1/registration.grpc.pb.h"
#include "common/crypto/sealer.h"
#include "common/ratelimit/limiter.h"
#include "grpcpp/grpcpp.h"
#include "services/registration/availability_cache.h"
#include "services/registration/event_source.h"
#include "services/registration/quota_client.h"
#include "services/registration/registrar.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

struct RegistrationServiceOptions {
  RegistrarOptions registrar;
  AvailabilityCacheOptions availability;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Rate limiting (common/ratelimit), checked on the gRPC thread before any
  // database work: Register by "ip", "email" (normalized) and "event";
  // GetRegistration, CancelRegistration and GetAvailability by "ip". Null:
  // no limiting. Must outlive the service.
  ratelimit::Limiter* limiter = nullptr;
  // Called after a cancellation freed a held or sold seat of (event_id,
  // ticket_type_id); must not block (WaitlistPromoter::Kick). Empty = none.
  std::function<void(const std::string&, const std::string&)> seat_freed;
};

// Domain -> proto, as of `now` (see the lapsed-hold rule above).
void RecordToProto(const RegistrationRecord& record, absl::Time now,
                   v1::Registration* out);
// The availability page: event settings + live figures.
void AvailabilityToProto(const v1::Event& event,
                         const AvailabilityFigures& figures, absl::Time now,
                         v1::Availability* out);

class RegistrationServiceImpl final
    : public v1::RegistrationService::CallbackService {
 public:
  // `metrics` may be null.
  RegistrationServiceImpl(EventSource* events, RegistrationStore* store,
                          QuotaClient* quota, const crypto::Sealer* sealer,
                          RegistrationMetrics* metrics,
                          RegistrationServiceOptions options = {});
  // Waits for work still in flight (its callbacks use this object). Destroy
  // after the gRPC server has shut down.
  ~RegistrationServiceImpl() override;

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* GetRegistration(
      grpc::CallbackServerContext* context,
      const v1::GetRegistrationRequest* request,
      v1::Registration* response) override;
  grpc::ServerUnaryReactor* CancelRegistration(
      grpc::CallbackServerContext* context,
      const v1::CancelRegistrationRequest* request,
      v1::Registration* response) override;
  grpc::ServerUnaryReactor* GetAvailability(
      grpc::CallbackServerContext* context,
      const v1::GetAvailabilityRequest* request,
      v1::Availability* response) override;

  // For tests and the figures in the README.
  RegisterBatcherStats batcher_stats() const {
    return registrar_.batcher_stats();
  }

 private:
  // Reads the registration and checks the token; `next` gets the record or
  // REGISTRATION_NOT_FOUND.
  void Authorize(
      const std::string& registration_id, const std::string& manage_token,
      absl::AnyInvocable<void(absl::StatusOr<RegistrationRecord>)> next);
  // The "ip" subject of a call (empty without a limiter).
  std::vector<ratelimit::Subject> IpSubject(
      const grpc::CallbackServerContext& context) const;
  // CancelRegistration and GetAvailability once admitted (validated).
  void Cancel(grpc::ServerUnaryReactor* reactor,
              const v1::CancelRegistrationRequest* request,
              v1::Registration* response);
  void Availability(grpc::ServerUnaryReactor* reactor,
                    const v1::GetAvailabilityRequest* request,
                    v1::Availability* response);
  // Called after a cancellation freed a held or sold seat of
  // `ticket_type_id`: asks for a waitlist promotion (options.seat_freed).
  void SeatFreed(const std::string& event_id,
                 const std::string& ticket_type_id);
  void Begin();
  void End();

  EventSource* const events_;
  RegistrationStore* const store_;
  QuotaClient* const quota_;
  RegistrationMetrics* const metrics_;
  const std::function<absl::Time()> clock_;
  ratelimit::Limiter* const limiter_;
  const std::function<void(const std::string&, const std::string&)> seat_freed_;
  Registrar registrar_;
  AvailabilityCache availability_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t active_ = 0;  // Get/Cancel/GetAvailability chains in flight
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_SERVICE_H_
