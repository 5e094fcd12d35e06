// ConfirmationService (proto/admit/v1/confirmation.proto): the attendee's
// confirmation link and "send the email again".
//
// ConfirmRegistration: the token's SHA-256 is looked up in
// confirmation.tokens (issued by the drainer when it sent the email, see
// drainer.h); a token that is not the newest of its registration, or older
// than its registration's resend floor, is NOT_FOUND like an unknown one; an
// unused token past its registration's hold expiry is FAILED_PRECONDITION
// REGISTRATION_EXPIRED. Otherwise the ticket code is computed (ticket_code.h)
// and RegistrationLifecycleService.ConfirmRegistration commits the hold, marks
// the registration CONFIRMED and queues the ticket email, in the registration
// service. The token is then marked used; using it again returns the same
// CONFIRMED registration (the lifecycle call is idempotent).
//
// ResendConfirmation: RegistrationLifecycleService.QueueConfirmationEmail
// checks the manage token and the per-registration resend limit and writes
// the outbox row; then the registration's token floor is raised to that row,
// so every earlier link stops working before the new email is even sent.
//
// Database work runs on the pool, calls to registration on gRPC client
// threads; gRPC server threads never block.
#ifndef ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_SERVICE_H_
#define ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_SERVICE_H_

#include <cstdint>

#include "admit/v1/confirmation.grpc.pb.h"
#include "common/pg/pool.h"
#include "common/ratelimit/limiter.h"
#include "services/confirmation/lifecycle_client.h"
#include "services/confirmation/ticket_code.h"

namespace admit::confirmation {

struct ConfirmationServiceOptions {
  // ResendConfirmation calls allowed per registration per rolling hour.
  int32_t resends_per_hour = 3;
  // Rate limiting (common/ratelimit), checked before any database work:
  // ConfirmRegistration by "ip", ResendConfirmation by "ip" and "resend"
  // (the registration id; on top of resends_per_hour). Null: none. Must
  // outlive the service.
  ratelimit::Limiter* limiter = nullptr;
};

class ConfirmationServiceImpl final
    : public v1::ConfirmationService::CallbackService {
 public:
  // `pool` and `lifecycle` must outlive the service (and the server).
  ConfirmationServiceImpl(pg::Pool* pool, LifecycleClient* lifecycle,
                          TicketCoder tickets,
                          ConfirmationServiceOptions options);

  grpc::ServerUnaryReactor* ConfirmRegistration(
      grpc::CallbackServerContext* context,
      const v1::ConfirmRegistrationRequest* request,
      v1::Registration* response) override;

  grpc::ServerUnaryReactor* ResendConfirmation(
      grpc::CallbackServerContext* context,
      const v1::ResendConfirmationRequest* request,
      v1::ResendConfirmationResponse* response) override;

 private:
  // The calls once validated and admitted.
  void Confirm(grpc::ServerUnaryReactor* reactor,
               const v1::ConfirmRegistrationRequest* request,
               v1::Registration* response);
  void Resend(grpc::ServerUnaryReactor* reactor,
              const v1::ResendConfirmationRequest* request,
              v1::ResendConfirmationResponse* response);

  pg::Pool* pool_;
  LifecycleClient* lifecycle_;
  TicketCoder tickets_;
  ConfirmationServiceOptions options_;
  ratelimit::Limiter* const limiter_;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_CONFIRMATION_SERVICE_H_
