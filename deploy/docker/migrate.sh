#!/usr/bin/env bash
# admit-migrate: applies every service's schema migrations and exits; the
# Kubernetes migration Job (k8s/base/migrate-job.yaml) runs it before a rollout.
#
#   ADMIT_PG_URL=postgresql://admit:...@postgres:5432/admit admit-migrate [SERVICE...]
#
# SERVICE: quota, registration, confirmation (default: all three, in that order).
# ADMIT_PG_URL must reach Postgres directly, not through PgBouncer in transaction
# mode: the migration runner holds a session advisory lock (pg_advisory_lock)
# while it applies, which transaction pooling cannot keep.
#
# The services have no migrate-only mode: each binary applies its migrations at
# start-up (ADMIT_<SVC>_MIGRATE=true, safe when several start at once) and then
# logs {"msg":"serving"}. This script starts each one on loopback with no metrics
# port, no email drainers and no stale sweeps, waits for that line (or for the
# process to exit, which is a failure), then stops it with SIGTERM.
# Exit status: 0 when every service came up on the migrated schema; 1 otherwise.
set -euo pipefail

services=("$@")
((${#services[@]})) || services=(quota registration confirmation)
timeout_s=${ADMIT_MIGRATE_TIMEOUT:-300}

for svc in "${services[@]}"; do
  case $svc in quota | registration | confirmation) ;; *)
    echo "admit-migrate: unknown service \"$svc\"" >&2
    exit 2
    ;;
  esac
  upper=${svc^^}
  bin=$(command -v "admit-$svc") || { echo "admit-migrate: admit-$svc not found" >&2; exit 1; }
  log=$(mktemp)
  # Loopback, any free port, no /metrics; confirmation sends nothing (0 drainers).
  env "ADMIT_${upper}_MIGRATE=true" ADMIT_GRPC_LISTEN=127.0.0.1:0 ADMIT_METRICS_LISTEN= \
    ADMIT_CONFIRMATION_DRAINERS=0 ADMIT_DRAIN_TIMEOUT=1s ADMIT_SHUTDOWN_DELAY=0ms \
    "$bin" >"$log" 2>&1 &
  pid=$!
  ok=0
  for ((i = 0; i < timeout_s * 10; i++)); do
    if grep -q '"msg":"serving"' "$log"; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat "$log" >&2
  rm -f "$log"
  if ((ok == 0)); then
    echo "admit-migrate: $svc did not come up on its migrated schema" >&2
    exit 1
  fi
  echo "admit-migrate: $svc schema up to date"
done
