#include "services/registration/lifecycle_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "services/registration/outbox_payload.h"
#include "services/registration/registration_service.h"

namespace admit::registration {
namespace {

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t seconds = us / 1'000'000;
  int64_t micros = us % 1'000'000;
  if (micros < 0) {
    seconds -= 1;
    micros += 1'000'000;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(micros * 1000));
}

// As registration_service.cc: 1-64 of [0-9a-z-].
bool IsRegistrationId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

// Registration.ticket_code: at most 64 printable ASCII characters.
bool IsTicketCode(const std::string& code) {
  if (code.empty() || code.size() > 64) return false;
  return std::all_of(code.begin(), code.end(),
                     [](char c) { return c > ' ' && c < 0x7f; });
}

void CheckRegistrationId(const std::string& id,
                         std::vector<FieldViolation>* violations) {
  if (id.empty()) {
    violations->push_back({"registration_id", "required"});
  } else if (!IsRegistrationId(id)) {
    violations->push_back({"registration_id", "not a registration id"});
  }
}

absl::Status Invalid(std::vector<FieldViolation> violations) {
  if (violations.empty()) return absl::OkStatus();
  return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                       "INVALID_FIELDS");
}

// The store's UNKNOWN and ABORTED are "retry" for the caller.
grpc::Status ToRpcStatus(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kAborted) {
    return ToGrpcStatus(absl::UnavailableError(absl::StrCat(
        "the outcome is unknown (", status.message(), "); retry")));
  }
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

// Every RPC: validation on the gRPC thread, work handed off (guard.h).
template <typename Start>
grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* context,
                                 std::string_view method, Start start) {
  return server::HandOffUnary(context, method, ToRpcStatus, std::move(start));
}

}  // namespace

LifecycleServiceImpl::LifecycleServiceImpl(EventSource* events,
                                           RegistrationStore* store,
                                           PgLifecycleStore* lifecycle,
                                           LifecycleServiceOptions options)
    : events_(events),
      store_(store),
      lifecycle_(lifecycle),
      options_(std::move(options)) {}

LifecycleServiceImpl::~LifecycleServiceImpl() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return active_ == 0; });
}

void LifecycleServiceImpl::Begin() {
  std::lock_guard<std::mutex> lock(mu_);
  ++active_;
}

void LifecycleServiceImpl::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) idle_cv_.notify_all();
}

void LifecycleServiceImpl::WithEvent(
    const std::string& registration_id,
    absl::AnyInvocable<void(absl::StatusOr<RegistrationRecord>,
                            absl::StatusOr<EventSnapshot>)>
        next) {
  store_->Get(
      registration_id, [this, next = std::move(next)](
                           absl::StatusOr<RegistrationRecord> record) mutable {
        if (!record.ok()) {
          return next(std::move(record), absl::StatusOr<EventSnapshot>(
                                             absl::CancelledError("not read")));
        }
        const std::string event_id = record->event_id;
        events_->Get(
            event_id, [record = std::move(record), next = std::move(next)](
                          absl::StatusOr<EventSnapshot> event) mutable {
              if (!event.ok() &&
                  event.status().code() == absl::StatusCode::kNotFound) {
                // The registration's event is gone from the event store: a
                // setup problem, not the caller's; retryable.
                event = absl::UnavailableError(
                    "the registration's event is unknown");
              }
              next(std::move(record), std::move(event));
            });
      });
}

grpc::ServerUnaryReactor* LifecycleServiceImpl::ConfirmRegistration(
    grpc::CallbackServerContext* context,
    const v1::LifecycleConfirmRequest* request, v1::Registration* response) {
  return Handle(
      context, "ConfirmRegistration",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        std::vector<FieldViolation> violations;
        CheckRegistrationId(request->registration_id(), &violations);
        if (request->ticket_code().empty()) {
          violations.push_back({"ticket_code", "required"});
        } else if (!IsTicketCode(request->ticket_code())) {
          violations.push_back(
              {"ticket_code", "at most 64 printable ASCII characters"});
        }
        RETURN_IF_ERROR(Invalid(std::move(violations)));
        handed_off = true;
        Begin();
        auto finish = [this, reactor](grpc::Status status) {
          reactor->Finish(status);
          End();
        };
        WithEvent(
            request->registration_id(),
            [this, response, finish, code = request->ticket_code()](
                absl::StatusOr<RegistrationRecord> record,
                absl::StatusOr<EventSnapshot> event) mutable {
              if (!record.ok()) {
                return finish(
                    ToRpcStatus(record.status(), "ConfirmRegistration"));
              }
              if (record->status == RegistrationStatus::kConfirmed) {
                RecordToProto(*record, options_.clock(), response);
                return finish(grpc::Status::OK);
              }
              if (!event.ok()) {
                return finish(
                    ToRpcStatus(event.status(), "ConfirmRegistration"));
              }
              lifecycle_->Confirm(
                  record->registration_id, std::move(code),
                  OutboxEventFor(**event, record->ticket_type_id),
                  [this, response,
                   finish](absl::StatusOr<RegistrationRecord> done) mutable {
                    grpc::Status status =
                        server::CallGuarded("ConfirmRegistration", [&] {
                          if (!done.ok()) {
                            return ToRpcStatus(done.status(),
                                               "ConfirmRegistration");
                          }
                          if (options_.metrics != nullptr) {
                            options_.metrics->CountRegistration(done->event_id,
                                                                "confirmed");
                          }
                          RecordToProto(*done, options_.clock(), response);
                          return grpc::Status::OK;
                        });
                    finish(status);
                  });
            });
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* LifecycleServiceImpl::QueueConfirmationEmail(
    grpc::CallbackServerContext* context,
    const v1::QueueConfirmationEmailRequest* request,
    v1::QueueConfirmationEmailResponse* response) {
  return Handle(
      context, "QueueConfirmationEmail",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        std::vector<FieldViolation> violations;
        CheckRegistrationId(request->registration_id(), &violations);
        if (request->manage_token().empty()) {
          violations.push_back({"manage_token", "required"});
        } else if (!crypto::IsWellFormedToken(request->manage_token())) {
          violations.push_back({"manage_token", "not a manage token"});
        }
        if (request->max_per_hour() < 0) {
          violations.push_back({"max_per_hour", "must not be negative"});
        }
        RETURN_IF_ERROR(Invalid(std::move(violations)));
        const int max_per_hour = request->max_per_hour() > 0
                                     ? request->max_per_hour()
                                     : options_.default_max_resends_per_hour;
        handed_off = true;
        Begin();
        auto finish = [this, reactor](grpc::Status status) {
          reactor->Finish(status);
          End();
        };
        WithEvent(request->registration_id(),
                  [this, response, finish, max_per_hour,
                   hash = crypto::TokenHash(request->manage_token())](
                      absl::StatusOr<RegistrationRecord> record,
                      absl::StatusOr<EventSnapshot> event) mutable {
                    if (!record.ok()) {
                      return finish(ToRpcStatus(record.status(),
                                                "QueueConfirmationEmail"));
                    }
                    if (!event.ok()) {
                      return finish(ToRpcStatus(event.status(),
                                                "QueueConfirmationEmail"));
                    }
                    lifecycle_->QueueResend(
                        record->registration_id, std::move(hash), max_per_hour,
                        OutboxEventFor(**event, record->ticket_type_id),
                        [this, response,
                         finish](absl::StatusOr<QueuedEmail> queued) mutable {
                          grpc::Status status = server::CallGuarded(
                              "QueueConfirmationEmail", [&] {
                                if (!queued.ok()) {
                                  return ToRpcStatus(queued.status(),
                                                     "QueueConfirmationEmail");
                                }
                                RecordToProto(queued->record, options_.clock(),
                                              response->mutable_registration());
                                response->set_outbox_id(queued->outbox_id);
                                TimeToProto(queued->queued_at,
                                            response->mutable_queued_at());
                                return grpc::Status::OK;
                              });
                          finish(status);
                        });
                  });
        return absl::OkStatus();
      });
}

}  // namespace admit::registration
