// admit-registration: the public registration API (RegistrationService) and
// the event part of OrganizerService. Wiring only: configuration, admin
// commands, migrations, pool, quota channel, components, server, signals.
// The logic lives in registration_lib.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

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
#include "services/registration/admin_command.h"
#include "services/registration/event_wiring.h"
#include "services/registration/expiry_sweeper.h"
#include "services/registration/lifecycle_service.h"
#include "services/registration/lifecycle_store.h"
#include "services/registration/organizer_writes.h"
#include "services/registration/page_token.h"
#include "services/registration/pg_registration_store.h"
#include "services/registration/quota_client.h"
#include "services/registration/registration_listing.h"
#include "services/registration/registration_metrics.h"
#include "services/registration/registration_service.h"
#include "services/registration/waitlist_promoter.h"

#ifndef ADMIT_REGISTRATION_SCHEMA_DIR
#error "ADMIT_REGISTRATION_SCHEMA_DIR must be defined by the build"
#endif

int main(int argc, char** argv) {
  using namespace admit;  // NOLINT(build/namespaces): main only
  // `admit-registration keys create|list|revoke ...`: an admin command, not
  // the server (its own arguments and settings).
  if (registration::IsAdminCommand(argc, argv)) {
    return registration::RunAdminCommand(argc, argv);
  }
  // Debian's abseil leaves absl::Mutex deadlock detection on (a lock-order
  // graph updated on every acquisition, ~2% of the CPU under load in gRPC's
  // mutexes); admit's own code uses std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  server::BlockTerminationSignals();

  config::Settings settings(
      "admit-registration",
      "admit's registration service: registrations, waitlists and the "
      "organizer's events.");
  std::string log_level = "info";
  settings.AddEnum(
      "ADMIT_LOG_LEVEL", "info", {"debug", "info", "warn", "error"},
      "Minimum level of the JSON log lines on stderr.", &log_level);
  server::ServerOptions server_options;
  server::AddServerSettings(settings, &server_options, "127.0.0.1:50051",
                            "127.0.0.1:9461");
  pg::PoolOptions pool_options;
  pg::AddPoolSettings(settings, &pool_options);
  std::string schema_dir = ADMIT_REGISTRATION_SCHEMA_DIR;
  settings.AddString("ADMIT_REGISTRATION_SCHEMA_DIR", schema_dir,
                     "Directory of the registration schema's migrations "
                     "(NNN_name.sql), applied at start-up.",
                     &schema_dir);
  bool migrate = true;
  settings.AddBool("ADMIT_REGISTRATION_MIGRATE", true,
                   "Apply the schema migrations at start-up (safe with "
                   "several replicas starting at once).",
                   &migrate);
  std::string quota_addr = "127.0.0.1:50052";
  settings.AddString("ADMIT_QUOTA_ADDR", quota_addr,
                     "The quota service: host:port, or dns:///host:port to "
                     "balance over every address (Kubernetes headless "
                     "Service).",
                     &quota_addr);
  std::chrono::milliseconds quota_timeout{1000};
  settings.AddDuration("ADMIT_QUOTA_TIMEOUT", quota_timeout,
                       "Deadline of one call to the quota service; "
                       "UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED are "
                       "retried (same hold id) up to 4 attempts.",
                       &quota_timeout);
  std::string token_key;
  settings.AddString(
      "ADMIT_REGISTRATION_TOKEN_KEY", "",
      "Required. 32-byte AES-256-GCM key, base64, that seals manage tokens "
      "so a retried Register returns the same token. Keep it secret and "
      "stable: a new key cannot open tokens sealed with the old one.",
      &token_key);
  int64_t max_batch = 128;
  settings.AddInt("ADMIT_REGISTRATION_MAX_BATCH", max_batch,
                  "Most registrations of one event inserted in one "
                  "transaction (group commit).",
                  &max_batch, 1, 10000);
  int64_t max_pending = 20000;
  settings.AddInt("ADMIT_REGISTRATION_MAX_PENDING", max_pending,
                  "Most registrations waiting for a transaction on this "
                  "replica; beyond it Register answers UNAVAILABLE.",
                  &max_pending, 1, 10000000);
  int64_t max_in_flight = 2048;
  settings.AddInt("ADMIT_REGISTRATION_MAX_IN_FLIGHT", max_in_flight,
                  "Most Register requests in flight on this replica; beyond "
                  "it a new one is answered UNAVAILABLE at once (shed "
                  "instead of queued).",
                  &max_in_flight, 1, 10000000);
  std::chrono::milliseconds availability_ttl{1000};
  settings.AddDuration("ADMIT_AVAILABILITY_CACHE_TTL", availability_ttl,
                       "How long GetAvailability reuses an event's quota "
                       "usage and waitlist counts (one refresh in flight per "
                       "event).",
                       &availability_ttl);
  std::chrono::milliseconds expiry_interval{1000};
  settings.AddDuration("ADMIT_REGISTRATION_EXPIRY_INTERVAL", expiry_interval,
                       "How often this replica marks PENDING registrations "
                       "past hold_expires_at EXPIRED, releases their holds "
                       "and promotes the waitlist (every replica sweeps; "
                       "rows are claimed with SKIP LOCKED).",
                       &expiry_interval);
  std::chrono::milliseconds promotion_interval{5000};
  settings.AddDuration("ADMIT_REGISTRATION_PROMOTION_INTERVAL",
                       promotion_interval,
                       "How often this replica tries to promote every "
                       "waitlist with someone on it (seats freed by crashes, "
                       "the quota sweeper or a capacity increase); 0 = only "
                       "after a cancellation or expiry.",
                       &promotion_interval);
  int64_t max_resends = 3;
  settings.AddInt("ADMIT_REGISTRATION_MAX_RESENDS_PER_HOUR", max_resends,
                  "QueueConfirmationEmail's limit of resent confirmation "
                  "emails per registration per rolling hour, when the "
                  "request gives none.",
                  &max_resends, 1, 1000);
  registration::EventSettings event_settings;
  registration::AddEventSettings(settings, &event_settings);
  registration::OrganizerWritesOptions writes_options;
  registration::AddOrganizerWritesSettings(settings, &writes_options);
  std::chrono::milliseconds watch_min_interval{500};
  registration::AddCountsSettings(settings, &watch_min_interval);
  ratelimit::ServiceLimiterOptions rate_limit;
  ratelimit::AddServiceLimiterSettings(settings, &rate_limit);
  config::LoadOrExit(settings, argc, argv);

  log::Level level = log::Level::kInfo;
  (void)log::ParseLevel(log_level, &level);  // AddEnum checked the value
  log::Init("registration", level);

  if (token_key.empty()) {
    std::fprintf(stderr,
                 "admit-registration: ADMIT_REGISTRATION_TOKEN_KEY is "
                 "required (32 random bytes, base64)\n");
    return 2;
  }
  auto sealer = crypto::Sealer::FromBase64Key(token_key);
  std::string page_token_key = registration::DerivePageTokenKey(token_key);
  token_key.assign(token_key.size(), '\0');
  if (!sealer.ok()) {
    std::fprintf(stderr,
                 "admit-registration: ADMIT_REGISTRATION_TOKEN_KEY: %s\n",
                 std::string(sealer.status().message()).c_str());
    return 2;
  }

  if (migrate) {
    auto applied =
        pg::ApplyMigrations(pool_options.url, "registration", schema_dir,
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
  auto channel = server::MakeChannel(
      quota_addr, server::ChannelOptionsFromServer(server_options));
  if (!channel.ok()) {
    log::Error("cannot configure the quota channel",
               {{"error", channel.status().ToString()}});
    return 2;
  }
  auto quota_stub = v1::QuotaService::NewStub(*channel);

  // RunUntilSignalled() drains the calls and runs the stop hooks; then the
  // locals go in reverse order: the service (waits for its flows), metrics,
  // the server, the event components, the quota client (waits for its
  // calls), the store, the pool last.
  registration::PgRegistrationStore store(pool->get());
  registration::GrpcQuotaClientOptions quota_options;
  quota_options.call_timeout = quota_timeout;
  registration::GrpcQuotaClient quota(*channel, quota_options);
  auto events = registration::EventComponents::Create(
      pool->get(), quota_stub.get(), event_settings);
  if (!events.ok()) {
    log::Error("cannot start the event components",
               {{"error", events.status().ToString()}});
    return events.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  // ListRegistrations / ExportRegistrations (waits for its exports when
  // destroyed, after the server).
  registration::RegistrationListing listing(pool->get(), &(*events)->api_keys(),
                                            std::move(page_token_key));
  (*events)->organizer_service().SetListing(&listing);
  // Expiry and promotion (below): their threads stop before the metrics,
  // the quota client, the events and the pool they use go away (declared
  // after them).
  registration::PgLifecycleStore lifecycle_store(pool->get(), &quota);
  registration::WaitlistPromoterOptions promoter_options;
  promoter_options.interval = absl::FromChrono(promotion_interval);
  server::Server server(server_options);
  registration::RegistrationMetrics metrics(server.metrics_registry());
  // Rate limiting (Redis): Register, GetRegistration, CancelRegistration,
  // GetAvailability and every organizer call (by its API key). Destroyed
  // before the service's users of it: declared after the events (whose
  // authenticator its callbacks use), before the services.
  auto limiter =
      ratelimit::ServiceLimiter::Create(rate_limit, &server.metrics_registry());
  if (!limiter.ok()) {
    log::Error("cannot configure rate limiting",
               {{"error", limiter.status().ToString()}});
    return 2;
  }
  (*events)->api_keys().SetLimiter((*limiter)->get());
  promoter_options.metrics = &metrics;
  promoter_options.metrics = &metrics;
  registration::WaitlistPromoter promoter(
      &lifecycle_store, &(*events)->event_source(), promoter_options);
  // UpdateEvent, SetAllotment, CheckIn, EraseAttendeeData (destroyed before
  // the promoter and the stores it uses; waits for its calls).
  writes_options.quota_timeout = event_settings.set_quotas_timeout;
  auto writes = registration::OrganizerWrites::Create(
      pool->get(), &(*events)->api_keys(), quota_stub.get(),
      &(*events)->event_cache(), std::move(writes_options));
  if (!writes.ok()) {
    log::Error("cannot start the organizer writes",
               {{"error", writes.status().ToString()}});
    return 2;
  }
  (*writes)->SetSeatsFreed(
      [&promoter](const std::string& event_id, const std::string& type) {
        promoter.Kick(event_id, type);
      });
  (*writes)->SetCanceller(&store, &quota);
  (*events)->organizer_service().SetWrites(writes->get());
  registration::ExpirySweeperOptions sweeper_options;
  sweeper_options.interval = absl::FromChrono(expiry_interval);
  sweeper_options.metrics = &metrics;
  registration::ExpirySweeper sweeper(&lifecycle_store, &quota, &promoter,
                                      sweeper_options);
  registration::RegistrationServiceOptions service_options;
  service_options.registrar.batcher.max_batch = static_cast<int>(max_batch);
  service_options.registrar.batcher.max_pending = max_pending;
  service_options.registrar.max_in_flight = max_in_flight;
  service_options.availability.ttl = absl::FromChrono(availability_ttl);
  service_options.limiter = (*limiter)->get();
  service_options.seat_freed = [&promoter](const std::string& event_id,
                                           const std::string& type) {
    promoter.Kick(event_id, type);
  };
  registration::RegistrationServiceImpl service(&(*events)->event_source(),
                                                &store, &quota, &*sealer,
                                                &metrics, service_options);
  registration::LifecycleServiceOptions lifecycle_options;
  lifecycle_options.default_max_resends_per_hour =
      static_cast<int>(max_resends);
  lifecycle_options.metrics = &metrics;
  registration::LifecycleServiceImpl lifecycle(
      &(*events)->event_source(), &store, &lifecycle_store, lifecycle_options);

  server.AddService(&service);
  server.AddService(&lifecycle);
  // GetRegistrationCounts / WatchRegistrationCounts: the watch hub's
  // streams end (UNAVAILABLE) when the drain starts.
  registration::CountsStore counts_store(pool->get());
  registration::CountsServiceOptions counts_options;
  counts_options.min_interval = absl::FromChrono(watch_min_interval);
  counts_options.metrics = &server.metrics_registry();
  registration::CountsService counts(&counts_store, &(*events)->event_source(),
                                     &quota, &(*events)->api_keys(),
                                     counts_options);
  (*events)->organizer_service().SetCounts(&counts);
  (*writes)->SetQuotasChanged(
      [&counts](const std::string& event_id) { counts.ForgetUsage(event_id); });
  server.AddDrainHook("counts watchers", [&counts] { counts.Stop(); });
  server.AddService(&(*events)->organizer_service());
  server.AddStopHook("api keys", [&events] { (*events)->Stop(); });
  if (absl::Status s = server.Start(); !s.ok()) {
    log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  promoter.Start();
  sweeper.Start();
  counts.Start();
  log::Info("serving", {{"grpc", server.grpc_target()},
                        {"metrics_port", server.metrics_port()},
                        {"quota", quota_addr},
                        {"rate_limit", rate_limit.enabled ? "on" : "off"}});
  return server.RunUntilSignalled();
}
