// The gRPC adapter of admit.v1.RegistrationLifecycleService
// (proto/admit/v1/lifecycle.proto, internal: called by the confirmation
// service only), callback API, served next to RegistrationService.
//
// Both calls read the registration (for its event), the event (for the
// outbox payload, from the EventSource), then run one transaction of
// PgLifecycleStore (see its contracts for what is locked and checked).
// Handlers never block a gRPC thread; anything thrown is answered INTERNAL.
//
// Thread safety: as any grpc::Service. Every dependency must outlive it.
#ifndef ADMIT_SERVICES_REGISTRATION_LIFECYCLE_SERVICE_H_
#define ADMIT_SERVICES_REGISTRATION_LIFECYCLE_SERVICE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/time/time.h"
#include "admit/v1/lifecycle.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/registration/event_source.h"
#include "services/registration/lifecycle_store.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/registration_store.h"

namespace admit::registration {

struct LifecycleServiceOptions {
  // QueueConfirmationEmail's max_per_hour when the request says 0.
  int default_max_resends_per_hour = 3;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Counts `confirmed` per event; may be null.
  RegistrationMetrics* metrics = nullptr;
};

class LifecycleServiceImpl final
    : public v1::RegistrationLifecycleService::CallbackService {
 public:
  LifecycleServiceImpl(EventSource* events, RegistrationStore* store,
                       PgLifecycleStore* lifecycle,
                       LifecycleServiceOptions options = {});
  // Waits for the calls in flight. Destroy after the server has shut down.
  ~LifecycleServiceImpl() override;

  grpc::ServerUnaryReactor* ConfirmRegistration(
      grpc::CallbackServerContext* context,
      const v1::LifecycleConfirmRequest* request,
      v1::Registration* response) override;
  grpc::ServerUnaryReactor* QueueConfirmationEmail(
      grpc::CallbackServerContext* context,
      const v1::QueueConfirmationEmailRequest* request,
      v1::QueueConfirmationEmailResponse* response) override;

 private:
  // Reads the registration, then its event; `next` gets both or the error.
  void WithEvent(const std::string& registration_id,
                 absl::AnyInvocable<void(absl::StatusOr<RegistrationRecord>,
                                         absl::StatusOr<EventSnapshot>)>
                     next);
  void Begin();
  void End();

  EventSource* const events_;
  RegistrationStore* const store_;
  PgLifecycleStore* const lifecycle_;
  const LifecycleServiceOptions options_;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int64_t active_ = 0;
};

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_LIFECYCLE_SERVICE_H_
