#include "services/registration/organizer_service.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "openssl/rand.h"
#include "services/registration/organizer_writes.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace internal {

absl::StatusOr<v1::Event> EffectiveNewEvent(const v1::Event& requested,
                                            absl::Time now,
                                            const std::string& new_id) {
  v1::Event event = requested;
  event.clear_registration_open();
  event.clear_created_at();
  event.clear_updated_at();
  if (event.id().empty()) event.set_id(new_id);
  const bool closes_defaulted = !event.has_registration_closes_at();
  if (!event.has_registration_opens_at()) {
    TimeToProto(now, event.mutable_registration_opens_at());
  }
  if (closes_defaulted) {
    *event.mutable_registration_closes_at() = event.ends_at();
  }
  if (!event.has_hold_ttl()) {
    DurationToProto(absl::Minutes(30), event.mutable_hold_ttl());
  }
  if (TimeFromProto(event.registration_closes_at()) <=
      TimeFromProto(event.registration_opens_at())) {
    return InvalidFields(
        {{"event.registration_closes_at",
          closes_defaulted
              ? "registration would close (at ends_at, the default) before "
                "it opens; set registration_opens_at and "
                "registration_closes_at"
              : "must be after registration_opens_at (unset: now)"}});
  }
  return event;
}

std::string IdFromName(const std::string& name, const std::string& suffix) {
  std::string slug;
  bool dash = false;
  for (char c : name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      if (dash && !slug.empty()) slug += '-';
      dash = false;
      slug += absl::ascii_tolower(static_cast<unsigned char>(c));
      if (slug.size() >= 40) break;
    } else {
      dash = true;
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.empty()) slug = "event";
  return absl::StrCat(slug, "-", suffix);
}

std::string RandomIdSuffix() {
  constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  std::string out;
  // 252 = 7 * 36: values above are rejected (no modulo bias) by redrawing.
  for (unsigned char b : bytes) {
    while (b >= 252) {
      if (RAND_bytes(&b, 1) != 1) std::abort();
    }
    out += kAlphabet[b % 36];
  }
  return out;
}

std::string CreateFingerprint(const v1::Event& requested) {
  v1::Event copy = requested;
  copy.clear_registration_open();
  copy.clear_created_at();
  copy.clear_updated_at();
  std::string bytes;
  // Event has no map fields, so its serialization is deterministic.
  copy.SerializeToString(&bytes);
  return crypto::TokenHash(bytes);
}

v1::SetQuotasRequest QuotasFor(const v1::Event& event) {
  v1::SetQuotasRequest request;
  request.set_event_id(event.id());
  v1::QuotaLimit* total = request.add_set();
  total->mutable_key()->set_kind(v1::QUOTA_KIND_EVENT);
  total->set_capacity(event.capacity());
  for (const v1::TicketType& type : event.ticket_types()) {
    if (type.capacity() <= 0) continue;
    v1::QuotaLimit* limit = request.add_set();
    limit->mutable_key()->set_kind(v1::QUOTA_KIND_TICKET_TYPE);
    limit->mutable_key()->set_ticket_type_id(type.id());
    limit->set_capacity(type.capacity());
  }
  return request;
}

bool RegistrationOpen(const v1::Event& event, absl::Time now) {
  return TimeFromProto(event.registration_opens_at()) <= now &&
         now < TimeFromProto(event.registration_closes_at());
}

}  // namespace internal

namespace {

// Dependencies' "try again" codes become UNAVAILABLE (see the header).
absl::Status Retryable(const absl::Status& status, std::string_view what) {
  switch (status.code()) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return absl::UnavailableError(
          absl::StrCat(std::string(what), " did not complete (",
                       status.message(), "); retry the same request"));
    default:
      return status;
  }
}

grpc::Status ToRpc(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

absl::Status RequiredField(const std::string& field) {
  return InvalidFields({{field, "is required"}});
}

}  // namespace

struct OrganizerService::CreateCall {
  grpc::ServerUnaryReactor* reactor = nullptr;
  v1::CreateEventResponse* response = nullptr;
  std::string key_id;
  v1::Event event;  // as stored (after CreatePending)
  grpc::ClientContext quota_context;
  v1::SetQuotasRequest quota_request;
  v1::SetQuotasResponse quota_response;
};

OrganizerService::OrganizerService(EventStore* store,
                                   const ApiKeyAuthenticator* keys,
                                   v1::QuotaService::StubInterface* quota,
                                   EventCache* cache,
                                   OrganizerServiceOptions options, Clock clock)
    : store_(store),
      keys_(keys),
      quota_(quota),
      cache_(cache),
      options_(options),
      clock_(std::move(clock)) {}

OrganizerService::~OrganizerService() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return creates_in_flight_ == 0; });
}

void OrganizerService::CallStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++creates_in_flight_;
}

void OrganizerService::CallDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--creates_in_flight_ == 0) idle_cv_.notify_all();
}

grpc::ServerUnaryReactor* OrganizerService::CreateEvent(
    grpc::CallbackServerContext* context, const v1::CreateEventRequest* request,
    v1::CreateEventResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early =
      server::CallGuarded("CreateEvent", [&]() -> grpc::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return ToRpc(caller.status(), "CreateEvent");
        absl::Status allowed =
            Authorize(*caller, OrganizerCall::kCreateEvent, "");
        if (!allowed.ok()) return ToRpc(allowed, "CreateEvent");
        if (!request->has_event()) {
          return ToRpc(RequiredField("event"), "CreateEvent");
        }
        absl::Status valid = ValidateNewEvent(request->event(), "event");
        if (!valid.ok()) return ToRpc(valid, "CreateEvent");
        absl::StatusOr<v1::Event> event = internal::EffectiveNewEvent(
            request->event(), clock_(),
            request->event().id().empty()
                ? internal::IdFromName(request->event().name(),
                                       internal::RandomIdSuffix())
                : "");
        if (!event.ok()) return ToRpc(event.status(), "CreateEvent");

        auto call = std::make_shared<CreateCall>();
        call->reactor = reactor;
        call->response = response;
        call->key_id = caller->key_id;
        CallStarted();
        handed_off = true;
        store_->CreatePending(
            std::move(*event), internal::CreateFingerprint(request->event()),
            [this, call](absl::StatusOr<v1::Event> stored) mutable {
              if (!stored.ok()) {
                Finish(call, Retryable(stored.status(), "storing the event"));
                return;
              }
              call->event = std::move(*stored);
              SetQuotas(std::move(call));
            });
        return grpc::Status::OK;
      });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

void OrganizerService::SetQuotas(std::shared_ptr<CreateCall> call) {
  grpc::Status failed = server::CallGuarded("CreateEvent", [&] {
    call->quota_request = internal::QuotasFor(call->event);
    call->quota_context.set_deadline(std::chrono::system_clock::now() +
                                     options_.set_quotas_timeout);
    CreateCall* raw = call.get();
    quota_->async()->SetQuotas(
        &raw->quota_context, &raw->quota_request, &raw->quota_response,
        [this, call](grpc::Status status) {
          if (status.ok()) {
            MarkReady(call);
            return;
          }
          absl::Status error = FromGrpcStatus(status);
          if (error.code() == absl::StatusCode::kInvalidArgument) {
            error = absl::InternalError(absl::StrCat(
                "quota service refused the event's quotas: ", error.message()));
          } else if (error.code() != absl::StatusCode::kFailedPrecondition) {
            error = absl::UnavailableError(absl::StrCat(
                "the quota service did not take the event's quotas (",
                error.message(), "); retry the same request"));
          }
          Finish(call, error);
        });
    return grpc::Status::OK;
  });
  if (!failed.ok()) {
    Finish(call, absl::InternalError("internal error"));
  }
}

void OrganizerService::MarkReady(std::shared_ptr<CreateCall> call) {
  const std::string id = call->event.id();
  store_->MarkReady(id, [this, call](absl::StatusOr<v1::Event> stored) {
    absl::Status status = absl::InternalError("internal error");
    server::CallGuarded("CreateEvent", [&] {
      if (!stored.ok()) {
        status = Retryable(stored.status(), "storing the event");
        return grpc::Status::OK;
      }
      if (cache_ != nullptr) cache_->Invalidate(stored->id());
      if (writes_ != nullptr) writes_->AuditCreateEvent(call->key_id, *stored);
      stored->set_registration_open(
          internal::RegistrationOpen(*stored, clock_()));
      log::Info("event created", {{"event_id", stored->id()},
                                  {"key_id", call->key_id},
                                  {"ticket_types", stored->ticket_types_size()},
                                  {"capacity", stored->capacity()}});
      *call->response->mutable_event() = std::move(*stored);
      status = absl::OkStatus();
      return grpc::Status::OK;
    });
    Finish(call, status);
  });
}

void OrganizerService::Finish(const std::shared_ptr<CreateCall>& call,
                              const absl::Status& status) {
  server::Guard(call->reactor, "CreateEvent",
                [&] { return ToRpc(status, "CreateEvent"); });
  CallDone();
}

grpc::ServerUnaryReactor* OrganizerService::GetEvent(
    grpc::CallbackServerContext* context, const v1::GetEventRequest* request,
    v1::GetEventResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early = server::CallGuarded("GetEvent", [&]() -> grpc::Status {
    absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
    if (!caller.ok()) return ToRpc(caller.status(), "GetEvent");
    const std::string& event_id = request->event_id();
    if (event_id.empty()) return ToRpc(RequiredField("event_id"), "GetEvent");
    if (!IsSlug(event_id)) {
      return ToRpc(InvalidFields({{"event_id",
                                   "must be 1-63 of a-z, 0-9 and '-', not "
                                   "starting or ending with '-'"}}),
                   "GetEvent");
    }
    absl::Status allowed = Authorize(*caller, OrganizerCall::kRead, event_id);
    if (!allowed.ok()) return ToRpc(allowed, "GetEvent");
    handed_off = true;
    // Straight from the store, not the cache: an organizer reads its own
    // writes.
    store_->Get(event_id, [this, reactor,
                           response](absl::StatusOr<EventSnapshot> event) {
      server::Guard(reactor, "GetEvent", [&] {
        if (!event.ok()) {
          return ToRpc(Retryable(event.status(), "reading the event"),
                       "GetEvent");
        }
        v1::Event* out = response->mutable_event();
        *out = **event;
        out->set_registration_open(internal::RegistrationOpen(*out, clock_()));
        return grpc::Status::OK;
      });
    });
    return grpc::Status::OK;
  });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

grpc::ServerUnaryReactor* OrganizerService::GetRegistrationCounts(
    grpc::CallbackServerContext* context,
    const v1::GetRegistrationCountsRequest* request,
    v1::RegistrationCounts* response) {
  if (counts_ == nullptr) {
    return v1::OrganizerService::CallbackService::GetRegistrationCounts(
        context, request, response);
  }
  return counts_->Get(context, request, response);
}

grpc::ServerWriteReactor<v1::RegistrationCounts>*
OrganizerService::WatchRegistrationCounts(
    grpc::CallbackServerContext* context,
    const v1::WatchRegistrationCountsRequest* request) {
  if (counts_ == nullptr) {
    return v1::OrganizerService::CallbackService::WatchRegistrationCounts(
        context, request);
  }
  return counts_->Watch(context, request);
}

#define ADMIT_DELEGATE_WRITE(Method, Request, Response)                      \
  grpc::ServerUnaryReactor* OrganizerService::Method(                        \
      grpc::CallbackServerContext* context, const v1::Request* request,      \
      v1::Response* response) {                                              \
    if (writes_ == nullptr) {                                                \
      return v1::OrganizerService::CallbackService::Method(context, request, \
                                                           response);        \
    }                                                                        \
    return writes_->Method(context, request, response);                      \
  }
ADMIT_DELEGATE_WRITE(UpdateEvent, UpdateEventRequest, UpdateEventResponse)
ADMIT_DELEGATE_WRITE(SetAllotment, SetAllotmentRequest, SetAllotmentResponse)
ADMIT_DELEGATE_WRITE(CheckIn, CheckInRequest, CheckInResponse)
ADMIT_DELEGATE_WRITE(EraseAttendeeData, EraseAttendeeDataRequest,
                     EraseAttendeeDataResponse)
#undef ADMIT_DELEGATE_WRITE

grpc::ServerUnaryReactor* OrganizerService::ListRegistrations(
    grpc::CallbackServerContext* context,
    const v1::ListRegistrationsRequest* request,
    v1::ListRegistrationsResponse* response) {
  if (listing_ == nullptr) {
    return v1::OrganizerService::CallbackService::ListRegistrations(
        context, request, response);
  }
  return listing_->List(context, request, response);
}

grpc::ServerWriteReactor<v1::ExportChunk>*
OrganizerService::ExportRegistrations(
    grpc::CallbackServerContext* context,
    const v1::ExportRegistrationsRequest* request) {
  if (listing_ == nullptr) {
    return v1::OrganizerService::CallbackService::ExportRegistrations(context,
                                                                      request);
  }
  return listing_->Export(context, request);
}

}  // namespace admit::registration
