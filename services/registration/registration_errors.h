// The registration flow's domain errors: absl::Status values with the code
// and google.rpc details registration.proto promises (ErrorInfo reason in
// domain "admit.v1"; BadRequest where a field is at fault). The gRPC adapter
// converts them with admit::ToGrpcStatus and nothing else.
#ifndef ADMIT_SERVICES_REGISTRATION_REGISTRATION_ERRORS_H_
#define ADMIT_SERVICES_REGISTRATION_REGISTRATION_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace admit::registration {

// NOT_FOUND, REGISTRATION_NOT_FOUND: no such registration, or the token does
// not belong to it (deliberately the same error).
absl::Status RegistrationNotFoundError();
// NOT_FOUND, TICKET_TYPE_NOT_FOUND.
absl::Status TicketTypeNotFoundError(const std::string& event_id,
                                     const std::string& ticket_type_id);
// FAILED_PRECONDITION, REGISTRATION_NOT_OPEN_YET, with ErrorInfo metadata
// registration_opens_at (RFC 3339, UTC).
absl::Status RegistrationNotOpenYetError(absl::Time opens_at);
// FAILED_PRECONDITION, REGISTRATION_CLOSED.
absl::Status RegistrationClosedError();
// ALREADY_EXISTS, EMAIL_ALREADY_REGISTERED (the existing registration's id
// is not revealed).
absl::Status EmailAlreadyRegisteredError();
// INVALID_ARGUMENT, REQUEST_ID_REUSED, field violation on request_id.
absl::Status RequestIdReusedError();
// FAILED_PRECONDITION, REGISTRATION_EXPIRED.
absl::Status RegistrationExpiredError();
// FAILED_PRECONDITION, REGISTRATION_EXPIRED, with `message`.
absl::Status RegistrationExpiredError(const std::string& message);
// FAILED_PRECONDITION, REGISTRATION_CANCELLED.
absl::Status RegistrationCancelledError();
// FAILED_PRECONDITION, REGISTRATION_NOT_PENDING: not PENDING_CONFIRMATION
// (WAITLISTED, or CONFIRMED for a resend).
absl::Status RegistrationNotPendingError(const std::string& message);
// RESOURCE_EXHAUSTED, RATE_LIMITED, with RetryInfo(retry_after).
absl::Status ResendRateLimitedError(absl::Duration retry_after);
// ABORTED: a copy of the request is still being processed.
absl::Status RequestInFlightError();
// INVALID_ARGUMENT, INVALID_FIELDS: BadRequest on one field.
absl::Status InvalidFieldError(const std::string& field,
                               const std::string& description);

// The ErrorInfo metadata value `key` of `status`, or "" (tests).
std::string GetErrorMetadata(const absl::Status& status,
                             const std::string& key);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_REGISTRATION_ERRORS_H_
