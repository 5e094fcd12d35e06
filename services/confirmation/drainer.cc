#include "services/confirmation/drainer.h"

#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/pg/pool.h"
#include "pqxx/binarystring"
#include "pqxx/connection"
#include "pqxx/except"
#include "pqxx/nontransaction"
#include "pqxx/transaction"

namespace admit::confirmation {
namespace {

// Due rows, oldest first. A row waiting for its retry is skipped; rows
// another replica has claimed are skipped (SKIP LOCKED), not waited for.
// Only the outbox row is locked: the deliveries and tokens rows of a claimed
// row are written only by whoever holds that lock.
constexpr char kClaimSql[] =
    "SELECT o.outbox_id, o.kind, o.registration_id, o.event_id, "
    "       o.payload::text, COALESCE(d.attempts, 0), "
    "       t.outbox_id IS NOT NULL, t.token_sealed "
    "FROM registration.outbox o "
    "LEFT JOIN confirmation.deliveries d ON d.outbox_id = o.outbox_id "
    "LEFT JOIN confirmation.tokens t ON t.outbox_id = o.outbox_id "
    "WHERE o.processed_at IS NULL "
    "  AND (d.outbox_id IS NULL OR d.state <> 'retrying' "
    "       OR d.next_attempt_at <= now()) "
    "ORDER BY o.outbox_id "
    "LIMIT $1 "
    "FOR UPDATE OF o SKIP LOCKED";

constexpr char kScrubbedPayload[] = R"({"v":1,"scrubbed":true})";
constexpr size_t kMaxErrorLength = 500;

enum class Fate { kPending, kSent, kRetry, kPark };

std::string IdArray(const std::vector<int64_t>& ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

double Uniform01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

struct Drainer::Row {
  int64_t outbox_id = 0;
  std::string kind_text;
  std::string registration_id;
  std::string event_id;
  std::string payload_json;
  int prior_attempts = 0;
  bool has_token = false;
  std::optional<std::string> token_sealed;

  std::optional<MessageKind> kind;
  OutboxPayload payload;
  std::string token;
  bool needs_new_token = false;

  Fate fate = Fate::kPending;
  std::string error;
  std::chrono::milliseconds retry_delay{0};

  void Park(std::string why) {
    fate = Fate::kPark;
    error = std::move(why);
  }
};

Drainer::Drainer(DrainerOptions options, const TemplateSet* templates,
                 const crypto::Sealer* token_sealer,
                 std::unique_ptr<MailSender> sender, QrEncoder qr,
                 ConfirmationMetrics* metrics)
    : options_(std::move(options)),
      conninfo_(
          pg::WithConnectTimeout(options_.pg_url, options_.connect_timeout)),
      templates_(templates),
      token_sealer_(token_sealer),
      sender_(std::move(sender)),
      qr_(std::move(qr)),
      metrics_(metrics) {}

Drainer::~Drainer() { Stop(); }

void Drainer::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Drainer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

pqxx::connection& Drainer::Connection(std::unique_ptr<pqxx::connection>& c) {
  if (c == nullptr || !c->is_open()) {
    c = std::make_unique<pqxx::connection>(conninfo_);
  }
  return *c;
}

void Drainer::DropConnections() {
  claim_conn_.reset();
  token_conn_.reset();
}

absl::Status Drainer::PrepareTokens(std::vector<Row>& rows) {
  std::vector<Row*> fresh;
  for (Row& row : rows) {
    if (row.fate != Fate::kPending || !NeedsToken(*row.kind)) continue;
    const std::string ad = absl::StrCat(row.outbox_id);
    if (!row.has_token) {
      row.needs_new_token = true;
      fresh.push_back(&row);
      continue;
    }
    if (!row.token_sealed) {
      row.Park("the confirmation token was erased before delivery");
      continue;
    }
    auto opened = token_sealer_->Open(*row.token_sealed, ad);
    if (!opened.ok()) {
      row.Park("cannot unseal the confirmation token (key changed?)");
      continue;
    }
    row.token = *std::move(opened);
  }
  if (fresh.empty()) return absl::OkStatus();

  // Committed before any of these messages leaves: the link in the email
  // must work when it arrives, and a retry must find the same token.
  pqxx::work tx(Connection(token_conn_));
  std::vector<Row*> lost;
  for (Row* row : fresh) {
    const std::string ad = absl::StrCat(row->outbox_id);
    std::string token = crypto::NewToken();
    const std::string hash = crypto::TokenHash(token);
    const std::string sealed = token_sealer_->Seal(token, ad);
    pqxx::result r = tx.exec_params(
        "INSERT INTO confirmation.tokens (token_hash, outbox_id, "
        "registration_id, event_id, expires_at, token_sealed) "
        "VALUES ($1, $2, $3, $4, $5::timestamptz, $6) "
        "ON CONFLICT (outbox_id) DO NOTHING",
        pqxx::binarystring(hash.data(), hash.size()), row->outbox_id,
        row->registration_id, row->event_id,
        absl::FormatTime(absl::RFC3339_full, *row->payload.hold_expires_at,
                         absl::UTCTimeZone()),
        pqxx::binarystring(sealed.data(), sealed.size()));
    if (r.affected_rows() == 1) {
      row->token = std::move(token);
    } else {
      lost.push_back(row);  // a crashed replica's token committed meanwhile
    }
  }
  for (Row* row : lost) {
    pqxx::result r = tx.exec_params(
        "SELECT token_sealed FROM confirmation.tokens WHERE outbox_id = $1",
        row->outbox_id);
    auto opened =
        r.empty() || r[0][0].is_null()
            ? absl::StatusOr<std::string>(absl::NotFoundError("erased"))
            : token_sealer_->Open(pqxx::binarystring(r[0][0]).str(),
                                  absl::StrCat(row->outbox_id));
    if (opened.ok()) {
      row->token = *std::move(opened);
    } else {
      row->Park("cannot recover the confirmation token");
    }
  }
  tx.commit();
  return absl::OkStatus();
}

absl::StatusOr<BatchResult> Drainer::DrainBatch() {
  BatchResult result;
  std::vector<Row> rows;
  try {
    pqxx::work tx(Connection(claim_conn_));
    pqxx::result claimed = tx.exec_params(kClaimSql, options_.batch_size);
    reported_missing_schema_ = false;
    rows.reserve(claimed.size());
    for (const pqxx::row& r : claimed) {
      Row row;
      row.outbox_id = r[0].as<int64_t>();
      row.kind_text = r[1].as<std::string>();
      row.registration_id = r[2].as<std::string>();
      row.event_id = r[3].as<std::string>();
      row.payload_json = r[4].as<std::string>();
      row.prior_attempts = r[5].as<int>();
      row.has_token = r[6].as<bool>();
      if (!r[7].is_null()) row.token_sealed = pqxx::binarystring(r[7]).str();
      auto kind = ParseKind(row.kind_text);
      if (!kind.ok()) {
        row.Park("unknown outbox kind");
      } else {
        row.kind = *kind;
        auto payload = ParseOutboxPayload(*kind, row.payload_json);
        if (!payload.ok()) {
          row.Park(std::string(payload.status().message()));
        } else {
          row.payload = *std::move(payload);
          // The columns are authoritative for ids (and never personal data).
          row.payload.event_id = row.event_id;
          row.payload.registration_id = row.registration_id;
        }
      }
      rows.push_back(std::move(row));
    }
    result.claimed = static_cast<int>(rows.size());
    if (rows.empty()) {
      tx.commit();
      return result;
    }

    if (absl::Status s = PrepareTokens(rows); !s.ok()) return s;

    // Send. After a failure to get any SMTP session, the rest of the batch
    // is not tried: it would fail the same way (each such row still counts
    // an attempt, so an unreachable relay ends in parking, as configured).
    std::optional<std::string> relay_down;
    for (Row& row : rows) {
      if (row.fate != Fate::kPending) continue;
      if (stopping_.load()) break;  // unsent rows stay due
      std::optional<SendResult> sent;
      if (relay_down) {
        sent = SendResult{SendOutcome::kTransient, true, *relay_down};
      } else {
        auto email =
            ComposeEmail(row.outbox_id, *row.kind, row.payload, row.token,
                         *templates_, options_.compose, qr_, absl::Now());
        if (!email.ok()) {
          row.Park(std::string(email.status().message()));
          continue;
        }
        const auto start = std::chrono::steady_clock::now();
        sent = sender_->Send(email->envelope_to, email->data);
        if (metrics_ != nullptr) {
          metrics_->ObserveSend(std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count());
        }
        if (sent->connection_failed) relay_down = sent->detail;
      }
      switch (sent->outcome) {
        case SendOutcome::kSent:
          row.fate = Fate::kSent;
          break;
        case SendOutcome::kPermanent:
          row.Park(absl::StrCat("refused by the relay: ", sent->detail));
          break;
        case SendOutcome::kTransient:
          if (row.prior_attempts + 1 >= options_.max_attempts) {
            row.Park(absl::StrCat("gave up after ", row.prior_attempts + 1,
                                  " attempts: ", sent->detail));
          } else {
            row.fate = Fate::kRetry;
            row.error = sent->detail;
            row.retry_delay = RetryDelay(options_.backoff,
                                         row.prior_attempts + 1, Uniform01());
          }
          break;
      }
    }

    // Outcomes, in the claiming transaction.
    std::vector<int64_t> done;        // sent or parked: processed
    std::vector<int64_t> sent_again;  // sent after earlier attempts
    for (Row& row : rows) {
      if (row.error.size() > kMaxErrorLength) row.error.resize(kMaxErrorLength);
      const std::string message_id =
          MessageIdFor(row.outbox_id, row.event_id, options_.compose);
      switch (row.fate) {
        case Fate::kPending:
          break;
        case Fate::kSent:
          done.push_back(row.outbox_id);
          if (row.prior_attempts > 0) sent_again.push_back(row.outbox_id);
          ++result.sent;
          break;
        case Fate::kRetry:
          tx.exec_params(
              "INSERT INTO confirmation.deliveries (outbox_id, "
              "registration_id, event_id, kind, state, attempts, "
              "next_attempt_at, last_error, message_id) "
              "VALUES ($1, $2, $3, $4, 'retrying', $5, "
              "now() + $6 * interval '1 millisecond', $7, $8) "
              "ON CONFLICT (outbox_id) DO UPDATE SET state = 'retrying', "
              "attempts = EXCLUDED.attempts, "
              "next_attempt_at = EXCLUDED.next_attempt_at, "
              "last_error = EXCLUDED.last_error, updated_at = now()",
              row.outbox_id, row.registration_id, row.event_id, row.kind_text,
              row.prior_attempts + 1,
              static_cast<int64_t>(row.retry_delay.count()), row.error,
              message_id);
          ++result.retried;
          break;
        case Fate::kPark:
          tx.exec_params(
              "INSERT INTO confirmation.deliveries (outbox_id, "
              "registration_id, event_id, kind, state, attempts, "
              "next_attempt_at, last_error, message_id) "
              "VALUES ($1, $2, $3, $4, 'parked', $5, NULL, $6, $7) "
              "ON CONFLICT (outbox_id) DO UPDATE SET state = 'parked', "
              "attempts = EXCLUDED.attempts, next_attempt_at = NULL, "
              "last_error = EXCLUDED.last_error, updated_at = now()",
              row.outbox_id, row.registration_id, row.event_id, row.kind_text,
              row.prior_attempts + 1, row.error, message_id);
          done.push_back(row.outbox_id);
          ++result.parked;
          log::Warn("email parked", {{"outbox_id", row.outbox_id},
                                     {"kind", row.kind_text},
                                     {"event_id", row.event_id},
                                     {"error", row.error}});
          break;
      }
    }
    if (!done.empty()) {
      const std::string ids = IdArray(done);
      tx.exec_params(
          "UPDATE registration.outbox SET processed_at = now(), "
          "payload = $2::jsonb WHERE outbox_id = ANY($1::bigint[])",
          ids, kScrubbedPayload);
      tx.exec_params(
          "UPDATE confirmation.tokens SET token_sealed = NULL "
          "WHERE outbox_id = ANY($1::bigint[]) AND token_sealed IS NOT NULL",
          ids);
    }
    if (!sent_again.empty()) {
      tx.exec_params(
          "UPDATE confirmation.deliveries SET state = 'sent', "
          "attempts = attempts + 1, next_attempt_at = NULL, "
          "updated_at = now() WHERE outbox_id = ANY($1::bigint[])",
          IdArray(sent_again));
    }
    tx.commit();
  } catch (const pqxx::undefined_table& e) {
    if (!reported_missing_schema_) {
      log::Info(
          "registration.outbox does not exist yet (the registration service "
          "creates it); waiting",
          {{"error", std::string(e.what()).substr(
                         0, std::string(e.what()).find('\n'))}});
      reported_missing_schema_ = true;
    }
    return BatchResult{};
  } catch (const pqxx::broken_connection&) {
    DropConnections();
    return pg::ExceptionToStatus(std::current_exception());
  } catch (...) {
    absl::Status s = pg::ExceptionToStatus(std::current_exception());
    if (s.code() == absl::StatusCode::kUnavailable ||
        s.code() == absl::StatusCode::kUnknown) {
      DropConnections();
    }
    return s;
  }

  if (metrics_ != nullptr) {
    for (const Row& row : rows) {
      switch (row.fate) {
        case Fate::kSent:
          metrics_->Count(row.kind_text, DeliveryResult::kSent);
          break;
        case Fate::kRetry:
          metrics_->Count(row.kind_text, DeliveryResult::kRetry);
          break;
        case Fate::kPark:
          metrics_->Count(row.kind_text, DeliveryResult::kParked);
          break;
        case Fate::kPending:
          break;
      }
    }
  }
  return result;
}

absl::Status Drainer::RefreshGauges() {
  if (metrics_ == nullptr) return absl::OkStatus();
  try {
    pqxx::nontransaction tx(Connection(claim_conn_));
    pqxx::row pending = tx.exec1(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - "
        "min(created_at)), 0)::float8 "
        "FROM registration.outbox WHERE processed_at IS NULL");
    pqxx::row parked = tx.exec1(
        "SELECT count(*) FROM confirmation.deliveries WHERE state = 'parked'");
    metrics_->SetBacklog(pending[0].as<int64_t>(), pending[1].as<double>(),
                         parked[0].as<int64_t>());
    return absl::OkStatus();
  } catch (const pqxx::undefined_table&) {
    return absl::OkStatus();  // registration not migrated yet
  } catch (...) {
    absl::Status s = pg::ExceptionToStatus(std::current_exception());
    if (s.code() == absl::StatusCode::kUnavailable) DropConnections();
    return s;
  }
}

void Drainer::Loop() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_gauges = Clock::now();
  bool failing = false;
  while (!stopping_.load()) {
    if (metrics_ != nullptr && Clock::now() >= next_gauges) {
      if (absl::Status s = RefreshGauges(); !s.ok()) {
        log::Debug("outbox gauges not refreshed", {{"error", s.ToString()}});
      }
      next_gauges = Clock::now() + options_.gauge_interval;
    }
    absl::StatusOr<BatchResult> batch = DrainBatch();
    if (!batch.ok()) {
      if (!failing) {
        log::Warn("outbox drain failed; retrying every poll interval",
                  {{"error", batch.status().ToString()}});
      }
      failing = true;
    } else {
      if (failing) log::Info("outbox drain recovered");
      failing = false;
      if (batch->claimed > 0) {
        log::Debug("outbox batch", {{"claimed", batch->claimed},
                                    {"sent", batch->sent},
                                    {"retried", batch->retried},
                                    {"parked", batch->parked}});
      }
      if (batch->claimed >= options_.batch_size) continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.poll_interval,
                 [this] { return stopping_.load(); });
  }
}

}  // namespace admit::confirmation
