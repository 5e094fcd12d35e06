// admit-confirmation: confirmation links (ConfirmationService) and the
// delivery of registration's outbox as emails (the drainer).
// Wiring only: configuration, migrations, keys, templates, pool, drainer,
// server, signals. The logic lives in the confirmation_* libraries.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/crypto/sealer.h"
#include "common/log/log.h"
#include "common/pg/migrations.h"
#include "common/pg/pool.h"
#include "common/ratelimit/service_wiring.h"
#include "common/server/channel.h"
#include "common/server/options.h"
#include "common/server/server.h"
#include "services/confirmation/confirmation_metrics.h"
#include "services/confirmation/confirmation_service.h"
#include "services/confirmation/drainer.h"
#include "services/confirmation/lifecycle_client.h"
#include "services/confirmation/qr_png.h"
#include "services/confirmation/smtp_sender.h"
#include "services/confirmation/templates.h"
#include "services/confirmation/ticket_code.h"

#ifndef ADMIT_CONFIRMATION_SCHEMA_DIR
#error "ADMIT_CONFIRMATION_SCHEMA_DIR must be defined by the build"
#endif
#ifndef ADMIT_CONFIRMATION_TEMPLATE_DIR
#error "ADMIT_CONFIRMATION_TEMPLATE_DIR must be defined by the build"
#endif

int main(int argc, char** argv) {
  using namespace admit;  // NOLINT(build/namespaces): main only
  using confirmation::Drainer;
  // See services/quota/main.cc: gRPC's absl mutexes, not ours.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  server::BlockTerminationSignals();

  config::Settings settings(
      "admit-confirmation",
      "admit's confirmation service: confirmation links and tickets, and the "
      "delivery of the registration outbox as emails over SMTP.");
  std::string log_level = "info";
  settings.AddEnum(
      "ADMIT_LOG_LEVEL", "info", {"debug", "info", "warn", "error"},
      "Minimum level of the JSON log lines on stderr.", &log_level);
  server::ServerOptions server_options;
  server::AddServerSettings(settings, &server_options, "127.0.0.1:50053",
                            "127.0.0.1:9463");
  pg::PoolOptions pool_options;
  pg::AddPoolSettings(settings, &pool_options);
  std::string schema_dir = ADMIT_CONFIRMATION_SCHEMA_DIR;
  settings.AddString("ADMIT_CONFIRMATION_SCHEMA_DIR", schema_dir,
                     "Directory of the confirmation schema's migrations "
                     "(NNN_name.sql), applied at start-up.",
                     &schema_dir);
  bool migrate = true;
  settings.AddBool("ADMIT_CONFIRMATION_MIGRATE", true,
                   "Apply the schema migrations at start-up (safe with "
                   "several replicas starting at once).",
                   &migrate);
  std::string template_dir = ADMIT_CONFIRMATION_TEMPLATE_DIR;
  settings.AddString(
      "ADMIT_CONFIRMATION_TEMPLATE_DIR", template_dir,
      "Directory of the email templates (KIND.subject.txt, KIND.txt, "
      "KIND.html for confirmation, promotion, waitlist, ticket); all are "
      "loaded and checked at start-up.",
      &template_dir);
  std::string token_key;
  settings.AddString(
      "ADMIT_CONFIRMATION_TOKEN_KEY", "",
      "Required secret: 32 bytes in base64. Seals the confirmation token of "
      "an email until it is sent, so every retry carries the same link.",
      &token_key);
  std::string ticket_key;
  settings.AddString(
      "ADMIT_TICKET_KEY", "",
      "Required secret: 32 bytes in base64. Key of the ticket codes "
      "(HMAC); changing it invalidates every issued ticket.",
      &ticket_key);
  confirmation::ComposeOptions compose;
  settings.AddString("ADMIT_CONFIRMATION_LINK_BASE", compose.link_base,
                     "The confirmation page; an email links to it + "
                     "\"#token=\" + the token.",
                     &compose.link_base);
  settings.AddString("ADMIT_CONFIRMATION_MESSAGE_ID_DOMAIN", "",
                     "Right-hand side of the Message-IDs "
                     "(outbox-<id>.<event>@DOMAIN); empty: the domain of "
                     "ADMIT_SMTP_FROM.",
                     &compose.message_id_domain);
  confirmation::SmtpOptions smtp;
  settings.AddString("ADMIT_SMTP_URL", smtp.url,
                     "The SMTP relay: smtp://host:port, or smtps://host:port "
                     "for TLS from the start.",
                     &smtp.url);
  settings.AddEnum("ADMIT_SMTP_TLS", "none", {"none", "starttls", "required"},
                   "STARTTLS on smtp:// URLs: none, starttls (when the relay "
                   "offers it), required (refuse to send in plaintext).",
                   &smtp.tls);
  settings.AddString("ADMIT_SMTP_USER", "",
                     "SMTP AUTH user name; empty: no AUTH.", &smtp.user);
  settings.AddString("ADMIT_SMTP_PASSWORD", "",
                     "Secret: SMTP AUTH password (with ADMIT_SMTP_USER).",
                     &smtp.password);
  std::string from_text = "admit <no-reply@admit.localhost>";
  settings.AddString("ADMIT_SMTP_FROM", from_text,
                     "Sender of the emails, \"Display Name <address>\" or "
                     "\"address\" (also the envelope sender).",
                     &from_text);
  settings.AddDuration("ADMIT_SMTP_CONNECT_TIMEOUT", smtp.connect_timeout,
                       "Bound on connecting to the relay (TCP, TLS, "
                       "greeting).",
                       &smtp.connect_timeout);
  settings.AddDuration("ADMIT_SMTP_TIMEOUT", smtp.message_timeout,
                       "Bound on sending one message, connecting included; "
                       "then it is retried.",
                       &smtp.message_timeout);
  confirmation::DrainerOptions drain;
  int64_t batch = drain.batch_size;
  settings.AddInt("ADMIT_CONFIRMATION_BATCH", batch,
                  "Outbox rows claimed (and sent) per transaction.", &batch, 1,
                  10000);
  settings.AddDuration("ADMIT_CONFIRMATION_POLL_INTERVAL", drain.poll_interval,
                       "Pause of the drainer after a short batch; new rows "
                       "are picked up within it.",
                       &drain.poll_interval);
  settings.AddDuration("ADMIT_CONFIRMATION_GAUGE_INTERVAL",
                       drain.gauge_interval,
                       "How often admit_outbox_pending, "
                       "admit_outbox_oldest_age_seconds and "
                       "admit_outbox_parked are queried.",
                       &drain.gauge_interval);
  int64_t max_attempts = drain.max_attempts;
  settings.AddInt("ADMIT_CONFIRMATION_MAX_ATTEMPTS", max_attempts,
                  "Delivery attempts of one email before it is parked.",
                  &max_attempts, 1, 1000);
  settings.AddDuration("ADMIT_CONFIRMATION_RETRY_BASE", drain.backoff.base,
                       "Backoff after the first failed attempt (doubling, "
                       "full jitter).",
                       &drain.backoff.base);
  settings.AddDuration("ADMIT_CONFIRMATION_RETRY_MAX", drain.backoff.max,
                       "Longest backoff between two attempts.",
                       &drain.backoff.max);
  std::string registration_addr = "127.0.0.1:50051";
  settings.AddString("ADMIT_REGISTRATION_ADDR", registration_addr,
                     "The registration service (its internal "
                     "RegistrationLifecycleService): host:port, or "
                     "dns:///host:port to balance over every address.",
                     &registration_addr);
  std::chrono::milliseconds registration_timeout{3000};
  settings.AddDuration("ADMIT_REGISTRATION_TIMEOUT", registration_timeout,
                       "Deadline of one call to the registration service "
                       "(a confirmation commits a quota hold within it).",
                       &registration_timeout);
  confirmation::ConfirmationServiceOptions service_options;
  int64_t resends_per_hour = service_options.resends_per_hour;
  settings.AddInt("ADMIT_CONFIRMATION_RESENDS_PER_HOUR", resends_per_hour,
                  "ResendConfirmation calls allowed per registration per "
                  "rolling hour; beyond it RESOURCE_EXHAUSTED with the time "
                  "of the next allowed one.",
                  &resends_per_hour, 1, 100);
  int64_t drainers = 1;
  settings.AddInt("ADMIT_CONFIRMATION_DRAINERS", drainers,
                  "Drainer threads in this replica, each with its own two "
                  "database connections and SMTP connection; 0 = this "
                  "replica sends no email (API only).",
                  &drainers, 0, 64);
  ratelimit::ServiceLimiterOptions rate_limit;
  ratelimit::AddServiceLimiterSettings(settings, &rate_limit);
  config::LoadOrExit(settings, argc, argv);

  log::Level level = log::Level::kInfo;
  (void)log::ParseLevel(log_level, &level);  // AddEnum checked the value
  log::Init("confirmation", level);

  auto token_sealer = crypto::Sealer::FromBase64Key(token_key);
  if (!token_sealer.ok()) {
    log::Error("ADMIT_CONFIRMATION_TOKEN_KEY: required, 32 bytes in base64",
               {{"error", token_sealer.status().ToString()}});
    return 2;
  }
  auto tickets = confirmation::TicketCoder::FromBase64Key(ticket_key);
  if (!tickets.ok()) {
    log::Error("ADMIT_TICKET_KEY: required, 32 bytes in base64",
               {{"error", tickets.status().ToString()}});
    return 2;
  }
  auto from = confirmation::ParseMailbox(from_text);
  if (!from.ok()) {
    log::Error("ADMIT_SMTP_FROM", {{"error", from.status().ToString()}});
    return 2;
  }
  compose.from = *from;
  smtp.envelope_from = from->address;
  auto templates = confirmation::TemplateSet::Load(template_dir);
  if (!templates.ok()) {
    log::Error(
        "cannot load the email templates",
        {{"error", templates.status().ToString()}, {"dir", template_dir}});
    return 2;
  }

  if (migrate) {
    auto applied =
        pg::ApplyMigrations(pool_options.url, "confirmation", schema_dir,
                            pool_options.connect_timeout);
    if (!applied.ok()) {
      log::Error("cannot apply migrations",
                 {{"error", applied.status().ToString()}, {"dir", schema_dir}});
      return 1;
    }
  }
  auto pool = pg::Pool::Create(pool_options);
  if (!pool.ok()) {
    log::Error("cannot open the database",
               {{"error", pool.status().ToString()}});
    return 1;
  }

  server::Server server(server_options);
  confirmation::ConfirmationMetrics metrics(server.metrics_registry());
  drain.pg_url = pool_options.url;
  drain.connect_timeout = pool_options.connect_timeout;
  drain.batch_size = static_cast<int>(batch);
  drain.max_attempts = static_cast<int>(max_attempts);
  drain.compose = compose;
  std::vector<std::unique_ptr<Drainer>> drainer_threads;
  for (int64_t i = 0; i < drainers; ++i) {
    auto sender = confirmation::SmtpSender::Create(smtp);
    if (!sender.ok()) {
      log::Error("ADMIT_SMTP_URL / ADMIT_SMTP_TLS",
                 {{"error", sender.status().ToString()}});
      return 2;
    }
    drainer_threads.push_back(std::make_unique<Drainer>(
        drain, &*templates, &*token_sealer, *std::move(sender),
        [](std::string_view code) { return confirmation::QrPng(code); },
        &metrics));
  }

  auto registration_channel = server::MakeChannel(
      registration_addr, server::ChannelOptionsFromServer(server_options));
  if (!registration_channel.ok()) {
    log::Error("ADMIT_REGISTRATION_ADDR",
               {{"error", registration_channel.status().ToString()}});
    return 2;
  }
  confirmation::LifecycleClient lifecycle(*std::move(registration_channel),
                                          registration_timeout);
  // Rate limiting (Redis): ConfirmRegistration by ip, ResendConfirmation by
  // ip and registration. Outlives the service (declared before it).
  auto limiter =
      ratelimit::ServiceLimiter::Create(rate_limit, &server.metrics_registry());
  if (!limiter.ok()) {
    log::Error("cannot configure rate limiting",
               {{"error", limiter.status().ToString()}});
    return 2;
  }
  service_options.limiter = (*limiter)->get();
  service_options.resends_per_hour = static_cast<int32_t>(resends_per_hour);
  confirmation::ConfirmationServiceImpl service(
      pool->get(), &lifecycle, *std::move(tickets), service_options);
  server.AddService(&service);

  server.AddStopHook("drainers", [&drainer_threads] {
    for (auto& d : drainer_threads) d->Stop();
  });
  if (absl::Status s = server.Start(); !s.ok()) {
    log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  for (auto& d : drainer_threads) d->Start();
  log::Info("serving", {{"grpc", server.grpc_target()},
                        {"metrics_port", server.metrics_port()},
                        {"drainers", drainers},
                        {"rate_limit", rate_limit.enabled ? "on" : "off"}});
  return server.RunUntilSignalled();
}
