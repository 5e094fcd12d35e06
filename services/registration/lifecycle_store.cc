#include "services/registration/lifecycle_store.h"

#include <future>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/status/status.h"
#include "pqxx/pqxx"
#include "services/registration/pg_registration_store.h"
#include "services/registration/registration_errors.h"

namespace admit::registration {
namespace {

using internal::LockEvent;
using internal::SelectRecord;
using internal::TextArray;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Waits on the calling (pool) thread for an asynchronous quota call.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  std::promise<absl::StatusOr<T>> promise;
  std::future<absl::StatusOr<T>> future = promise.get_future();
  start([&promise](absl::StatusOr<T> result) {
    promise.set_value(std::move(result));
  });
  return future.get();
}

bool Lapsed(const RegistrationRecord& r, absl::Time now) {
  return r.status == RegistrationStatus::kPendingConfirmation &&
         r.hold_expires_at.has_value() && *r.hold_expires_at <= now;
}

// The database's clock (the one hold_expires_at is compared with by the
// sweep), as of this statement.
absl::Time DbNow(pqxx::transaction_base& tx) {
  return absl::FromUnixMicros(
      tx.exec1("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)"
               "::bigint")[0]
          .as<int64_t>());
}

// The status checks shared by Confirm and QueueResend, for a row that is not
// CONFIRMED.
absl::Status CheckPending(const RegistrationRecord& r, absl::Time now) {
  switch (r.status) {
    case RegistrationStatus::kCancelled:
      return RegistrationCancelledError();
    case RegistrationStatus::kExpired:
      return RegistrationExpiredError(
          "the registration expired: its seat hold was not confirmed in time");
    case RegistrationStatus::kWaitlisted:
      return RegistrationNotPendingError(
          "the registration is on the waitlist: it has no seat to confirm");
    case RegistrationStatus::kConfirmed:
      return RegistrationNotPendingError("the registration is confirmed");
    case RegistrationStatus::kPendingConfirmation:
      break;
  }
  if (Lapsed(r, now)) {
    return RegistrationExpiredError(
        "the registration expired: its seat hold was not confirmed in time");
  }
  return absl::OkStatus();
}

std::vector<std::string> EventParams(const OutboxEvent& e) {
  return {e.name, e.starts_at, e.ends_at, e.time_zone, e.ticket_type_name};
}

absl::StatusOr<RegistrationRecord> ConfirmTx(pqxx::work& tx, QuotaClient* quota,
                                             const std::string& id,
                                             const std::string& ticket_code,
                                             const OutboxEvent& event) {
  absl::StatusOr<RegistrationRecord> rec = SelectRecord(tx, id, true);
  if (!rec.ok()) return rec.status();
  if (rec->status == RegistrationStatus::kConfirmed) return rec;
  RETURN_IF_ERROR(CheckPending(*rec, DbNow(tx)));
  absl::StatusOr<v1::CommitResponse> committed = Await<v1::CommitResponse>(
      [&](auto done) { quota->Commit(rec->hold_id, std::move(done)); });
  if (!committed.ok()) {
    const absl::Status& s = committed.status();
    if (s.code() == absl::StatusCode::kFailedPrecondition) {
      // HOLD_EXPIRED or HOLD_RELEASED: the seat is gone.
      return RegistrationExpiredError(
          "the registration expired: its seat hold ended");
    }
    if (s.code() == absl::StatusCode::kNotFound) {
      return absl::InternalError(
          absl::StrCat("the quota service does not know the hold of a "
                       "pending registration: ",
                       s.message()));
    }
    return absl::UnavailableError(
        absl::StrCat("the capacity service could not commit the seat (",
                     absl::StatusCodeToString(s.code()), "); retry"));
  }
  tx.exec_params(
      "UPDATE registration.registrations SET status = 2, ticket_code = $2, "
      "confirmed_at = now(), hold_expires_at = NULL, updated_at = now() "
      "WHERE registration_id = $1",
      id, ticket_code);
  const std::vector<std::string> e = EventParams(event);
  tx.exec_params(absl::StrCat("INSERT INTO registration.outbox (kind, reason, "
                              "registration_id, event_id, payload) "
                              "SELECT 'ticket', $1::text, r.registration_id, "
                              "r.event_id, ",
                              PayloadSql(1),
                              " FROM registration.registrations r WHERE "
                              "r.registration_id = $7"),
                 "confirmed", e[0], e[1], e[2], e[3], e[4], id);
  return SelectRecord(tx, id, false);
}

absl::StatusOr<QueuedEmail> QueueResendTx(pqxx::work& tx, const std::string& id,
                                          const std::string& token_hash,
                                          int max_per_hour,
                                          const OutboxEvent& event) {
  // The row lock serializes resends of one registration, so the count
  // below is exact.
  absl::StatusOr<RegistrationRecord> rec = SelectRecord(tx, id, true);
  if (!rec.ok()) return rec.status();
  if (!crypto::ConstantTimeEquals(token_hash, rec->token_hash)) {
    return RegistrationNotFoundError();
  }
  RETURN_IF_ERROR(CheckPending(*rec, DbNow(tx)));
  // Resends of the last hour, oldest first; the one that leaves the window
  // first is the (count - max + 1)-th oldest.
  pqxx::result recent = tx.exec_params(
      "SELECT (extract(epoch FROM created_at + interval '1 hour' - "
      "clock_timestamp()) * 1000000)::bigint FROM registration.outbox WHERE "
      "registration_id = $1 AND kind = 'confirmation' AND created_at > "
      "clock_timestamp() - interval '1 hour' AND reason = 'resend' "
      "ORDER BY created_at",
      id);
  const int count = static_cast<int>(recent.size());
  if (count >= max_per_hour) {
    const int64_t wait_us = recent[count - max_per_hour][0].as<int64_t>();
    return ResendRateLimitedError(
        absl::Microseconds(std::max<int64_t>(wait_us, 0)));
  }
  const std::vector<std::string> e = EventParams(event);
  pqxx::row row = tx.exec_params1(
      absl::StrCat("INSERT INTO registration.outbox (kind, reason, "
                   "registration_id, event_id, payload) "
                   "SELECT 'confirmation', $1::text, r.registration_id, "
                   "r.event_id, ",
                   PayloadSql(1),
                   " FROM registration.registrations r WHERE "
                   "r.registration_id = $7 RETURNING outbox_id, "
                   "(extract(epoch FROM created_at) * 1000000)::bigint"),
      "resend", e[0], e[1], e[2], e[3], e[4], id);
  QueuedEmail out;
  out.record = std::move(*rec);
  out.outbox_id = row[0].as<int64_t>();
  out.queued_at = absl::FromUnixMicros(row[1].as<int64_t>());
  return out;
}

absl::StatusOr<std::vector<ExpiredRegistration>> ExpireTx(pqxx::work& tx,
                                                          int limit) {
  pqxx::result r = tx.exec_params(
      "WITH c AS (SELECT registration_id FROM registration.registrations "
      "WHERE status = 1 AND hold_expires_at < now() ORDER BY hold_expires_at "
      "LIMIT $1 FOR UPDATE SKIP LOCKED) "
      "UPDATE registration.registrations r SET status = 5, expired_at = now(), "
      "updated_at = now() FROM c WHERE r.registration_id = c.registration_id "
      "RETURNING r.registration_id, r.event_id, r.ticket_type_id, "
      "COALESCE(r.hold_id, '')",
      limit);
  std::vector<ExpiredRegistration> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                   row[2].as<std::string>(), row[3].as<std::string>()});
  }
  return out;
}

// Whether a sold-out answer names only organization allotments.
bool OnlyAllotmentsFull(const v1::ReserveResponse& response) {
  if (response.full_quotas().empty()) return false;
  for (const v1::QuotaKey& key : response.full_quotas()) {
    if (key.kind() != v1::QUOTA_KIND_ORGANIZATION) return false;
  }
  return true;
}

absl::StatusOr<PromoteResult> PromoteTx(pqxx::work& tx, QuotaClient* quota,
                                        const std::string& event_id,
                                        const std::string& ticket_type_id,
                                        absl::Duration hold_ttl,
                                        const OutboxEvent& event,
                                        const PromoteOptions& options) {
  LockEvent(tx, event_id);
  PromoteResult result;
  std::vector<std::string> passed_over;  // refused by their allotment only
  absl::Status first_error;
  const int64_t ttl_us = absl::ToInt64Microseconds(hold_ttl);
  const std::vector<std::string> e = EventParams(event);
  while (result.promoted < options.max_per_transaction) {
    pqxx::result head = tx.exec_params(
        "SELECT registration_id, organization_key FROM "
        "registration.registrations WHERE event_id = $1 AND ticket_type_id = "
        "$2 AND status = 3 AND registration_id <> ALL($3::text[]) ORDER BY "
        "waitlist_seq LIMIT 1",
        event_id, ticket_type_id, TextArray(passed_over));
    if (head.empty()) break;
    const std::string id = head[0][0].as<std::string>();
    const std::string org = head[0][1].as<std::string>();
    std::optional<v1::Hold> hold;
    bool sold_out = false;
    bool allotment_only = false;
    for (int generation = 0; generation < options.max_hold_generations;
         ++generation) {
      v1::ReserveRequest request;
      request.set_hold_id(PromotionHoldId(id, generation));
      request.set_event_id(event_id);
      request.set_ticket_type_id(ticket_type_id);
      request.set_organization(org);
      request.mutable_ttl()->set_seconds(ttl_us / 1000000);
      request.mutable_ttl()->set_nanos(static_cast<int32_t>(ttl_us % 1000000) *
                                       1000);
      absl::StatusOr<v1::ReserveResponse> response =
          Await<v1::ReserveResponse>([&](auto done) {
            quota->Reserve(std::move(request), std::move(done));
          });
      if (!response.ok()) {
        first_error = response.status();
        break;
      }
      if (response->outcome() != v1::RESERVE_OUTCOME_RESERVED) {
        sold_out = true;
        allotment_only = OnlyAllotmentsFull(*response);
        break;
      }
      if (response->hold().state() == v1::HOLD_STATE_HELD) {
        hold = response->hold();
        break;
      }
      // Dead (released or expired): an earlier promotion attempt that
      // failed; the next generation is a fresh hold.
    }
    if (!first_error.ok()) break;
    if (sold_out) {
      if (!allotment_only) break;
      passed_over.push_back(id);
      continue;
    }
    if (!hold.has_value()) {
      first_error = absl::UnavailableError("no usable promotion hold");
      break;
    }
    const int64_t expires_us =
        absl::ToUnixMicros(FromProto(hold->expires_at()));
    tx.exec_params(
        "UPDATE registration.registrations SET status = 1, hold_id = $2, "
        "hold_expires_at = 'epoch'::timestamptz + $3 * interval "
        "'1 microsecond', updated_at = now() WHERE registration_id = $1",
        id, hold->hold_id(), expires_us);
    tx.exec_params(
        "UPDATE registration.waitlist_counters SET waitlisted = waitlisted - 1 "
        "WHERE event_id = $1 AND ticket_type_id = $2",
        event_id, ticket_type_id);
    tx.exec_params(absl::StrCat("INSERT INTO registration.outbox (kind, "
                                "reason, registration_id, event_id, payload) "
                                "SELECT 'promotion', $1::text, "
                                "r.registration_id, r.event_id, ",
                                PayloadSql(1),
                                " FROM registration.registrations r WHERE "
                                "r.registration_id = $7"),
                   "promoted", e[0], e[1], e[2], e[3], e[4], id);
    ++result.promoted;
  }
  if (!first_error.ok()) {
    log::Warn("waitlist promotion stopped",
              {{"event_id", event_id},
               {"ticket_type_id", ticket_type_id},
               {"error", first_error.ToString()}});
    if (result.promoted == 0) return first_error;
    return result;
  }
  result.more = result.promoted >= options.max_per_transaction;
  return result;
}

}  // namespace

std::string PromotionHoldId(const std::string& registration_id,
                            int generation) {
  const std::string digest = crypto::Sha256Hex(
      absl::StrCat("promote.v1", std::string(1, '\0'), registration_id,
                   std::string(1, '\0'), generation));
  return absl::StrCat("reg-", digest.substr(0, 40));
}

PgLifecycleStore::PgLifecycleStore(pg::Pool* pool, QuotaClient* quota,
                                   pg::RetryPolicy retry)
    : pool_(pool), quota_(quota), retry_(retry) {}

void PgLifecycleStore::Confirm(std::string registration_id,
                               std::string ticket_code, OutboxEvent event,
                               StoreCallback<RegistrationRecord> done) {
  pool_->Submit(
      pg::Transact(
          [this, id = std::move(registration_id), code = std::move(ticket_code),
           event = std::move(event)](pqxx::work& tx) {
            return ConfirmTx(tx, quota_, id, code, event);
          },
          retry_),
      std::move(done));
}

void PgLifecycleStore::QueueResend(std::string registration_id,
                                   std::string token_hash, int max_per_hour,
                                   OutboxEvent event,
                                   StoreCallback<QueuedEmail> done) {
  pool_->Submit(
      pg::Transact(
          [id = std::move(registration_id), hash = std::move(token_hash),
           max_per_hour, event = std::move(event)](pqxx::work& tx) {
            return QueueResendTx(tx, id, hash, max_per_hour, event);
          },
          retry_),
      std::move(done));
}

absl::StatusOr<std::vector<ExpiredRegistration>> PgLifecycleStore::ExpireBatch(
    int limit) {
  return pool_->Run(pg::Transact(
      [limit](pqxx::work& tx) { return ExpireTx(tx, limit); }, retry_));
}

absl::StatusOr<PromoteResult> PgLifecycleStore::Promote(
    const std::string& event_id, const std::string& ticket_type_id,
    absl::Duration hold_ttl, const OutboxEvent& event,
    const PromoteOptions& options) {
  return pool_->Run(pg::Transact(
      [&](pqxx::work& tx) {
        return PromoteTx(tx, quota_, event_id, ticket_type_id, hold_ttl, event,
                         options);
      },
      retry_));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
PgLifecycleStore::WaitlistedTypes() {
  return pool_->Run(
      [](pqxx::connection& conn)
          -> absl::StatusOr<std::vector<std::pair<std::string, std::string>>> {
        pqxx::nontransaction tx(conn);
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& row :
             tx.exec("SELECT event_id, ticket_type_id FROM "
                     "registration.waitlist_counters WHERE waitlisted > 0 "
                     "ORDER BY event_id, ticket_type_id")) {
          out.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
        }
        return out;
      });
}

}  // namespace admit::registration
