#include "services/registration/registration_service.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/ratelimit/service_wiring.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "services/registration/registration_errors.h"
#include "services/registration/validation.h"

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

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// registration_id: server-assigned (a lower-case UUID today), at most 64
// characters; accepted: 1-64 of [0-9a-z-].
bool IsRegistrationId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

absl::Status ValidateManageRequest(const std::string& registration_id,
                                   const std::string& manage_token) {
  std::vector<FieldViolation> violations;
  if (registration_id.empty()) {
    violations.push_back({"registration_id", "required"});
  } else if (!IsRegistrationId(registration_id)) {
    violations.push_back(
        {"registration_id", "not a registration id returned by Register"});
  }
  if (manage_token.empty()) {
    violations.push_back({"manage_token", "required"});
  } else if (!crypto::IsWellFormedToken(manage_token)) {
    violations.push_back(
        {"manage_token", "not a manage token returned by Register"});
  }
  if (violations.empty()) return absl::OkStatus();
  return WithErrorInfo(InvalidArgumentError(std::move(violations)),
                       "INVALID_FIELDS");
}

// Codes a client must see as "retry": the store's UNKNOWN (a commit whose
// outcome is unknown) and ABORTED become UNAVAILABLE; INTERNAL is logged.
grpc::Status ToRpcStatus(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kUnknown) {
    return ToGrpcStatus(absl::UnavailableError(
        absl::StrCat("the outcome is unknown (", status.message(),
                     "); retry with the same arguments")));
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

bool WindowOpen(const v1::Event& event, absl::Time now) {
  if (event.has_registration_opens_at() &&
      now < FromProto(event.registration_opens_at())) {
    return false;
  }
  if (event.has_registration_closes_at()) {
    return now < FromProto(event.registration_closes_at());
  }
  return !event.has_ends_at() || now < FromProto(event.ends_at());
}

}  // namespace

void RecordToProto(const RegistrationRecord& r, absl::Time now,
                   v1::Registration* out) {
  out->set_id(r.registration_id);
  out->set_event_id(r.event_id);
  out->set_ticket_type_id(r.ticket_type_id);
  v1::Attendee* a = out->mutable_attendee();
  a->set_email(r.attendee.email);
  a->set_full_name(r.attendee.full_name);
  a->set_organization(r.attendee.organization);
  a->set_country_code(r.attendee.country_code);
  RegistrationStatus status = r.status;
  std::optional<absl::Time> expired_at = r.expired_at;
  if (status == RegistrationStatus::kPendingConfirmation &&
      r.hold_expires_at.has_value() && *r.hold_expires_at <= now) {
    status = RegistrationStatus::kExpired;
    expired_at = r.hold_expires_at;
  }
  out->set_status(static_cast<v1::RegistrationStatus>(status));
  if (status == RegistrationStatus::kWaitlisted) {
    out->set_waitlist_position(r.waitlist_position);
  }
  TimeToProto(r.created_at, out->mutable_created_at());
  if (status == RegistrationStatus::kPendingConfirmation &&
      r.hold_expires_at.has_value()) {
    TimeToProto(*r.hold_expires_at, out->mutable_hold_expires_at());
  }
  if (status == RegistrationStatus::kConfirmed) {
    out->set_ticket_code(r.ticket_code);
  }
  if (r.confirmed_at) TimeToProto(*r.confirmed_at, out->mutable_confirmed_at());
  if (r.cancelled_at) TimeToProto(*r.cancelled_at, out->mutable_cancelled_at());
  if (expired_at) TimeToProto(*expired_at, out->mutable_expired_at());
  TimeToProto(r.updated_at, out->mutable_updated_at());
}

void AvailabilityToProto(const v1::Event& event,
                         const AvailabilityFigures& figures, absl::Time now,
                         v1::Availability* out) {
  out->set_event_id(event.id());
  out->set_name(event.name());
  out->set_description(event.description());
  *out->mutable_starts_at() = event.starts_at();
  *out->mutable_ends_at() = event.ends_at();
  out->set_time_zone(event.time_zone());
  out->set_registration_open(WindowOpen(event, now));
  *out->mutable_registration_opens_at() = event.registration_opens_at();
  *out->mutable_registration_closes_at() = event.registration_closes_at();
  if (event.has_hold_ttl()) {
    *out->mutable_hold_ttl() = event.hold_ttl();
  } else {
    out->mutable_hold_ttl()->set_seconds(30 * 60);
  }
  const v1::QuotaUsage* total = nullptr;
  std::map<std::string, const v1::QuotaUsage*> types;
  for (const v1::QuotaUsage& q : figures.usage.quotas()) {
    if (q.key().kind() == v1::QUOTA_KIND_EVENT) total = &q;
    if (q.key().kind() == v1::QUOTA_KIND_TICKET_TYPE) {
      types[q.key().ticket_type_id()] = &q;
    }
  }
  const int32_t capacity = total ? total->capacity() : event.capacity();
  const int32_t remaining = total ? total->remaining() : 0;
  out->set_capacity(capacity);
  out->set_remaining(remaining);
  for (const v1::TicketType& t : event.ticket_types()) {
    v1::TicketTypeAvailability* a = out->add_ticket_types();
    a->set_ticket_type_id(t.id());
    a->set_name(t.name());
    a->set_description(t.description());
    auto it = types.find(t.id());
    if (it != types.end()) {
      a->set_capacity(it->second->capacity());
      a->set_remaining(std::min(remaining, it->second->remaining()));
    } else {
      a->set_capacity(t.capacity() > 0 ? t.capacity() : capacity);
      a->set_remaining(remaining);
    }
    auto w = figures.waitlisted.find(t.id());
    a->set_waitlisted(w == figures.waitlisted.end() ? 0 : w->second);
  }
  if (figures.usage.has_as_of()) {
    *out->mutable_as_of() = figures.usage.as_of();
  } else {
    TimeToProto(figures.fetched_at, out->mutable_as_of());
  }
}

RegistrationServiceImpl::RegistrationServiceImpl(
    EventSource* events, RegistrationStore* store, QuotaClient* quota,
    const crypto::Sealer* sealer, RegistrationMetrics* metrics,
    RegistrationServiceOptions options)
    : events_(events),
      store_(store),
      quota_(quota),
      metrics_(metrics),
      clock_(options.clock),
      limiter_(options.limiter),
      seat_freed_(options.seat_freed),
      registrar_(events, store, quota, sealer, metrics, options.registrar),
      availability_(quota, store, options.availability) {}

RegistrationServiceImpl::~RegistrationServiceImpl() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return active_ == 0; });
}

void RegistrationServiceImpl::Begin() {
  std::lock_guard<std::mutex> lock(mu_);
  ++active_;
}

void RegistrationServiceImpl::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) idle_cv_.notify_all();
}

grpc::ServerUnaryReactor* RegistrationServiceImpl::Register(
    grpc::CallbackServerContext* context, const v1::RegisterRequest* request,
    v1::RegisterResponse* response) {
  return Handle(
      context, "Register",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        absl::StatusOr<NormalizedAttendee> attendee =
            ValidateRegisterRequest(*request);
        if (!attendee.ok()) {
          if (metrics_ != nullptr) metrics_->CountRejected(attendee.status());
          return attendee.status();
        }
        RegisterInput input;
        input.request_id = request->request_id();
        input.event_id = request->event_id();
        input.ticket_type_id = request->ticket_type_id();
        input.attendee.email = attendee->email;
        input.attendee.full_name = attendee->full_name;
        input.attendee.organization = attendee->organization;
        input.attendee.organization_key = attendee->organization_key;
        input.attendee.country_code = attendee->country_code;
        std::vector<ratelimit::Subject> subjects;
        if (limiter_ != nullptr) {
          subjects = {{"ip", ratelimit::ClientAddressOf(limiter_, *context)},
                      {"email", input.attendee.email},
                      {"event", input.event_id}};
        }
        handed_off = true;
        ratelimit::AdmitThen(
            limiter_, std::move(subjects), reactor,
            [this, reactor, response, input = std::move(input)]() mutable {
              registrar_.Register(
                  std::move(input), [this, reactor, response](
                                        absl::StatusOr<RegisterAnswer> answer) {
                    server::Guard(reactor, "Register", [&] {
                      if (!answer.ok())
                        return ToRpcStatus(answer.status(), "Register");
                      RecordToProto(answer->record, clock_(),
                                    response->mutable_registration());
                      response->set_manage_token(answer->manage_token);
                      return grpc::Status::OK;
                    });
                  });
            });
        return absl::OkStatus();
      });
}

void RegistrationServiceImpl::Authorize(
    const std::string& registration_id, const std::string& manage_token,
    absl::AnyInvocable<void(absl::StatusOr<RegistrationRecord>)> next) {
  std::string given_hash = crypto::TokenHash(manage_token);
  store_->Get(registration_id,
              [given_hash = std::move(given_hash), next = std::move(next)](
                  absl::StatusOr<RegistrationRecord> record) mutable {
                if (record.ok() && !crypto::ConstantTimeEquals(
                                       given_hash, record->token_hash)) {
                  return next(RegistrationNotFoundError());
                }
                next(std::move(record));
              });
}

grpc::ServerUnaryReactor* RegistrationServiceImpl::GetRegistration(
    grpc::CallbackServerContext* context,
    const v1::GetRegistrationRequest* request, v1::Registration* response) {
  return Handle(
      context, "GetRegistration",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        RETURN_IF_ERROR(ValidateManageRequest(request->registration_id(),
                                              request->manage_token()));
        handed_off = true;
        ratelimit::AdmitThen(
            limiter_, IpSubject(*context), reactor,
            [this, reactor, request, response] {
              Begin();
              Authorize(request->registration_id(), request->manage_token(),
                        [this, reactor,
                         response](absl::StatusOr<RegistrationRecord> record) {
                          server::Guard(reactor, "GetRegistration", [&] {
                            if (!record.ok()) {
                              return ToRpcStatus(record.status(),
                                                 "GetRegistration");
                            }
                            RecordToProto(*record, clock_(), response);
                            return grpc::Status::OK;
                          });
                          End();
                        });
            });
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RegistrationServiceImpl::CancelRegistration(
    grpc::CallbackServerContext* context,
    const v1::CancelRegistrationRequest* request, v1::Registration* response) {
  return Handle(context, "CancelRegistration",
                [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
                  RETURN_IF_ERROR(ValidateManageRequest(
                      request->registration_id(), request->manage_token()));
                  handed_off = true;
                  ratelimit::AdmitThen(limiter_, IpSubject(*context), reactor,
                                       [this, reactor, request, response] {
                                         Cancel(reactor, request, response);
                                       });
                  return absl::OkStatus();
                });
}

void RegistrationServiceImpl::Cancel(
    grpc::ServerUnaryReactor* reactor,
    const v1::CancelRegistrationRequest* request, v1::Registration* response) {
  Begin();
  // Each step finishes the call on error; `finish` is the last touch.
  auto finish = [this, reactor](grpc::Status status) {
    reactor->Finish(status);
    End();
  };
  Authorize(
      request->registration_id(), request->manage_token(),
      [this, response,
       finish](absl::StatusOr<RegistrationRecord> record) mutable {
        if (!record.ok()) {
          return finish(ToRpcStatus(record.status(), "CancelRegistration"));
        }
        const bool lapsed =
            record->status == RegistrationStatus::kPendingConfirmation &&
            record->hold_expires_at.has_value() &&
            *record->hold_expires_at <= clock_();
        if (record->status == RegistrationStatus::kExpired || lapsed) {
          return finish(ToGrpcStatus(RegistrationExpiredError()));
        }
        store_->Cancel(
            record->registration_id,
            [this, response,
             finish](absl::StatusOr<CancelResult> cancelled) mutable {
              if (!cancelled.ok()) {
                return finish(
                    ToRpcStatus(cancelled.status(), "CancelRegistration"));
              }
              if (cancelled->previous == RegistrationStatus::kExpired) {
                return finish(ToGrpcStatus(RegistrationExpiredError()));
              }
              RecordToProto(cancelled->record, clock_(), response);
              const RegistrationRecord& r = cancelled->record;
              const bool changed = cancelled->previous != r.status;
              if (changed && metrics_ != nullptr) {
                metrics_->CountRegistration(r.event_id, "cancelled");
              }
              if (r.hold_id.empty()) return finish(grpc::Status::OK);
              // Released on every Cancel of a registration with a
              // hold, also a repeated one: Release is idempotent, and
              // a retry repairs a release that failed before.
              quota_->Release(
                  r.hold_id, v1::RELEASE_REASON_CANCELLED,
                  [this, finish, event_id = r.event_id, type = r.ticket_type_id,
                   hold_id = r.hold_id, changed](
                      absl::StatusOr<v1::ReleaseResponse> released) mutable {
                    if (!released.ok()) {
                      log::Warn("cannot release a cancelled hold",
                                {{"hold_id", hold_id},
                                 {"error", released.status().ToString()}});
                      return finish(ToGrpcStatus(absl::UnavailableError(
                          "the registration is cancelled but its seat "
                          "could not be released yet; retry the "
                          "cancellation")));
                    }
                    if (changed) SeatFreed(event_id, type);
                    finish(grpc::Status::OK);
                  });
            });
      });
}

void RegistrationServiceImpl::SeatFreed(const std::string& event_id,
                                        const std::string& ticket_type_id) {
  log::Debug("seat freed",
             {{"event_id", event_id}, {"ticket_type_id", ticket_type_id}});
  if (seat_freed_) seat_freed_(event_id, ticket_type_id);
}

grpc::ServerUnaryReactor* RegistrationServiceImpl::GetAvailability(
    grpc::CallbackServerContext* context,
    const v1::GetAvailabilityRequest* request, v1::Availability* response) {
  return Handle(
      context, "GetAvailability",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        const std::string& event_id = request->event_id();
        if (event_id.empty()) return InvalidFieldError("event_id", "required");
        if (!IsSlug(event_id)) {
          return InvalidFieldError(
              "event_id",
              "1-63 lower-case letters, digits and '-', not starting or "
              "ending with '-'");
        }
        handed_off = true;
        ratelimit::AdmitThen(limiter_, IpSubject(*context), reactor,
                             [this, reactor, request, response] {
                               Availability(reactor, request, response);
                             });
        return absl::OkStatus();
      });
}

void RegistrationServiceImpl::Availability(
    grpc::ServerUnaryReactor* reactor,
    const v1::GetAvailabilityRequest* request, v1::Availability* response) {
  const std::string& event_id = request->event_id();
  Begin();
  auto finish = [this, reactor](grpc::Status status) {
    reactor->Finish(status);
    End();
  };
  events_->Get(event_id, [this, response,
                          finish](absl::StatusOr<EventSnapshot> event) mutable {
    if (!event.ok()) {
      return finish(ToRpcStatus(event.status(), "GetAvailability"));
    }
    EventSnapshot snapshot = std::move(*event);
    availability_.Get(
        snapshot->id(),
        [this, response, finish,
         snapshot](absl::StatusOr<AvailabilityCache::Figures> figures) mutable {
          if (!figures.ok()) {
            // The event exists here; quota not knowing it is a setup
            // gap (or outage): retryable, not NOT_FOUND.
            absl::Status s = figures.status();
            if (s.code() == absl::StatusCode::kNotFound) {
              s = absl::UnavailableError(
                  "the event's capacity is not set up yet; retry");
            }
            return finish(ToRpcStatus(s, "GetAvailability"));
          }
          grpc::Status status = server::CallGuarded("GetAvailability", [&] {
            AvailabilityToProto(*snapshot, **figures, clock_(), response);
            return grpc::Status::OK;
          });
          finish(status);
        });
  });
}

std::vector<ratelimit::Subject> RegistrationServiceImpl::IpSubject(
    const grpc::CallbackServerContext& context) const {
  if (limiter_ == nullptr) return {};
  return {{"ip", ratelimit::ClientAddressOf(limiter_, context)}};
}

}  // namespace admit::registration
