#include "services/quota/quota_service.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/server/guard.h"
#include "common/status/status.h"
#include "services/quota/validation.h"

namespace admit::quota {
namespace {

// --- proto -> domain --------------------------------------------------------

QuotaKey KeyFromProto(const v1::QuotaKey& key) {
  return QuotaKey{static_cast<QuotaKind>(key.kind()), key.ticket_type_id(),
                  key.organization()};
}

// nullopt when unset or not a valid Duration (nanos out of range, signs
// disagreeing); validation then names the field.
std::optional<absl::Duration> DurationFromProto(
    bool present, const google::protobuf::Duration& d) {
  if (!present) return std::nullopt;
  if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000) {
    return std::nullopt;
  }
  if ((d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return std::nullopt;
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

ReserveCommand ReserveFromProto(const v1::ReserveRequest& r) {
  return ReserveCommand{r.hold_id(), r.event_id(), r.ticket_type_id(),
                        r.organization(),
                        DurationFromProto(r.has_ttl(), r.ttl())};
}

SetQuotasCommand SetQuotasFromProto(const v1::SetQuotasRequest& r) {
  SetQuotasCommand command;
  command.event_id = r.event_id();
  for (const v1::QuotaLimit& limit : r.set()) {
    command.set.push_back({KeyFromProto(limit.key()), limit.capacity()});
  }
  for (const v1::QuotaKey& key : r.remove()) {
    command.remove.push_back(KeyFromProto(key));
  }
  return command;
}

// --- domain -> proto --------------------------------------------------------

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

void KeyToProto(const QuotaKey& key, v1::QuotaKey* out) {
  out->set_kind(static_cast<v1::QuotaKind>(key.kind));
  out->set_ticket_type_id(key.ticket_type_id);
  out->set_organization(key.organization);
}

void UsageToProto(const QuotaUsage& usage, v1::QuotaUsage* out) {
  KeyToProto(usage.key, out->mutable_key());
  out->set_capacity(usage.capacity);
  out->set_held(usage.held);
  out->set_sold(usage.sold);
  out->set_remaining(usage.remaining());
}

void HoldToProto(const Hold& hold, v1::Hold* out) {
  out->set_hold_id(hold.hold_id);
  out->set_event_id(hold.event_id);
  out->set_ticket_type_id(hold.ticket_type_id);
  out->set_organization(hold.organization);
  out->set_state(static_cast<v1::HoldState>(hold.state));
  for (const QuotaKey& key : hold.quotas) KeyToProto(key, out->add_quotas());
  TimeToProto(hold.created_at, out->mutable_created_at());
  if (hold.expires_at) TimeToProto(*hold.expires_at, out->mutable_expires_at());
  if (hold.committed_at) {
    TimeToProto(*hold.committed_at, out->mutable_committed_at());
  }
  if (hold.ended_at) TimeToProto(*hold.ended_at, out->mutable_ended_at());
  out->set_release_reason(static_cast<v1::ReleaseReason>(hold.release_reason));
}

// The one mapping from the store's statuses to the wire (see the header).
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

}  // namespace

QuotaServiceImpl::QuotaServiceImpl(HoldStore* store, QuotaMetrics* metrics,
                                   QuotaServiceOptions options)
    : store_(store),
      metrics_(metrics),
      batcher_(store, metrics, options.batcher) {}

QuotaServiceImpl::~QuotaServiceImpl() { batcher_.WaitIdle(); }

grpc::ServerUnaryReactor* QuotaServiceImpl::SetQuotas(
    grpc::CallbackServerContext* context, const v1::SetQuotasRequest* request,
    v1::SetQuotasResponse* response) {
  return Handle(
      context, "SetQuotas",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        SetQuotasCommand command = SetQuotasFromProto(*request);
        RETURN_IF_ERROR(ValidateSetQuotas(command));
        handed_off = true;
        store_->SetQuotas(
            std::move(command),
            [this, reactor, response](absl::StatusOr<EventUsage> usage) {
              server::Guard(reactor, "SetQuotas", [&] {
                if (!usage.ok())
                  return ToRpcStatus(usage.status(), "SetQuotas");
                if (metrics_ != nullptr) {
                  metrics_->SetEventQuotas(usage->event_id, usage->quotas);
                }
                log::Info(
                    "quotas set",
                    {{"event_id", usage->event_id},
                     {"quotas", static_cast<int64_t>(usage->quotas.size())}});
                for (const QuotaUsage& q : usage->quotas) {
                  UsageToProto(q, response->add_quotas());
                }
                return grpc::Status::OK;
              });
            });
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* QuotaServiceImpl::Reserve(
    grpc::CallbackServerContext* context, const v1::ReserveRequest* request,
    v1::ReserveResponse* response) {
  return Handle(context, "Reserve",
                [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
                  ReserveCommand command = ReserveFromProto(*request);
                  RETURN_IF_ERROR(ValidateReserve(command));
                  handed_off = true;
                  batcher_.Reserve(
                      std::move(command),
                      [reactor, response](absl::StatusOr<ReserveResult> r) {
                        server::Guard(reactor, "Reserve", [&] {
                          if (!r.ok())
                            return ToRpcStatus(r.status(), "Reserve");
                          if (r->outcome == ReserveOutcome::kReserved) {
                            response->set_outcome(v1::RESERVE_OUTCOME_RESERVED);
                            HoldToProto(r->hold, response->mutable_hold());
                          } else {
                            response->set_outcome(v1::RESERVE_OUTCOME_SOLD_OUT);
                            for (const QuotaKey& key : r->full_quotas) {
                              KeyToProto(key, response->add_full_quotas());
                            }
                          }
                          return grpc::Status::OK;
                        });
                      });
                  return absl::OkStatus();
                });
}

grpc::ServerUnaryReactor* QuotaServiceImpl::Commit(
    grpc::CallbackServerContext* context, const v1::CommitRequest* request,
    v1::CommitResponse* response) {
  return Handle(
      context, "Commit",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        RETURN_IF_ERROR(ValidateHoldId(request->hold_id()));
        handed_off = true;
        store_->Commit(
            request->hold_id(),
            [this, reactor, response](absl::StatusOr<HoldChange> change) {
              server::Guard(reactor, "Commit", [&] {
                if (!change.ok()) return ToRpcStatus(change.status(), "Commit");
                if (metrics_ != nullptr)
                  metrics_->SetRemaining(change->touched);
                HoldToProto(change->hold, response->mutable_hold());
                return grpc::Status::OK;
              });
            });
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* QuotaServiceImpl::Release(
    grpc::CallbackServerContext* context, const v1::ReleaseRequest* request,
    v1::ReleaseResponse* response) {
  return Handle(
      context, "Release",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        RETURN_IF_ERROR(ValidateHoldId(request->hold_id()));
        const int reason = request->reason();
        if (reason < 0 ||
            reason > static_cast<int>(ReleaseReason::kAbandoned)) {
          return InvalidFields(
              {{"reason", "must be a ReleaseReason value (0, 1 or 2)"}});
        }
        handed_off = true;
        store_->Release(
            request->hold_id(), static_cast<ReleaseReason>(reason),
            [this, reactor, response](absl::StatusOr<HoldChange> change) {
              server::Guard(reactor, "Release", [&] {
                if (!change.ok())
                  return ToRpcStatus(change.status(), "Release");
                if (metrics_ != nullptr) {
                  metrics_->SetRemaining(change->touched);
                  if (change->expired_now) metrics_->CountExpired(1);
                }
                HoldToProto(change->hold, response->mutable_hold());
                return grpc::Status::OK;
              });
            });
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* QuotaServiceImpl::GetHold(
    grpc::CallbackServerContext* context, const v1::GetHoldRequest* request,
    v1::GetHoldResponse* response) {
  return Handle(context, "GetHold",
                [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
                  RETURN_IF_ERROR(ValidateHoldId(request->hold_id()));
                  handed_off = true;
                  store_->GetHold(
                      request->hold_id(),
                      [reactor, response](absl::StatusOr<Hold> hold) {
                        server::Guard(reactor, "GetHold", [&] {
                          if (!hold.ok())
                            return ToRpcStatus(hold.status(), "GetHold");
                          HoldToProto(*hold, response->mutable_hold());
                          return grpc::Status::OK;
                        });
                      });
                  return absl::OkStatus();
                });
}

grpc::ServerUnaryReactor* QuotaServiceImpl::GetUsage(
    grpc::CallbackServerContext* context, const v1::GetUsageRequest* request,
    v1::GetUsageResponse* response) {
  return Handle(
      context, "GetUsage",
      [&](grpc::ServerUnaryReactor* reactor, bool& handed_off) {
        RETURN_IF_ERROR(ValidateEventId(request->event_id()));
        handed_off = true;
        store_->GetUsage(
            request->event_id(),
            [this, reactor, response](absl::StatusOr<EventUsage> usage) {
              server::Guard(reactor, "GetUsage", [&] {
                if (!usage.ok()) return ToRpcStatus(usage.status(), "GetUsage");
                if (metrics_ != nullptr) {
                  metrics_->SetEventQuotas(usage->event_id, usage->quotas);
                }
                response->set_event_id(usage->event_id);
                for (const QuotaUsage& q : usage->quotas) {
                  UsageToProto(q, response->add_quotas());
                }
                TimeToProto(usage->as_of, response->mutable_as_of());
                return grpc::Status::OK;
              });
            });
        return absl::OkStatus();
      });
}

}  // namespace admit::quota
