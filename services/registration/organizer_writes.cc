#include "services/registration/organizer_writes.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "nlohmann/json.hpp"
#include "pqxx/pqxx"
#include "services/registration/audit_log.h"
#include "services/registration/event_store.h"
#include "services/registration/organizer_service.h"
#include "services/registration/pg_registration_store.h"
#include "services/registration/registration_errors.h"
#include "services/registration/validation.h"

namespace admit::registration {
namespace internal {

std::string UpdatableEventField(const std::string& path) {
  static const auto* fields = new std::map<std::string, std::string>{
      {"name", "name"},
      {"description", "description"},
      {"starts_at", "starts_at"},
      {"startsAt", "starts_at"},
      {"ends_at", "ends_at"},
      {"endsAt", "ends_at"},
      {"time_zone", "time_zone"},
      {"timeZone", "time_zone"},
      {"registration_opens_at", "registration_opens_at"},
      {"registrationOpensAt", "registration_opens_at"},
      {"registration_closes_at", "registration_closes_at"},
      {"registrationClosesAt", "registration_closes_at"},
      {"hold_ttl", "hold_ttl"},
      {"holdTtl", "hold_ttl"},
      {"capacity", "capacity"},
      {"ticket_types", "ticket_types"},
      {"ticketTypes", "ticket_types"},
  };
  auto it = fields->find(path);
  return it == fields->end() ? "" : it->second;
}

}  // namespace internal

namespace {

using internal::IntArray;
using internal::TextArray;

constexpr char kScrubbedPayload[] = R"({"v":1,"scrubbed":true})";

int64_t Micros(const google::protobuf::Timestamp& t) {
  return absl::ToUnixMicros(TimeFromProto(t));
}

std::string AtMicros(int param) {
  return absl::StrCat("('epoch'::timestamptz + $", param,
                      "::bigint * interval '1 microsecond')");
}

std::string EpochMicros(const char* column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::Status RequiredField(const std::string& field) {
  return InvalidFields({{field, "is required"}});
}

absl::Status SlugField(const std::string& field, const std::string& value) {
  if (value.empty()) return RequiredField(field);
  if (!IsSlug(value)) {
    return InvalidFields({{field,
                           "must be 1-63 of a-z, 0-9 and '-', not starting or "
                           "ending with '-'"}});
  }
  return absl::OkStatus();
}

grpc::Status ToRpc(const absl::Status& status, std::string_view method) {
  if (status.code() == absl::StatusCode::kInternal) {
    log::Error("internal error",
               {{"method", method}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

// Store / pool errors: "try again" codes become UNAVAILABLE, except ABORTED
// from a write that lost the event's row lock (kept: the proto's answer to
// a concurrent update).
absl::Status Retryable(const absl::Status& status, bool keep_aborted) {
  switch (status.code()) {
    case absl::StatusCode::kAborted:
      if (keep_aborted) {
        return absl::AbortedError(
            "a concurrent update of the same event won; read the event again "
            "and retry");
      }
      [[fallthrough]];
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return absl::UnavailableError(absl::StrCat(
          "the change did not complete (", status.message(), "); retry"));
    default:
      return status;
  }
}

// QuotaService.SetQuotas, blocking (a pool thread, inside the transaction
// that locked the event). FAILED_PRECONDITION keeps its details; a refused
// request is a bug here (INTERNAL); anything else is UNAVAILABLE.
absl::StatusOr<v1::SetQuotasResponse> SetQuotasNow(
    v1::QuotaService::StubInterface* quota, const v1::SetQuotasRequest& request,
    std::chrono::milliseconds timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::SetQuotasResponse response;
  grpc::Status status = quota->SetQuotas(&context, request, &response);
  if (status.ok()) return response;
  absl::Status error = FromGrpcStatus(status);
  if (error.code() == absl::StatusCode::kFailedPrecondition) return error;
  if (error.code() == absl::StatusCode::kInvalidArgument) {
    return absl::InternalError(
        absl::StrCat("quota service refused the quotas: ", error.message()));
  }
  return absl::UnavailableError(
      absl::StrCat("the quota service did not take the change (",
                   error.message(), "); retry"));
}

absl::Status TicketTypeInUseError(const std::string& ticket_type_id) {
  return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                           "ticket type \"", ticket_type_id,
                           "\" has registrations and cannot be removed")),
                       "TICKET_TYPE_IN_USE");
}

absl::Status TicketNotFoundError() {
  return WithErrorInfo(
      absl::NotFoundError("no ticket of this event has this code"),
      "TICKET_NOT_FOUND");
}

absl::Status NotConfirmedError() {
  return WithErrorInfo(
      absl::FailedPreconditionError(
          "the ticket's registration is not confirmed (it was cancelled)"),
      "REGISTRATION_NOT_CONFIRMED");
}

absl::Status AlreadyCheckedInError(const std::string& registration_id,
                                   absl::Time checked_in_at) {
  absl::Status status = absl::AlreadyExistsError(
      absl::StrCat("already checked in at ", Rfc3339(checked_in_at)));
  google::rpc::ErrorInfo info;
  info.set_reason("ALREADY_CHECKED_IN");
  info.set_domain("admit.v1");
  (*info.mutable_metadata())["checked_in_at"] = Rfc3339(checked_in_at);
  (*info.mutable_metadata())["registration_id"] = registration_id;
  status.SetPayload(
      absl::StrCat("type.googleapis.com/",
                   google::rpc::ErrorInfo::descriptor()->full_name()),
      absl::Cord(info.SerializeAsString()));
  return status;
}

// Locks the ready event's row (FOR UPDATE NOWAIT: a concurrent writer makes
// this ABORTED; FOR SHARE waits) and reads it.
absl::StatusOr<v1::Event> LockEvent(pqxx::work& tx, const std::string& event_id,
                                    bool exclusive) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT 1 FROM registration.events WHERE id = $1 AND ready ",
                   exclusive ? "FOR UPDATE NOWAIT" : "FOR SHARE"),
      event_id);
  if (r.empty()) return EventNotFoundError(event_id);
  std::optional<v1::Event> event = ReadReadyEvent(tx, event_id);
  if (!event) return EventNotFoundError(event_id);
  return std::move(*event);
}

// A registration as organizers see it (common.proto Registration).
absl::StatusOr<v1::Registration> ReadRegistration(
    pqxx::transaction_base& tx, const std::string& registration_id) {
  pqxx::result r = tx.exec_params(
      absl::StrCat(
          "SELECT r.registration_id, r.event_id, r.ticket_type_id, r.email, "
          "r.full_name, r.organization, r.country_code, r.status, "
          "CASE WHEN r.status = 3 THEN (SELECT count(*) FROM "
          "registration.registrations w WHERE w.event_id = r.event_id AND "
          "w.ticket_type_id = r.ticket_type_id AND w.status = 3 AND "
          "w.waitlist_seq <= r.waitlist_seq) ELSE 0 END, ",
          EpochMicros("r.hold_expires_at"), ", ", EpochMicros("r.created_at"),
          ", ", EpochMicros("r.updated_at"), ", ",
          EpochMicros("r.confirmed_at"), ", ", EpochMicros("r.cancelled_at"),
          ", ", EpochMicros("r.expired_at"), ", ",
          EpochMicros("r.checked_in_at"), ", ", EpochMicros("r.erased_at"),
          ", COALESCE(r.ticket_code, '') "
          "FROM registration.registrations r WHERE r.registration_id = $1"),
      registration_id);
  if (r.empty()) return RegistrationNotFoundError();
  const pqxx::row& row = r[0];
  v1::Registration out;
  out.set_id(row[0].as<std::string>());
  out.set_event_id(row[1].as<std::string>());
  out.set_ticket_type_id(row[2].as<std::string>());
  v1::Attendee* a = out.mutable_attendee();
  a->set_email(row[3].as<std::string>());
  a->set_full_name(row[4].as<std::string>());
  a->set_organization(row[5].as<std::string>());
  a->set_country_code(row[6].as<std::string>());
  const int status = row[7].as<int>();
  out.set_status(static_cast<v1::RegistrationStatus>(status));
  if (status == 3) out.set_waitlist_position(row[8].as<int32_t>());
  // A NULL column leaves the field unset (mutable_* would set it to 1970).
  auto set_time = [&](int column, auto mutable_field) {
    if (!row[column].is_null()) {
      TimeToProto(absl::FromUnixMicros(row[column].as<int64_t>()),
                  mutable_field());
    }
  };
  if (status == 1) set_time(9, [&] { return out.mutable_hold_expires_at(); });
  set_time(10, [&] { return out.mutable_created_at(); });
  set_time(11, [&] { return out.mutable_updated_at(); });
  set_time(12, [&] { return out.mutable_confirmed_at(); });
  set_time(13, [&] { return out.mutable_cancelled_at(); });
  set_time(14, [&] { return out.mutable_expired_at(); });
  set_time(15, [&] { return out.mutable_checked_in_at(); });
  set_time(16, [&] { return out.mutable_erased_at(); });
  if (status == 2) out.set_ticket_code(row[17].as<std::string>());
  return out;
}

// The quotas of `updated` (QuotasFor), plus the removal of the type quotas
// `before` had that `updated` no longer has.
v1::SetQuotasRequest QuotaChange(const v1::Event& before,
                                 const v1::Event& updated) {
  v1::SetQuotasRequest request = internal::QuotasFor(updated);
  std::set<std::string> kept;
  for (const v1::TicketType& t : updated.ticket_types()) {
    if (t.capacity() > 0) kept.insert(t.id());
  }
  for (const v1::TicketType& t : before.ticket_types()) {
    if (t.capacity() > 0 && kept.count(t.id()) == 0) {
      v1::QuotaKey* key = request.add_remove();
      key->set_kind(v1::QUOTA_KIND_TICKET_TYPE);
      key->set_ticket_type_id(t.id());
    }
  }
  return request;
}

struct UpdateResult {
  v1::Event event;
  bool capacities_changed = false;
};

absl::StatusOr<UpdateResult> UpdateEventTx(
    pqxx::work& tx, v1::QuotaService::StubInterface* quota,
    std::chrono::milliseconds quota_timeout, const std::string& key_id,
    const v1::Event& requested, const std::vector<std::string>& fields,
    absl::Time now) {
  absl::StatusOr<v1::Event> current =
      LockEvent(tx, requested.id(), /*exclusive=*/true);
  if (!current.ok()) return current.status();
  v1::Event merged = *current;
  std::set<std::string> mask(fields.begin(), fields.end());
  for (const std::string& f : mask) {
    if (f == "name") merged.set_name(requested.name());
    if (f == "description") merged.set_description(requested.description());
    if (f == "starts_at") {
      if (requested.has_starts_at()) {
        *merged.mutable_starts_at() = requested.starts_at();
      } else {
        merged.clear_starts_at();
      }
    }
    if (f == "ends_at") {
      if (requested.has_ends_at()) {
        *merged.mutable_ends_at() = requested.ends_at();
      } else {
        merged.clear_ends_at();
      }
    }
    if (f == "time_zone") merged.set_time_zone(requested.time_zone());
    if (f == "registration_opens_at") {
      if (requested.has_registration_opens_at()) {
        *merged.mutable_registration_opens_at() =
            requested.registration_opens_at();
      } else {
        merged.clear_registration_opens_at();
      }
    }
    if (f == "registration_closes_at") {
      if (requested.has_registration_closes_at()) {
        *merged.mutable_registration_closes_at() =
            requested.registration_closes_at();
      } else {
        merged.clear_registration_closes_at();
      }
    }
    if (f == "hold_ttl") {
      if (requested.has_hold_ttl()) {
        *merged.mutable_hold_ttl() = requested.hold_ttl();
      } else {
        merged.clear_hold_ttl();
      }
    }
    if (f == "capacity") merged.set_capacity(requested.capacity());
    if (f == "ticket_types") {
      *merged.mutable_ticket_types() = requested.ticket_types();
    }
  }
  if (absl::Status valid = ValidateNewEvent(merged, "event"); !valid.ok()) {
    return valid;
  }
  // Unset optional fields get CreateEvent's defaults; the window must be
  // non-empty.
  absl::StatusOr<v1::Event> effective =
      internal::EffectiveNewEvent(merged, now, merged.id());
  if (!effective.ok()) return effective.status();
  merged = std::move(*effective);

  const bool capacities =
      mask.count("capacity") > 0 || mask.count("ticket_types") > 0;
  std::vector<std::string> removed;
  if (mask.count("ticket_types") > 0) {
    std::set<std::string> listed;
    for (const v1::TicketType& t : merged.ticket_types()) listed.insert(t.id());
    for (const v1::TicketType& t : current->ticket_types()) {
      if (listed.count(t.id()) == 0) removed.push_back(t.id());
    }
    if (!removed.empty()) {
      pqxx::result used = tx.exec_params(
          "SELECT ticket_type_id FROM registration.registrations "
          "WHERE event_id = $1 AND ticket_type_id = ANY($2::text[]) LIMIT 1",
          merged.id(), TextArray(removed));
      if (!used.empty()) {
        return TicketTypeInUseError(used[0][0].as<std::string>());
      }
    }
  }
  if (capacities) {
    absl::StatusOr<v1::SetQuotasResponse> set =
        SetQuotasNow(quota, QuotaChange(*current, merged), quota_timeout);
    if (!set.ok()) return set.status();
  }

  tx.exec_params(
      absl::StrCat("UPDATE registration.events SET name = $2, "
                   "description = $3, starts_at = ",
                   AtMicros(4), ", ends_at = ", AtMicros(5),
                   ", time_zone = $6, registration_opens_at = ", AtMicros(7),
                   ", registration_closes_at = ", AtMicros(8),
                   ", hold_ttl_ms = $9, capacity = $10, "
                   "version = version + 1, updated_at = now() WHERE id = $1"),
      merged.id(), merged.name(), merged.description(),
      Micros(merged.starts_at()), Micros(merged.ends_at()), merged.time_zone(),
      Micros(merged.registration_opens_at()),
      Micros(merged.registration_closes_at()),
      absl::ToInt64Milliseconds(DurationFromProto(merged.hold_ttl())),
      merged.capacity());
  if (mask.count("ticket_types") > 0) {
    if (!removed.empty()) {
      tx.exec_params(
          "DELETE FROM registration.ticket_types WHERE event_id = $1 AND "
          "id = ANY($2::text[])",
          merged.id(), TextArray(removed));
    }
    std::vector<std::string> ids, names, descriptions;
    std::vector<int64_t> positions, caps;
    for (int i = 0; i < merged.ticket_types_size(); ++i) {
      const v1::TicketType& t = merged.ticket_types(i);
      ids.push_back(t.id());
      names.push_back(t.name());
      descriptions.push_back(t.description());
      positions.push_back(i);
      caps.push_back(t.capacity());
    }
    tx.exec_params(
        "INSERT INTO registration.ticket_types "
        "(event_id, id, position, name, description, capacity) "
        "SELECT $1, t.id, t.position, t.name, t.description, t.capacity "
        "FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], "
        "$6::int[]) AS t(id, position, name, description, capacity) "
        "ON CONFLICT (event_id, id) DO UPDATE SET position = "
        "EXCLUDED.position, name = EXCLUDED.name, description = "
        "EXCLUDED.description, capacity = EXCLUDED.capacity",
        merged.id(), TextArray(ids), IntArray(positions), TextArray(names),
        TextArray(descriptions), IntArray(caps));
  }

  nlohmann::json detail;
  detail["fields"] = std::vector<std::string>(mask.begin(), mask.end());
  if (mask.count("capacity") > 0) detail["capacity"] = merged.capacity();
  if (mask.count("ticket_types") > 0) {
    nlohmann::json types = nlohmann::json::array();
    for (const v1::TicketType& t : merged.ticket_types()) {
      types.push_back({{"id", t.id()}, {"capacity", t.capacity()}});
    }
    detail["ticket_types"] = types;
    detail["removed_ticket_types"] = removed;
  }
  if (mask.count("registration_opens_at") > 0) {
    detail["registration_opens_at"] =
        Rfc3339(TimeFromProto(merged.registration_opens_at()));
  }
  if (mask.count("registration_closes_at") > 0) {
    detail["registration_closes_at"] =
        Rfc3339(TimeFromProto(merged.registration_closes_at()));
  }
  if (mask.count("hold_ttl") > 0) {
    detail["hold_ttl_ms"] =
        absl::ToInt64Milliseconds(DurationFromProto(merged.hold_ttl()));
  }
  AppendAudit(tx,
              {key_id, "UpdateEvent", merged.id(), merged.id(), detail.dump()});

  std::optional<v1::Event> stored = ReadReadyEvent(tx, merged.id());
  if (!stored) return absl::InternalError("updated event not found");
  return UpdateResult{std::move(*stored), capacities};
}

}  // namespace

void AddOrganizerWritesSettings(config::Settings& settings,
                                OrganizerWritesOptions* out) {
  settings.AddString(
      "ADMIT_TICKET_KEY", "",
      "The ticket key of admit-confirmation (32 bytes, base64): "
      "OrganizerService.CheckIn verifies each ticket code's HMAC with it on "
      "top of the stored code. Empty: the stored code alone is checked.",
      &out->ticket_key);
}

absl::StatusOr<std::unique_ptr<OrganizerWrites>> OrganizerWrites::Create(
    pg::Pool* pool, const ApiKeyAuthenticator* keys,
    v1::QuotaService::StubInterface* quota, EventCache* cache,
    OrganizerWritesOptions options) {
  std::optional<confirmation::TicketCoder> coder;
  if (!options.ticket_key.empty()) {
    auto parsed = confirmation::TicketCoder::FromBase64Key(options.ticket_key);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          "ADMIT_TICKET_KEY: must be 32 bytes in base64");
    }
    coder.emplace(std::move(*parsed));
  }
  options.ticket_key.assign(options.ticket_key.size(), '\0');
  return std::unique_ptr<OrganizerWrites>(new OrganizerWrites(
      pool, keys, quota, cache, std::move(options), std::move(coder)));
}

OrganizerWrites::OrganizerWrites(pg::Pool* pool,
                                 const ApiKeyAuthenticator* keys,
                                 v1::QuotaService::StubInterface* quota,
                                 EventCache* cache,
                                 OrganizerWritesOptions options,
                                 std::optional<confirmation::TicketCoder> coder)
    : pool_(pool),
      keys_(keys),
      quota_(quota),
      cache_(cache),
      options_(std::move(options)),
      coder_(std::move(coder)) {}

OrganizerWrites::~OrganizerWrites() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void OrganizerWrites::Started() {
  std::lock_guard<std::mutex> lock(mu_);
  ++in_flight_;
}

void OrganizerWrites::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) idle_cv_.notify_all();
}

void OrganizerWrites::KickEvent(const v1::Event& event) {
  if (!seats_freed_) return;
  for (const v1::TicketType& t : event.ticket_types()) {
    seats_freed_(event.id(), t.id());
  }
}

// ---------------------------------------------------------------------------
// UpdateEvent

grpc::ServerUnaryReactor* OrganizerWrites::UpdateEvent(
    grpc::CallbackServerContext* context, const v1::UpdateEventRequest* request,
    v1::UpdateEventResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early =
      server::CallGuarded("UpdateEvent", [&]() -> grpc::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return ToRpc(caller.status(), "UpdateEvent");
        const std::string& event_id = request->event().id();
        if (absl::Status s = SlugField("event.id", event_id); !s.ok()) {
          return ToRpc(s, "UpdateEvent");
        }
        absl::Status allowed =
            Authorize(*caller, OrganizerCall::kWrite, event_id);
        if (!allowed.ok()) return ToRpc(allowed, "UpdateEvent");
        if (request->update_mask().paths_size() == 0) {
          return ToRpc(RequiredField("update_mask"), "UpdateEvent");
        }
        std::vector<std::string> fields;
        for (const std::string& path : request->update_mask().paths()) {
          std::string field = internal::UpdatableEventField(path);
          if (field.empty()) {
            return ToRpc(
                InvalidFields(
                    {{"update_mask",
                      absl::StrCat("\"", path.substr(0, 64),
                                   "\" is not a field UpdateEvent changes")}}),
                "UpdateEvent");
          }
          fields.push_back(std::move(field));
        }
        Started();
        handed_off = true;
        pool_->Submit(
            pg::Transact([quota = quota_, timeout = options_.quota_timeout,
                          key_id = caller->key_id, event = request->event(),
                          fields = std::move(fields)](pqxx::work& tx) {
              return UpdateEventTx(tx, quota, timeout, key_id, event, fields,
                                   absl::Now());
            }),
            [this, reactor, response,
             key_id = caller->key_id](absl::StatusOr<UpdateResult> result) {
              server::Guard(reactor, "UpdateEvent", [&] {
                if (!result.ok()) {
                  return ToRpc(Retryable(result.status(), true), "UpdateEvent");
                }
                if (cache_ != nullptr) cache_->Invalidate(result->event.id());
                if (result->capacities_changed) {
                  if (quotas_changed_) quotas_changed_(result->event.id());
                  KickEvent(result->event);
                }
                log::Info("event updated", {{"event_id", result->event.id()},
                                            {"key_id", key_id}});
                v1::Event* out = response->mutable_event();
                *out = std::move(result->event);
                out->set_registration_open(
                    internal::RegistrationOpen(*out, absl::Now()));
                return grpc::Status::OK;
              });
              Done();
            });
        return grpc::Status::OK;
      });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

// ---------------------------------------------------------------------------
// SetAllotment

grpc::ServerUnaryReactor* OrganizerWrites::SetAllotment(
    grpc::CallbackServerContext* context,
    const v1::SetAllotmentRequest* request,
    v1::SetAllotmentResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early =
      server::CallGuarded("SetAllotment", [&]() -> grpc::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return ToRpc(caller.status(), "SetAllotment");
        const std::string& event_id = request->event_id();
        if (absl::Status s = SlugField("event_id", event_id); !s.ok()) {
          return ToRpc(s, "SetAllotment");
        }
        absl::Status allowed =
            Authorize(*caller, OrganizerCall::kWrite, event_id);
        if (!allowed.ok()) return ToRpc(allowed, "SetAllotment");
        std::vector<FieldViolation> violations;
        std::string organization =
            NormalizeOrganization(request->organization());
        size_t code_points = 0;
        bool control = false;
        for (unsigned char c : organization) {
          if ((c & 0xC0) != 0x80) ++code_points;
          if (c < 0x20 || c == 0x7f) control = true;
        }
        if (organization.empty()) {
          violations.push_back({"organization", "is required"});
        } else if (code_points > 200 || control) {
          violations.push_back(
              {"organization",
               "must be 1-200 characters without control characters"});
        }
        if (request->seats() < 0 || request->seats() > 1000000) {
          violations.push_back({"seats", "must be 0 to 1,000,000"});
        }
        if (!request->ticket_type_id().empty() &&
            !IsSlug(request->ticket_type_id())) {
          violations.push_back(
              {"ticket_type_id", "must be 1-63 of a-z, 0-9 and '-'"});
        }
        if (!violations.empty()) {
          return ToRpc(InvalidFields(std::move(violations)), "SetAllotment");
        }
        v1::QuotaKey key;
        key.set_kind(v1::QUOTA_KIND_ORGANIZATION);
        key.set_organization(OrganizationKey(organization));
        key.set_ticket_type_id(request->ticket_type_id());

        Started();
        handed_off = true;
        pool_->Submit(
            pg::Transact(
                [quota = quota_, timeout = options_.quota_timeout,
                 key_id = caller->key_id, event_id, key, organization,
                 seats = request->seats()](pqxx::work& tx)
                    -> absl::StatusOr<std::pair<v1::Event, v1::Allotment>> {
                  absl::StatusOr<v1::Event> event =
                      LockEvent(tx, event_id, /*exclusive=*/false);
                  if (!event.ok()) return event.status();
                  if (!key.ticket_type_id().empty()) {
                    bool found = false;
                    for (const v1::TicketType& t : event->ticket_types()) {
                      if (t.id() == key.ticket_type_id()) found = true;
                    }
                    if (!found) {
                      return TicketTypeNotFoundError(event_id,
                                                     key.ticket_type_id());
                    }
                  }
                  v1::SetQuotasRequest change;
                  change.set_event_id(event_id);
                  if (seats > 0) {
                    v1::QuotaLimit* limit = change.add_set();
                    *limit->mutable_key() = key;
                    limit->set_capacity(seats);
                  } else {
                    *change.add_remove() = key;
                  }
                  absl::StatusOr<v1::SetQuotasResponse> set =
                      SetQuotasNow(quota, change, timeout);
                  if (!set.ok()) return set.status();
                  if (seats > 0) {
                    // The counts show the organization as the organizer
                    // spelled its allotment (schema 005).
                    tx.exec_params(
                        "INSERT INTO registration."
                        "registration_count_organizations (event_id, "
                        "organization_key, organization) VALUES ($1, $2, $3) "
                        "ON CONFLICT (event_id, organization_key) DO UPDATE "
                        "SET organization = EXCLUDED.organization",
                        event_id, key.organization(), organization);
                  }
                  v1::Allotment allotment;
                  allotment.set_organization(organization);
                  allotment.set_ticket_type_id(key.ticket_type_id());
                  for (const v1::QuotaUsage& q : set->quotas()) {
                    if (q.key().kind() == key.kind() &&
                        q.key().organization() == key.organization() &&
                        q.key().ticket_type_id() == key.ticket_type_id()) {
                      allotment.set_seats(q.capacity());
                      allotment.set_held(q.held());
                      allotment.set_sold(q.sold());
                    }
                  }
                  nlohmann::json detail = {
                      {"organization_key", key.organization()},
                      {"ticket_type_id", key.ticket_type_id()},
                      {"seats", seats}};
                  AppendAudit(tx, {key_id, "SetAllotment", event_id,
                                   absl::StrCat("org:", key.organization()),
                                   detail.dump()});
                  return std::make_pair(std::move(*event),
                                        std::move(allotment));
                }),
            [this, reactor, response](
                absl::StatusOr<std::pair<v1::Event, v1::Allotment>> result) {
              server::Guard(reactor, "SetAllotment", [&] {
                if (!result.ok()) {
                  return ToRpc(Retryable(result.status(), false),
                               "SetAllotment");
                }
                if (quotas_changed_) quotas_changed_(result->first.id());
                KickEvent(result->first);
                *response->mutable_allotment() = std::move(result->second);
                return grpc::Status::OK;
              });
              Done();
            });
        return grpc::Status::OK;
      });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

// ---------------------------------------------------------------------------
// CheckIn

grpc::ServerUnaryReactor* OrganizerWrites::CheckIn(
    grpc::CallbackServerContext* context, const v1::CheckInRequest* request,
    v1::CheckInResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early = server::CallGuarded("CheckIn", [&]() -> grpc::Status {
    absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
    if (!caller.ok()) return ToRpc(caller.status(), "CheckIn");
    const std::string& event_id = request->event_id();
    if (absl::Status s = SlugField("event_id", event_id); !s.ok()) {
      return ToRpc(s, "CheckIn");
    }
    absl::Status allowed = Authorize(*caller, OrganizerCall::kWrite, event_id);
    if (!allowed.ok()) return ToRpc(allowed, "CheckIn");
    std::string code(absl::StripAsciiWhitespace(request->ticket_code()));
    bool printable = true;
    for (unsigned char c : code) {
      if (c < 0x21 || c > 0x7e) printable = false;
    }
    if (code.empty()) return ToRpc(RequiredField("ticket_code"), "CheckIn");
    if (code.size() > 64 || !printable) {
      return ToRpc(InvalidFields({{"ticket_code",
                                   "at most 64 printable ASCII characters"}}),
                   "CheckIn");
    }
    absl::AsciiStrToUpper(&code);
    if (!confirmation::TicketCoder::IsWellFormed(code)) {
      return ToRpc(TicketNotFoundError(), "CheckIn");
    }
    struct Answer {
      v1::Registration registration;
      bool already = false;
    };
    Started();
    handed_off = true;
    pool_->Submit(
        pg::Transact([this, key_id = caller->key_id, event_id, code,
                      allow_repeat = request->allow_repeat()](
                         pqxx::work& tx) -> absl::StatusOr<Answer> {
          pqxx::result r = tx.exec_params(
              absl::StrCat("SELECT registration_id, status, ",
                           EpochMicros("checked_in_at"),
                           " FROM registration.registrations "
                           "WHERE ticket_code = $1 AND event_id = $2 "
                           "FOR UPDATE"),
              code, event_id);
          if (r.empty() ||
              (coder_ && !coder_->Verify(r[0][0].as<std::string>(), code))) {
            pqxx::result event = tx.exec_params(
                "SELECT 1 FROM registration.events WHERE id = $1 AND ready",
                event_id);
            if (event.empty()) return EventNotFoundError(event_id);
            return TicketNotFoundError();
          }
          const std::string id = r[0][0].as<std::string>();
          if (r[0][1].as<int>() != 2) return NotConfirmedError();
          Answer answer;
          if (!r[0][2].is_null()) {
            const absl::Time first =
                absl::FromUnixMicros(r[0][2].as<int64_t>());
            if (!allow_repeat) return AlreadyCheckedInError(id, first);
            answer.already = true;
          } else {
            tx.exec_params(
                "UPDATE registration.registrations SET checked_in_at = now(), "
                "updated_at = now() WHERE registration_id = $1",
                id);
            AppendAudit(tx, {key_id, "CheckIn", event_id, id, "{}"});
          }
          absl::StatusOr<v1::Registration> reg = ReadRegistration(tx, id);
          if (!reg.ok()) return reg.status();
          answer.registration = std::move(*reg);
          return answer;
        }),
        [this, reactor, response](absl::StatusOr<Answer> answer) {
          server::Guard(reactor, "CheckIn", [&] {
            if (!answer.ok()) {
              return ToRpc(Retryable(answer.status(), false), "CheckIn");
            }
            *response->mutable_checked_in_at() =
                answer->registration.checked_in_at();
            response->set_already_checked_in(answer->already);
            *response->mutable_registration() = std::move(answer->registration);
            return grpc::Status::OK;
          });
          Done();
        });
    return grpc::Status::OK;
  });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

// ---------------------------------------------------------------------------
// EraseAttendeeData

grpc::ServerUnaryReactor* OrganizerWrites::EraseAttendeeData(
    grpc::CallbackServerContext* context,
    const v1::EraseAttendeeDataRequest* request,
    v1::EraseAttendeeDataResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool handed_off = false;
  grpc::Status early =
      server::CallGuarded("EraseAttendeeData", [&]() -> grpc::Status {
        absl::StatusOr<Caller> caller = keys_->Authenticate(*context);
        if (!caller.ok()) return ToRpc(caller.status(), "EraseAttendeeData");
        if (caller->read_only) {
          return ToRpc(Authorize(*caller, OrganizerCall::kWrite, ""),
                       "EraseAttendeeData");
        }
        const std::string& id = request->registration_id();
        if (id.empty()) {
          return ToRpc(RequiredField("registration_id"), "EraseAttendeeData");
        }
        bool printable = id.size() <= 64;
        for (unsigned char c : id) {
          if (c < 0x21 || c > 0x7e) printable = false;
        }
        if (!printable) {
          return ToRpc(InvalidFields({{"registration_id",
                                       "at most 64 printable ASCII "
                                       "characters"}}),
                       "EraseAttendeeData");
        }
        const bool cancel = request->cancel();
        if (cancel && (registrations_ == nullptr || quota_client_ == nullptr)) {
          return ToRpc(absl::UnavailableError("cancelling is not available"),
                       "EraseAttendeeData");
        }
        Started();
        handed_off = true;
        // 1. Whose is it (the key must be allowed to write its event).
        pool_->Submit(
            [id](pqxx::connection& conn) -> absl::StatusOr<std::string> {
              pqxx::nontransaction tx(conn);
              pqxx::result r = tx.exec_params(
                  "SELECT event_id FROM registration.registrations "
                  "WHERE registration_id = $1",
                  id);
              if (r.empty()) return RegistrationNotFoundError();
              return r[0][0].as<std::string>();
            },
            [this, reactor, response, caller = *caller, id,
             cancel](absl::StatusOr<std::string> event_id) {
              absl::Status status = event_id.status();
              if (status.ok()) {
                status = Authorize(caller, OrganizerCall::kWrite, *event_id);
              }
              if (!status.ok()) {
                server::Guard(reactor, "EraseAttendeeData", [&] {
                  return ToRpc(Retryable(status, false), "EraseAttendeeData");
                });
                Done();
                return;
              }
              if (!cancel) {
                Erase(reactor, caller.key_id, id, response);
                return;
              }
              // 2. cancel: as CancelRegistration (row, then the hold).
              registrations_->Cancel(
                  id, [this, reactor, response, key_id = caller.key_id,
                       id](absl::StatusOr<CancelResult> cancelled) {
                    if (!cancelled.ok()) {
                      server::Guard(reactor, "EraseAttendeeData", [&] {
                        return ToRpc(Retryable(cancelled.status(), false),
                                     "EraseAttendeeData");
                      });
                      Done();
                      return;
                    }
                    const RegistrationRecord& r = cancelled->record;
                    const bool held =
                        cancelled->previous ==
                            RegistrationStatus::kPendingConfirmation ||
                        cancelled->previous == RegistrationStatus::kConfirmed;
                    if (!held || r.hold_id.empty()) {
                      if (cancelled->previous !=
                              RegistrationStatus::kCancelled &&
                          seats_freed_) {
                        seats_freed_(r.event_id, r.ticket_type_id);
                      }
                      Erase(reactor, key_id, id, response);
                      return;
                    }
                    quota_client_->Release(
                        r.hold_id, v1::RELEASE_REASON_CANCELLED,
                        [this, reactor, response, key_id, id,
                         event_id = r.event_id, type = r.ticket_type_id](
                            absl::StatusOr<v1::ReleaseResponse> released) {
                          if (!released.ok()) {
                            // The row is CANCELLED; a retry releases again.
                            server::Guard(reactor, "EraseAttendeeData", [&] {
                              return ToRpc(
                                  absl::UnavailableError(
                                      "the seat could not be released yet; "
                                      "retry the same request"),
                                  "EraseAttendeeData");
                            });
                            Done();
                            return;
                          }
                          if (seats_freed_) seats_freed_(event_id, type);
                          Erase(reactor, key_id, id, response);
                        });
                  });
            });
        return grpc::Status::OK;
      });
  if (!handed_off) reactor->Finish(early);
  return reactor;
}

void OrganizerWrites::Erase(grpc::ServerUnaryReactor* reactor,
                            std::string key_id, std::string registration_id,
                            v1::EraseAttendeeDataResponse* response) {
  pool_->Submit(
      pg::Transact(
          [key_id = std::move(key_id), id = std::move(registration_id)](
              pqxx::work& tx) -> absl::StatusOr<v1::Registration> {
            pqxx::result r = tx.exec_params(
                "SELECT event_id, erased_at IS NOT NULL FROM "
                "registration.registrations WHERE registration_id = $1 "
                "FOR UPDATE",
                id);
            if (r.empty()) return RegistrationNotFoundError();
            const std::string event_id = r[0][0].as<std::string>();
            const bool already = r[0][1].as<bool>();
            if (!already) {
              tx.exec_params(
                  "UPDATE registration.registrations SET email = '', "
                  "full_name = '', request_fingerprint = 'erased', "
                  "erased_at = now(), updated_at = now() "
                  "WHERE registration_id = $1",
                  id);
            }
            pqxx::result scrubbed = tx.exec_params(
                "UPDATE registration.outbox SET payload = $2::jsonb "
                "WHERE registration_id = $1 AND processed_at IS NULL "
                "AND payload <> $2::jsonb",
                id, std::string(kScrubbedPayload));
            nlohmann::json detail = {
                {"already_erased", already},
                {"outbox_rows_scrubbed", scrubbed.affected_rows()}};
            AppendAudit(
                tx, {key_id, "EraseAttendeeData", event_id, id, detail.dump()});
            return ReadRegistration(tx, id);
          }),
      [this, reactor, response](absl::StatusOr<v1::Registration> erased) {
        server::Guard(reactor, "EraseAttendeeData", [&] {
          if (!erased.ok()) {
            return ToRpc(Retryable(erased.status(), false),
                         "EraseAttendeeData");
          }
          log::Info("attendee data erased", {{"registration_id", erased->id()},
                                             {"event_id", erased->event_id()}});
          *response->mutable_registration() = std::move(*erased);
          return grpc::Status::OK;
        });
        Done();
      });
}

// ---------------------------------------------------------------------------
// CreateEvent's audit row

void OrganizerWrites::AuditCreateEvent(const std::string& key_id,
                                       const v1::Event& event) {
  nlohmann::json types = nlohmann::json::array();
  for (const v1::TicketType& t : event.ticket_types()) {
    types.push_back({{"id", t.id()}, {"capacity", t.capacity()}});
  }
  nlohmann::json detail = {{"capacity", event.capacity()},
                           {"ticket_types", types}};
  AuditEntry entry{key_id, "CreateEvent", event.id(), event.id(),
                   detail.dump()};
  Started();
  pool_->Submit(pg::Transact([entry](pqxx::work& tx) -> absl::Status {
                  AppendAudit(tx, entry);
                  return absl::OkStatus();
                }),
                [this, event_id = event.id()](absl::Status status) {
                  if (!status.ok()) {
                    log::Error("audit row of CreateEvent not written",
                               {{"event_id", event_id},
                                {"error", std::string(status.message())}});
                  }
                  Done();
                });
}

}  // namespace admit::registration
