// Status helpers shared by all of admit's domain and storage code.
//
// Domain and repository code return absl::Status / absl::StatusOr<T>.  The
// code is picked by the abseil rule:
//   UNAVAILABLE         retry this same call (a dependency is down);
//   ABORTED             retry the whole transaction / operation;
//   FAILED_PRECONDITION don't retry until the system's state changes.
// Rich details (field violations, retry delays, quota failures) travel as
// payloads on the absl::Status and are turned into google.rpc.Status details
// by ToGrpcStatus() at the RPC boundary, the only place that converts.
#ifndef ADMIT_COMMON_STATUS_STATUS_H_
#define ADMIT_COMMON_STATUS_STATUS_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status admit_status_macro_tmp_ = (expr);           \
    if (!admit_status_macro_tmp_.ok()) return admit_status_macro_tmp_; \
  } while (false)

#define ADMIT_STATUS_CONCAT_INNER_(a, b) a##b
#define ADMIT_STATUS_CONCAT_(a, b) ADMIT_STATUS_CONCAT_INNER_(a, b)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status from the enclosing function, otherwise moves the
// value into `lhs` (which may be a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr)                                          \
  ADMIT_ASSIGN_OR_RETURN_IMPL_(                                              \
      ADMIT_STATUS_CONCAT_(admit_statusor_tmp_, __LINE__), lhs, expr)
#define ADMIT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

namespace admit {

// One invalid field of a request: `field` is the path in the request message
// ("attendee.email"), `description` a sentence a frontend can show.
struct FieldViolation {
  std::string field;
  std::string description;
};

// INVALID_ARGUMENT carrying a google.rpc.BadRequest with every violation.
// `violations` must not be empty. The message lists the fields.
absl::Status InvalidArgumentError(std::vector<FieldViolation> violations);

// RESOURCE_EXHAUSTED carrying google.rpc.RetryInfo(retry_after) and a
// google.rpc.QuotaFailure naming `subject` (e.g. "policy:ip") and why.
absl::Status RateLimitedError(absl::string_view message,
                              std::chrono::milliseconds retry_after,
                              absl::string_view subject,
                              absl::string_view description);

// Attaches a google.rpc.ErrorInfo (machine-readable reason, e.g. "SOLD_OUT",
// in domain "admit.v1") to `status`. A no-op on an OK status.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason);

// Reads back the details attached by the functions above (for tests and for
// code that branches on them). Empty / nullopt-like defaults when absent.
std::vector<FieldViolation> GetFieldViolations(const absl::Status& status);
std::string GetErrorReason(const absl::Status& status);

// The single conversion from absl::Status to grpc::Status. The code and
// message are kept; attached details become a serialized google.rpc.Status
// in the binary error details (grpc-status-details-bin), so clients can read
// them with grpc's ExtractErrorDetails or any google.rpc-aware client.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse, for clients inside admit (service-to-service calls): keeps
// the code, the message and the google.rpc details.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace admit

#endif  // ADMIT_COMMON_STATUS_STATUS_H_
