#include "services/registration/registrar.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/status/status.h"
#include "services/registration/registration_errors.h"

namespace admit::registration {
namespace {

using SteadyClock = std::chrono::steady_clock;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Status UnavailableError(const std::string& what) {
  return absl::UnavailableError(
      absl::StrCat(what, "; retry with the same request_id"));
}

bool OwnsSeat(v1::HoldState state) {
  return state == v1::HOLD_STATE_HELD || state == v1::HOLD_STATE_COMMITTED;
}

}  // namespace

// One Register request on its way through the flow.
struct Registrar::Flow {
  RegisterInput input;
  std::string key;  // in_flight_ key
  std::string fingerprint;
  Done done;
  absl::Duration hold_ttl;
  int generation = 0;
  std::string hold_id;  // the hold this flow owns a seat with; "" = none
  std::optional<absl::Time> hold_expires_at;
  OutboxEvent event;  // for the outbox payload
  SteadyClock::time_point reserve_started;
  std::string manage_token;  // of the row this flow inserts
  bool owns_email = false;   // holds the by_email_ entry of its email
};

std::string RequestFingerprint(const RegisterInput& input) {
  // NUL-separated: no field may contain a NUL (validation rejects control
  // characters), so the encoding is unambiguous.
  const std::string canonical =
      absl::StrCat("register.v1", std::string(1, '\0'), input.ticket_type_id,
                   std::string(1, '\0'), input.attendee.email,
                   std::string(1, '\0'), input.attendee.full_name,
                   std::string(1, '\0'), input.attendee.organization,
                   std::string(1, '\0'), input.attendee.country_code);
  return crypto::Sha256Hex(canonical);
}

std::string HoldIdFor(const std::string& event_id,
                      const std::string& request_id, int generation) {
  const std::string digest = crypto::Sha256Hex(absl::StrCat(
      "hold.v1", std::string(1, '\0'), event_id, std::string(1, '\0'),
      request_id, std::string(1, '\0'), generation));
  return absl::StrCat("reg-", digest.substr(0, 40));
}

std::string NewRegistrationId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t hi = rng();
  const uint64_t lo = rng();
  // Version 4, variant 10xx.
  const uint64_t a = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const uint64_t b = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32,
                         (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                         b & 0xffffffffffffULL);
}

absl::Status CheckOpen(const v1::Event& event,
                       const std::string& ticket_type_id, absl::Time now) {
  bool found = false;
  for (const v1::TicketType& t : event.ticket_types()) {
    if (t.id() == ticket_type_id) found = true;
  }
  if (!found) return TicketTypeNotFoundError(event.id(), ticket_type_id);
  if (event.has_registration_opens_at()) {
    const absl::Time opens = FromProto(event.registration_opens_at());
    if (now < opens) return RegistrationNotOpenYetError(opens);
  }
  if (event.has_registration_closes_at()) {
    if (now >= FromProto(event.registration_closes_at())) {
      return RegistrationClosedError();
    }
  } else if (event.has_ends_at() && now >= FromProto(event.ends_at())) {
    return RegistrationClosedError();
  }
  return absl::OkStatus();
}

absl::Duration HoldTtl(const v1::Event& event) {
  if (!event.has_hold_ttl()) return absl::Minutes(30);
  const absl::Duration ttl = absl::Seconds(event.hold_ttl().seconds()) +
                             absl::Nanoseconds(event.hold_ttl().nanos());
  // The quota service accepts 1 s - 7 days; an event outside (a bug
  // elsewhere) is clamped rather than failing every registration.
  return std::clamp(ttl, absl::Seconds(1), absl::Hours(24 * 7));
}

Registrar::Registrar(EventSource* events, RegistrationStore* store,
                     QuotaClient* quota, const crypto::Sealer* sealer,
                     RegistrationMetrics* metrics, RegistrarOptions options)
    : events_(events),
      store_(store),
      quota_(quota),
      sealer_(sealer),
      metrics_(metrics),
      options_(std::move(options)),
      batcher_(store, options_.batcher, [metrics](size_t n) {
        if (metrics != nullptr) metrics->ObserveBatch(n);
      }) {}

Registrar::~Registrar() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return active_ == 0; });
}

void Registrar::Begin() {
  std::lock_guard<std::mutex> lock(mu_);
  ++active_;
}

void Registrar::End() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) idle_cv_.notify_all();
}

void Registrar::Register(RegisterInput input, Done done) {
  auto flow = std::make_shared<Flow>();
  flow->key = absl::StrCat(input.event_id, "\n", input.request_id);
  flow->fingerprint = RequestFingerprint(input);
  flow->input = std::move(input);
  flow->done = std::move(done);
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = in_flight_.find(flow->key);
    if (it != in_flight_.end()) {
      // A copy of this request is in flight here: wait for its answer.
      it->second.waiters.push_back({flow->fingerprint, std::move(flow->done)});
      return;
    }
    if (static_cast<int64_t>(in_flight_.size()) >= options_.max_in_flight) {
      lock.unlock();  // `done` may take locks of its own
      absl::Status busy = UnavailableError(
          "registration replica busy: too many registrations in flight");
      if (metrics_ != nullptr) metrics_->CountRejected(busy);
      flow->done(std::move(busy));
      return;
    }
    in_flight_.try_emplace(flow->key);
    ++active_;
  }
  const std::string event_id = flow->input.event_id;
  events_->Get(event_id, [this, flow](absl::StatusOr<EventSnapshot> event) {
    OnEvent(flow, std::move(event));
  });
}

void Registrar::OnEvent(std::shared_ptr<Flow> flow,
                        absl::StatusOr<EventSnapshot> event) {
  if (!event.ok()) return Finish(flow, event.status());
  const v1::Event& e = **event;
  if (absl::Status open =
          CheckOpen(e, flow->input.ticket_type_id, options_.clock());
      !open.ok()) {
    return Finish(flow, open);
  }
  flow->hold_ttl = HoldTtl(e);
  flow->event = OutboxEventFor(e, flow->input.ticket_type_id);
  {
    // One flow per (event, email) past this point on this replica: a
    // request with the email of a registration in flight here (a double
    // click under a new request_id, or another person's typo) waits for it
    // and then finds it in its pre-check, instead of taking a seat that
    // its batch would give back (two more transactions, one of them on the
    // quota service's hot row).
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, first] = by_email_.try_emplace(EmailKey(flow->input));
    if (!first) {
      it->second.push_back(flow);
      return;
    }
    flow->owns_email = true;
  }
  PreCheck(flow);
}

std::string Registrar::EmailKey(const RegisterInput& input) {
  return absl::StrCat(input.event_id, "\n", input.attendee.email);
}

void Registrar::PreCheck(std::shared_ptr<Flow> flow) {
  store_->Lookup(flow->input.event_id, flow->input.request_id,
                 flow->input.attendee.email,
                 [this, flow](absl::StatusOr<RegisterLookup> lookup) {
                   OnLookup(flow, std::move(lookup));
                 });
}

void Registrar::OnLookup(std::shared_ptr<Flow> flow,
                         absl::StatusOr<RegisterLookup> lookup) {
  if (!lookup.ok()) return Finish(flow, lookup.status());
  if (lookup->same_request.has_value()) {
    return Finish(flow, AnswerFrom(*flow, *lookup->same_request));
  }
  if (lookup->email_taken) return Finish(flow, EmailAlreadyRegisteredError());
  Reserve(flow);
}

void Registrar::Reserve(std::shared_ptr<Flow> flow) {
  v1::ReserveRequest request;
  request.set_hold_id(HoldIdFor(flow->input.event_id, flow->input.request_id,
                                flow->generation));
  request.set_event_id(flow->input.event_id);
  request.set_ticket_type_id(flow->input.ticket_type_id);
  request.set_organization(flow->input.attendee.organization_key);
  const int64_t ttl_us = absl::ToInt64Microseconds(flow->hold_ttl);
  request.mutable_ttl()->set_seconds(ttl_us / 1000000);
  request.mutable_ttl()->set_nanos(static_cast<int32_t>(ttl_us % 1000000) *
                                   1000);
  flow->reserve_started = SteadyClock::now();
  quota_->Reserve(std::move(request),
                  [this, flow](absl::StatusOr<v1::ReserveResponse> response) {
                    OnReserve(flow, std::move(response));
                  });
}

void Registrar::OnReserve(std::shared_ptr<Flow> flow,
                          absl::StatusOr<v1::ReserveResponse> response) {
  if (metrics_ != nullptr) {
    metrics_->ObserveReserve(std::chrono::duration<double>(
                                 SteadyClock::now() - flow->reserve_started)
                                 .count());
  }
  if (!response.ok()) {
    const absl::Status& s = response.status();
    if (s.code() == absl::StatusCode::kInvalidArgument &&
        GetErrorReason(s) == "REQUEST_ID_REUSED") {
      // A copy with this request_id but another ticket type or organization
      // took the hold first.
      return Finish(flow, RequestIdReusedError());
    }
    // Not released: if the Reserve happened, a retry with the same
    // request_id gets this very hold back; if nobody retries it expires.
    log::Warn("quota reserve failed",
              {{"event_id", flow->input.event_id}, {"error", s.ToString()}});
    return Finish(flow, UnavailableError(absl::StrCat(
                            "the capacity service could not decide (",
                            absl::StatusCodeToString(s.code()), ")")));
  }
  if (response->outcome() == v1::RESERVE_OUTCOME_RESERVED) {
    const v1::Hold& hold = response->hold();
    if (!OwnsSeat(hold.state())) {
      // This generation's hold is dead (released by an earlier attempt that
      // failed, or expired). A registration that owns it would have been
      // found by the lookup unless it raced us: the batch checks that too.
      if (++flow->generation >= options_.max_hold_generations) {
        return Finish(flow, UnavailableError("no usable seat hold"));
      }
      return Reserve(flow);
    }
    flow->hold_id = hold.hold_id();
    flow->hold_expires_at = FromProto(hold.expires_at());
  }
  // SOLD_OUT: waitlisted, no hold.
  Store(flow);
}

void Registrar::Store(std::shared_ptr<Flow> flow) {
  NewRegistration row;
  row.registration_id = NewRegistrationId();
  row.event_id = flow->input.event_id;
  row.ticket_type_id = flow->input.ticket_type_id;
  row.request_id = flow->input.request_id;
  row.fingerprint = flow->fingerprint;
  row.attendee = flow->input.attendee;
  row.status = flow->hold_id.empty() ? RegistrationStatus::kWaitlisted
                                     : RegistrationStatus::kPendingConfirmation;
  row.hold_id = flow->hold_id;
  row.hold_expires_at = flow->hold_expires_at;
  row.event = flow->event;
  flow->manage_token = crypto::NewToken();
  row.token_hash = crypto::TokenHash(flow->manage_token);
  row.token_sealed = sealer_->Seal(flow->manage_token, row.registration_id);
  batcher_.Insert(std::move(row),
                  [this, flow](absl::StatusOr<InsertResult> result) {
                    OnInserted(flow, std::move(result));
                  });
}

void Registrar::OnInserted(std::shared_ptr<Flow> flow,
                           absl::StatusOr<InsertResult> result) {
  if (!result.ok()) {
    const absl::Status& s = result.status();
    // Nothing was stored: give the seat back now rather than at expiry.
    // Not when the outcome is unknown (the row may exist), nor when the
    // hold was already abandoned by another attempt (ABORTED).
    if (s.code() != absl::StatusCode::kUnknown &&
        s.code() != absl::StatusCode::kAborted && !flow->hold_id.empty()) {
      Abandon(flow->input.event_id, flow->hold_id);
    }
    return Finish(flow, UnavailableError(absl::StrCat(
                            "the registration could not be stored (",
                            absl::StatusCodeToString(s.code()), ")")));
  }
  switch (result->outcome) {
    case InsertOutcome::kInserted: {
      RegisterAnswer answer;
      answer.record = std::move(result->record);
      answer.manage_token = std::move(flow->manage_token);
      if (metrics_ != nullptr) {
        metrics_->CountRegistration(
            flow->input.event_id,
            answer.record.status == RegistrationStatus::kWaitlisted
                ? "waitlisted"
                : "pending_confirmation");
      }
      return Finish(flow, std::move(answer));
    }
    case InsertOutcome::kSameRequest:
      // Another copy of this request was stored first. Our hold is its hold
      // unless we moved to a later generation.
      if (!flow->hold_id.empty() && flow->hold_id != result->record.hold_id) {
        Abandon(flow->input.event_id, flow->hold_id);
      }
      return Finish(flow, AnswerFrom(*flow, result->record));
    case InsertOutcome::kEmailTaken:
      if (!flow->hold_id.empty()) Abandon(flow->input.event_id, flow->hold_id);
      return Finish(flow, EmailAlreadyRegisteredError());
  }
  Finish(flow, absl::InternalError("unexpected insert outcome"));
}

absl::StatusOr<RegisterAnswer> Registrar::AnswerFrom(
    const Flow& flow, const RegistrationRecord& record) {
  if (record.fingerprint != flow.fingerprint) return RequestIdReusedError();
  RegisterAnswer answer;
  answer.record = record;
  answer.manage_token = OpenToken(record);
  answer.replayed = true;
  if (metrics_ != nullptr) {
    metrics_->CountRegistration(record.event_id, "replayed");
  }
  return answer;
}

std::string Registrar::OpenToken(const RegistrationRecord& record) const {
  if (record.token_sealed.empty()) return "";
  absl::StatusOr<std::string> token =
      sealer_->Open(record.token_sealed, record.registration_id);
  if (!token.ok()) {
    log::Warn("cannot open a stored manage token (key changed?)",
              {{"registration_id", record.registration_id}});
    return "";
  }
  return std::move(*token);
}

void Registrar::Abandon(const std::string& event_id,
                        const std::string& hold_id) {
  Begin();
  // Recorded under the event's lock first, so that no batch (of a copy of
  // this request on another replica, sharing the derived hold id) stores a
  // registration on the seat being released.
  store_->AbandonHold(
      event_id, hold_id, [this, hold_id](absl::StatusOr<bool> may_release) {
        if (!may_release.ok() || !*may_release) {
          if (!may_release.ok()) {
            // The hold expires on its own (hold TTL + one sweep).
            log::Warn("cannot record an abandoned hold; it will expire",
                      {{"hold_id", hold_id},
                       {"error", may_release.status().ToString()}});
          }
          return End();
        }
        quota_->Release(
            hold_id, v1::RELEASE_REASON_ABANDONED,
            [this, hold_id](absl::StatusOr<v1::ReleaseResponse> released) {
              if (!released.ok()) {
                log::Warn("cannot release an abandoned hold; it will expire",
                          {{"hold_id", hold_id},
                           {"error", released.status().ToString()}});
              }
              End();
            });
      });
}

void Registrar::Finish(std::shared_ptr<Flow> flow,
                       absl::StatusOr<RegisterAnswer> answer) {
  std::vector<Waiter> waiters;
  std::shared_ptr<Flow> next;  // the next flow with this email
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = in_flight_.find(flow->key);
    waiters = std::move(it->second.waiters);
    in_flight_.erase(it);
    if (flow->owns_email) {
      auto e = by_email_.find(EmailKey(flow->input));
      if (e->second.empty()) {
        by_email_.erase(e);
      } else {
        next = std::move(e->second.front());
        e->second.pop_front();
        next->owns_email = true;
      }
    }
  }
  // This flow's row (if any) is committed: the next one's pre-check sees it.
  if (next != nullptr) PreCheck(std::move(next));
  if (!answer.ok() && metrics_ != nullptr) {
    metrics_->CountRejected(answer.status());
  }
  for (Waiter& w : waiters) {
    if (answer.ok() && w.fingerprint != flow->fingerprint) {
      if (metrics_ != nullptr) metrics_->CountRejected(RequestIdReusedError());
      w.done(RequestIdReusedError());
      continue;
    }
    if (answer.ok() && metrics_ != nullptr) {
      metrics_->CountRegistration(flow->input.event_id, "replayed");
    }
    absl::StatusOr<RegisterAnswer> copy = answer;
    if (copy.ok()) copy->replayed = true;
    w.done(std::move(copy));
  }
  auto done = std::move(flow->done);
  done(std::move(answer));
  End();
}

}  // namespace admit::registration
