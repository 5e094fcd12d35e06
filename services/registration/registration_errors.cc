#include "services/registration/registration_errors.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"

namespace admit::registration {
namespace {

// The payload key common/status uses for ErrorInfo: its Any type URL.
constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";

}  // namespace

absl::Status RegistrationNotFoundError() {
  return WithErrorInfo(
      absl::NotFoundError("no such registration, or the manage token does "
                          "not belong to it"),
      "REGISTRATION_NOT_FOUND");
}

absl::Status TicketTypeNotFoundError(const std::string& event_id,
                                     const std::string& ticket_type_id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("event ", event_id,
                                       " has no ticket type ", ticket_type_id)),
      "TICKET_TYPE_NOT_FOUND");
}

absl::Status RegistrationNotOpenYetError(absl::Time opens_at) {
  const std::string when =
      absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", opens_at, absl::UTCTimeZone());
  absl::Status status = absl::FailedPreconditionError(
      absl::StrCat("registration opens at ", when));
  google::rpc::ErrorInfo info;
  info.set_reason("REGISTRATION_NOT_OPEN_YET");
  info.set_domain("admit.v1");
  (*info.mutable_metadata())["registration_opens_at"] = when;
  status.SetPayload(kErrorInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status RegistrationClosedError() {
  return WithErrorInfo(
      absl::FailedPreconditionError("registration for this event has closed"),
      "REGISTRATION_CLOSED");
}

absl::Status EmailAlreadyRegisteredError() {
  return WithErrorInfo(
      absl::AlreadyExistsError(
          "the event already has a live registration for this email"),
      "EMAIL_ALREADY_REGISTERED");
}

absl::Status RequestIdReusedError() {
  return WithErrorInfo(
      InvalidArgumentError(
          {{"request_id",
            "this request_id was already used for a different request to "
            "this event; use a new request_id for a new request"}}),
      "REQUEST_ID_REUSED");
}

absl::Status RegistrationExpiredError() {
  return WithErrorInfo(
      absl::FailedPreconditionError(
          "the registration expired: it holds nothing to cancel"),
      "REGISTRATION_EXPIRED");
}

absl::Status RegistrationExpiredError(const std::string& message) {
  return WithErrorInfo(absl::FailedPreconditionError(message),
                       "REGISTRATION_EXPIRED");
}

absl::Status RegistrationCancelledError() {
  return WithErrorInfo(
      absl::FailedPreconditionError("the registration was cancelled"),
      "REGISTRATION_CANCELLED");
}

absl::Status RegistrationNotPendingError(const std::string& message) {
  return WithErrorInfo(absl::FailedPreconditionError(message),
                       "REGISTRATION_NOT_PENDING");
}

absl::Status ResendRateLimitedError(absl::Duration retry_after) {
  const auto ms = std::chrono::milliseconds(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(
                               retry_after, absl::Milliseconds(1)))));
  return WithErrorInfo(
      RateLimitedError("too many confirmation emails for this registration "
                       "in the last hour",
                       ms, "registration",
                       "confirmation emails per registration per hour"),
      "RATE_LIMITED");
}

absl::Status RequestInFlightError() {
  return absl::AbortedError(
      "a request with this request_id is still being processed; retry with "
      "the same request_id");
}

absl::Status InvalidFieldError(const std::string& field,
                               const std::string& description) {
  return WithErrorInfo(InvalidArgumentError({{field, description}}),
                       "INVALID_FIELDS");
}

std::string GetErrorMetadata(const absl::Status& status,
                             const std::string& key) {
  auto payload = status.GetPayload(kErrorInfoUrl);
  if (!payload.has_value()) return "";
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return "";
  auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "" : it->second;
}

}  // namespace admit::registration
