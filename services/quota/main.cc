// admit-quota: the capacity service (quotas, holds with expiry, sales).
// Wiring only: configuration, migrations, pool, store, service, sweeper,
// server, signals. The logic lives in quota_lib.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/pg/migrations.h"
#include "common/pg/pool.h"
#include "common/server/options.h"
#include "common/server/server.h"
#include "services/quota/pg_hold_store.h"
#include "services/quota/quota_metrics.h"
#include "services/quota/quota_service.h"
#include "services/quota/sweeper.h"

#ifndef ADMIT_QUOTA_SCHEMA_DIR
#error "ADMIT_QUOTA_SCHEMA_DIR must be defined by the build"
#endif

int main(int argc, char** argv) {
  using namespace admit;  // NOLINT(build/namespaces): main only
  // Debian's abseil leaves absl::Mutex deadlock detection on (a lock-order
  // graph updated on every acquisition, ~2% of the CPU under load in gRPC's
  // mutexes); admit's own code uses std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  server::BlockTerminationSignals();

  config::Settings settings(
      "admit-quota",
      "admit's capacity service: quotas, seat holds with expiry, and sales.");
  std::string log_level = "info";
  settings.AddEnum(
      "ADMIT_LOG_LEVEL", "info", {"debug", "info", "warn", "error"},
      "Minimum level of the JSON log lines on stderr.", &log_level);
  server::ServerOptions server_options;
  server::AddServerSettings(settings, &server_options, "127.0.0.1:50052",
                            "127.0.0.1:9462");
  pg::PoolOptions pool_options;
  pg::AddPoolSettings(settings, &pool_options);
  std::string schema_dir = ADMIT_QUOTA_SCHEMA_DIR;
  settings.AddString("ADMIT_QUOTA_SCHEMA_DIR", schema_dir,
                     "Directory of the quota schema's migrations "
                     "(NNN_name.sql), applied at start-up.",
                     &schema_dir);
  bool migrate = true;
  settings.AddBool("ADMIT_QUOTA_MIGRATE", true,
                   "Apply the schema migrations at start-up (safe with "
                   "several replicas starting at once).",
                   &migrate);
  std::chrono::milliseconds sweep_interval{1000};
  settings.AddDuration("ADMIT_QUOTA_SWEEP_INTERVAL", sweep_interval,
                       "Pause between sweeps of expired holds; seats return "
                       "within hold TTL + this.",
                       &sweep_interval);
  int64_t sweep_batch = 500;
  settings.AddInt("ADMIT_QUOTA_SWEEP_BATCH", sweep_batch,
                  "Expired holds released per sweeper transaction.",
                  &sweep_batch, 1, 100000);
  int64_t max_batch = 128;
  settings.AddInt("ADMIT_QUOTA_MAX_BATCH", max_batch,
                  "Most reservations of one event decided in one "
                  "transaction (group commit).",
                  &max_batch, 1, 10000);
  int64_t max_pending = 20000;
  settings.AddInt("ADMIT_QUOTA_MAX_PENDING", max_pending,
                  "Most reservations waiting for a transaction on this "
                  "replica; beyond it Reserve answers UNAVAILABLE.",
                  &max_pending, 1, 10000000);
  config::LoadOrExit(settings, argc, argv);

  log::Level level = log::Level::kInfo;
  (void)log::ParseLevel(log_level, &level);  // AddEnum checked the value
  log::Init("quota", level);

  if (migrate) {
    auto applied = pg::ApplyMigrations(pool_options.url, "quota", schema_dir,
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

  // RunUntilSignalled() drains the calls and runs the stop hooks (the
  // sweeper); then the locals go in reverse order: the service (waits for
  // batches in flight), the metrics, the server, the store, the pool last.
  quota::PgHoldStore store(pool->get());
  server::Server server(server_options);
  quota::QuotaMetrics metrics(server.metrics_registry());
  quota::QuotaServiceOptions service_options;
  service_options.batcher.max_batch = static_cast<int>(max_batch);
  service_options.batcher.max_pending = max_pending;
  quota::QuotaServiceImpl service(&store, &metrics, service_options);
  quota::Sweeper sweeper(&store, &metrics,
                         {sweep_interval, static_cast<int>(sweep_batch)});

  server.AddService(&service);
  server.AddStopHook("sweeper", [&sweeper] { sweeper.Stop(); });
  if (absl::Status s = server.Start(); !s.ok()) {
    log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  sweeper.Start();
  log::Info("serving", {{"grpc", server.grpc_target()},
                        {"metrics_port", server.metrics_port()}});
  return server.RunUntilSignalled();
}
