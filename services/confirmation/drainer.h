// The outbox drainer: delivers registration.outbox rows as emails (the
// contract: services/registration/OUTBOX.md; design: README.md here).
//
// Every replica runs one; together they send each row once to a working
// SMTP server:
//  1. Claim: one transaction on a dedicated connection selects up to
//     batch_size due rows (processed_at IS NULL, not waiting for a retry in
//     confirmation.deliveries) in outbox_id order, FOR UPDATE SKIP LOCKED;
//     it stays open while the batch is sent, so other replicas skip the rows.
//  2. Tokens: confirmation/promotion rows get their confirmation token
//     before the first attempt, committed on a SECOND connection before the
//     message leaves (confirmation.tokens: hash, sealed copy with associated
//     data = outbox id). A retry, or another replica after a crash, unseals
//     the same token, so every attempt carries the same link.
//  3. Send each message (one SMTP connection for the batch).
//  4. Outcomes, in the claiming transaction: sent -> processed_at, payload
//     scrubbed to {"v":1,"scrubbed":true}, sealed token erased; transient
//     failure -> deliveries 'retrying' with attempts and next_attempt_at
//     (exponential backoff, full jitter); permanent failure, max_attempts
//     reached, or a row that cannot be read -> deliveries 'parked',
//     processed_at set, payload scrubbed (never silently dropped). Commit.
// A replica killed mid-batch leaves nothing: its claim rolls back and
// another replica sends the rows again (with the same Message-ID, so a
// duplicate can be recognized).
//
// The registration schema may not exist yet (the registration service
// migrates it): "relation does not exist" is an empty batch, logged once.
//
// Thread safety: Start/Stop from one thread. DrainBatch and RefreshGauges
// are for tests and must not run while the thread is started.
#ifndef ADMIT_SERVICES_CONFIRMATION_DRAINER_H_
#define ADMIT_SERVICES_CONFIRMATION_DRAINER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/crypto/sealer.h"
#include "pqxx/connection"
#include "services/confirmation/backoff.h"
#include "services/confirmation/compose.h"
#include "services/confirmation/confirmation_metrics.h"
#include "services/confirmation/smtp_sender.h"
#include "services/confirmation/templates.h"

namespace admit::confirmation {

struct DrainerOptions {
  // libpq connection string (ADMIT_PG_URL); the drainer opens two
  // connections of its own (claim, tokens), not from the pool.
  std::string pg_url;
  std::chrono::milliseconds connect_timeout{5000};
  // Rows claimed per transaction (ADMIT_CONFIRMATION_BATCH).
  int batch_size = 50;
  // Pause when a batch came back short (ADMIT_CONFIRMATION_POLL_INTERVAL);
  // a full batch is followed by the next at once.
  std::chrono::milliseconds poll_interval{250};
  // How often the backlog gauges are queried
  // (ADMIT_CONFIRMATION_GAUGE_INTERVAL).
  std::chrono::milliseconds gauge_interval{5000};
  // Attempts before a row is parked (ADMIT_CONFIRMATION_MAX_ATTEMPTS).
  int max_attempts = 10;
  BackoffPolicy backoff;  // ADMIT_CONFIRMATION_RETRY_BASE / _MAX
  ComposeOptions compose;
};

struct BatchResult {
  int claimed = 0;
  int sent = 0;
  int retried = 0;
  int parked = 0;
};

class Drainer {
 public:
  // `templates`, `token_sealer` and `metrics` (may be null) must outlive the
  // drainer. `qr` makes ticket QR images (QrPng).
  Drainer(DrainerOptions options, const TemplateSet* templates,
          const crypto::Sealer* token_sealer,
          std::unique_ptr<MailSender> sender, QrEncoder qr,
          ConfirmationMetrics* metrics);
  // Stops the thread if running.
  ~Drainer();
  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  // Starts the background thread. Idempotent.
  void Start();
  // Stops it: a batch being sent stops after the message in flight, and the
  // outcomes so far are committed (unsent rows stay due). Idempotent.
  void Stop();

  // One claim-send-commit cycle. The error is a database error (the batch
  // was rolled back: its rows are due again; the thread retries after the
  // poll interval).
  absl::StatusOr<BatchResult> DrainBatch();
  // Queries the backlog and sets the gauges (no-op without metrics).
  absl::Status RefreshGauges();

 private:
  struct Row;

  void Loop();
  pqxx::connection& Connection(std::unique_ptr<pqxx::connection>& c);
  void DropConnections();
  absl::Status PrepareTokens(std::vector<Row>& rows);

  const DrainerOptions options_;
  const std::string conninfo_;
  const TemplateSet* const templates_;
  const crypto::Sealer* const token_sealer_;
  const std::unique_ptr<MailSender> sender_;
  const QrEncoder qr_;
  ConfirmationMetrics* const metrics_;

  // pqxx 6's connection_base has no virtual destructor: own the concrete
  // type.
  std::unique_ptr<pqxx::connection> claim_conn_;
  std::unique_ptr<pqxx::connection> token_conn_;
  bool reported_missing_schema_ = false;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_DRAINER_H_
