#!/usr/bin/env bash
# The benchmark command: admit against this machine's own ceilings, in one run.
#
#   loadtest/bench.sh          (as root on Debian 12, from a clone; ~4 minutes)
#
# Steps: Release build (build/release) of admit-quota, admit-registration,
# admit-confirmation and admit-loadtest -> the run command
# (deploy/local/run.sh) with its own run dir (.run/bench: private Postgres
# with synchronous_commit=on, fsync on, as postgres.sh configures it; Redis;
# the SMTP sink; the services) -> the machine's ceilings:
#   pgbench   one-row INSERT per transaction, 32 clients (a custom script)
#   redis     redis-benchmark EVALSHA (INCR + EXPIRE), 50 clients
#   gRPC      admit-loadtest grpc-ceiling: health Check on the registration
#             server, 64 clients, the same generator as the scenarios
# -> the scenarios:
#   confirm   capacity 1,000, 2,000 attempts, 64 clients, followed through
#             email confirmation (--confirm-fraction 0.5 --wait-tickets):
#             every registration's email into the sink's Maildir, half the
#             pending ones confirmed with their token, their tickets mailed;
#             then admit-confirmation is stopped, so that the spike and steady
#             figures are the registration path alone (their outbox rows
#             stay pending)
#   spike     capacity 100,000, 256 concurrent clients, 110,000 attempts
#             (2% retried request_ids, 2% duplicate emails, 1% invalid)
#   steady    capacity 1,300, 20,000 attempts at 2,000/s (Poisson, 10 s)
# each followed by admit-loadtest's invariant checks (a violation fails the
# benchmark) -> a table of admit's figures next to the ceilings, as ratios.
# Everything shares the machine: admit, Postgres, Redis and the generator.
#
# Results in ADMIT_BENCH_DIR (default <repo>/.run/bench/results): one JSON and
# one HTML report per scenario, ceilings.json, table.md (the README's table).
#
# Environment (all optional):
#   ADMIT_BUILD_DIR        default <repo>/build/release
#   ADMIT_SKIP_BUILD=1     use the binaries already built
#   ADMIT_BENCH_RUN_DIR    the stack's run dir (default <repo>/.run/bench)
#   ADMIT_BENCH_DIR        results (default $ADMIT_BENCH_RUN_DIR/results)
#   ADMIT_BENCH_KEEP_DATA=1  keep the database of earlier runs (default: each
#                          run starts from an empty one)
#   ADMIT_BENCH_PERF=1     also record a `perf` profile of admit-registration
#                          during the spike (perf.txt; costs some throughput)
#   SPIKE_ATTEMPTS, SPIKE_CAPACITY, SPIKE_CLIENTS, STEADY_ATTEMPTS,
#   STEADY_RATE, STEADY_CAPACITY, CONFIRM_ATTEMPTS, CONFIRM_CAPACITY,
#   CONFIRM_FRACTION, PGBENCH_SECONDS   scenario sizes
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=../deploy/local/lib.sh
source "$repo/deploy/local/lib.sh"

build=$(abs_dir "${ADMIT_BUILD_DIR:-$repo/build/release}")
run=$(abs_dir "${ADMIT_BENCH_RUN_DIR:-$repo/.run/bench}")
out=$(abs_dir "${ADMIT_BENCH_DIR:-$run/results}")
PG_BIN=/usr/lib/postgresql/15/bin

SPIKE_ATTEMPTS=${SPIKE_ATTEMPTS:-110000}
SPIKE_CAPACITY=${SPIKE_CAPACITY:-100000}
SPIKE_CLIENTS=${SPIKE_CLIENTS:-256}
STEADY_ATTEMPTS=${STEADY_ATTEMPTS:-20000}
STEADY_RATE=${STEADY_RATE:-2000}
STEADY_CAPACITY=${STEADY_CAPACITY:-1300}
CONFIRM_ATTEMPTS=${CONFIRM_ATTEMPTS:-2000}
CONFIRM_CAPACITY=${CONFIRM_CAPACITY:-1000}
CONFIRM_FRACTION=${CONFIRM_FRACTION:-0.5}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}

"$repo/deploy/local/install-deps.sh"
if [[ ${ADMIT_SKIP_BUILD:-0} != 1 ]]; then
  log "building (Release) in $build"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target admit-quota admit-registration admit-confirmation admit-loadtest
fi
loadtest=$build/loadtest/admit-loadtest
[[ -x $loadtest ]] || die "$loadtest is not built"

# The stack and the services, through the run command (its own run dir).
run_pid=""
stop_run() {
  if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
}
trap stop_run EXIT
# Each run starts from an empty database (figures of a table holding earlier
# runs' rows would drift run to run), unless ADMIT_BENCH_KEEP_DATA=1.
if pid=$(read_pidfile "$run/run.pid" 2>/dev/null) && pid_alive "$pid"; then
  die "a run command is already using $run (pid $pid); stop it first"
fi
if [[ ${ADMIT_BENCH_KEEP_DATA:-0} != 1 ]]; then
  "$repo/deploy/local/stack.sh" down "$run" >/dev/null 2>&1 || true
  rm -rf "$run/postgres" "$run/smtp/maildir"
fi
rm -f "$run/endpoints.env"
# Rate limiting stays on (its Redis round trip is part of every figure), but
# admit-loadtest sends every attempt from 127.0.0.1, for a handful of events,
# with some emails repeated on purpose: budgets far above what one run sends
# (RATE_LIMIT=off turns the limiter off, to measure its cost).
export ADMIT_RATE_LIMIT_IP=${ADMIT_RATE_LIMIT_IP:-1000000/1000000}
export ADMIT_RATE_LIMIT_EMAIL=${ADMIT_RATE_LIMIT_EMAIL:-1000/1000}
export ADMIT_RATE_LIMIT_EVENT=${ADMIT_RATE_LIMIT_EVENT:-1000000/1000000}
export ADMIT_RATE_LIMIT_API_KEY=${ADMIT_RATE_LIMIT_API_KEY:-100000/100000}
[[ ${RATE_LIMIT:-on} == on ]] || export ADMIT_RATE_LIMIT_ENABLED=false
# Rate limiting stays on (its Redis round trip is part of every figure), but
# admit-loadtest sends every attempt from 127.0.0.1, for a handful of events,
# with some emails repeated on purpose: budgets far above what one run sends
# (RATE_LIMIT=off turns the limiter off, to measure its cost).
export ADMIT_RATE_LIMIT_IP=${ADMIT_RATE_LIMIT_IP:-1000000/1000000}
export ADMIT_RATE_LIMIT_EMAIL=${ADMIT_RATE_LIMIT_EMAIL:-1000/1000}
export ADMIT_RATE_LIMIT_EVENT=${ADMIT_RATE_LIMIT_EVENT:-1000000/1000000}
export ADMIT_RATE_LIMIT_API_KEY=${ADMIT_RATE_LIMIT_API_KEY:-100000/100000}
[[ ${RATE_LIMIT:-on} == on ]] || export ADMIT_RATE_LIMIT_ENABLED=false
ADMIT_RUN_DIR=$run ADMIT_BUILD_DIR=$build ADMIT_SKIP_BUILD=1 \
  ADMIT_SERVICES="quota registration confirmation" "$repo/deploy/local/run.sh" >"$out/run.log" 2>&1 &
run_pid=$!
# Ready when endpoints.env appears; give up at once if run.sh exits first.
up_or_gone() { [[ -s $run/endpoints.env ]] || ! kill -0 "$run_pid" 2>/dev/null; }
if ! wait_for 180 "the benchmark stack ($out/run.log)" up_or_gone || [[ ! -s $run/endpoints.env ]]; then
  tail -20 "$out/run.log" >&2
  die "the run command did not come up"
fi
# shellcheck source=/dev/null
source "$run/endpoints.env"
log "stack up: registration $ADMIT_REGISTRATION_GRPC, Postgres port $ADMIT_PG_PORT"

# --- ceilings ----------------------------------------------------------------
psql_admin=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$ADMIT_PG_PORT" -U postgres -v ON_ERROR_STOP=1)
if [[ $("${psql_admin[@]}" -d postgres -tAc "select 1 from pg_database where datname = 'pgbench'") != 1 ]]; then
  "${psql_admin[@]}" -d postgres -c 'create database pgbench'
fi
"${psql_admin[@]}" -d pgbench -c 'drop table if exists one_row_insert' \
  -c 'create table one_row_insert (id bigserial primary key, payload text not null, created_at timestamptz not null default now())'
echo "INSERT INTO one_row_insert (payload) VALUES ('admit-bench');" >"$out/one_row_insert.sql"
log "pgbench: one-row INSERT per transaction, 32 clients, ${PGBENCH_SECONDS}s"
"$PG_BIN/pgbench" -n -c 32 -j 2 -T "$PGBENCH_SECONDS" -f "$out/one_row_insert.sql" \
  -h 127.0.0.1 -p "$ADMIT_PG_PORT" -U postgres pgbench >"$out/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps = / { print $3; exit }' "$out/pgbench.txt")
pg_sync=$("${psql_admin[@]}" -d pgbench -tAc 'show synchronous_commit')

redis_port=${ADMIT_REDIS_URL##*:}
sha=$(redis-cli -h 127.0.0.1 -p "$redis_port" SCRIPT LOAD \
  "redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 60); return 1")
log "redis-benchmark: EVALSHA (INCR + EXPIRE), 50 clients"
redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 50 -n 300000 -r 100000 -q \
  EVALSHA "$sha" 1 "bench:__rand_int__" >"$out/redis.txt" 2>&1
redis_ops=$(tr '\r' '\n' <"$out/redis.txt" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)

log "gRPC ceiling: health Check, 64 clients"
"$loadtest" grpc-ceiling --endpoints "$run/endpoints.env" --clients 64 --attempts 200000 \
  --json "$out/grpc-ceiling.json" --report "$out/grpc-ceiling.html" | tee "$out/grpc-ceiling.txt"

"$ADMIT_PY" - "$out/ceilings.json" "$pg_tps" "$pg_sync" "$redis_ops" <<'PY'
import json, sys
path, tps, sync, redis = sys.argv[1:]
json.dump({"pgbench_one_row_insert_tps": float(tps), "synchronous_commit": sync,
           "redis_evalsha_ops": float(redis)}, open(path, "w"), indent=2)
PY

# --- scenarios ----------------------------------------------------------------
status=0
log "confirm: capacity $CONFIRM_CAPACITY, $CONFIRM_ATTEMPTS attempts, confirm fraction $CONFIRM_FRACTION"
"$loadtest" spike --endpoints "$run/endpoints.env" --capacity "$CONFIRM_CAPACITY" \
  --attempts "$CONFIRM_ATTEMPTS" --clients 64 --channels 4 \
  --confirm-fraction "$CONFIRM_FRACTION" --wait-tickets \
  --json "$out/confirm.json" --report "$out/confirm.html" | tee "$out/confirm.txt" || status=1
log "stopping admit-confirmation (pid $ADMIT_CONFIRMATION_PID) for the registration-only scenarios"
kill -TERM "$ADMIT_CONFIRMATION_PID" 2>/dev/null || true

perf_pid=""
if [[ ${ADMIT_BENCH_PERF:-0} == 1 ]] && command -v perf >/dev/null; then
  log "perf: recording admit-registration (pid $ADMIT_REGISTRATION_PID) for 20 s of the spike"
  perf record -F 499 -g -p "$ADMIT_REGISTRATION_PID" -o "$out/perf.data" -- sleep 20 \
    >"$out/perf-record.log" 2>&1 &
  perf_pid=$!
fi
log "spike: capacity $SPIKE_CAPACITY, $SPIKE_ATTEMPTS attempts, $SPIKE_CLIENTS clients"
"$loadtest" spike --endpoints "$run/endpoints.env" --capacity "$SPIKE_CAPACITY" \
  --attempts "$SPIKE_ATTEMPTS" --clients "$SPIKE_CLIENTS" --channels 8 \
  --retry-fraction 0.02 --duplicate-fraction 0.02 --invalid-fraction 0.01 \
  --pid "postgres=$(head -1 "$run/postgres/data/postmaster.pid")" \
  --json "$out/spike.json" --report "$out/spike.html" | tee "$out/spike.txt" || status=1
if [[ -n $perf_pid ]]; then
  wait "$perf_pid" || true
  perf report -i "$out/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
    grep -v '^$' | head -120 >"$out/perf.txt" || true
  perf report -i "$out/perf.data" --stdio --no-children --sort dso 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -30 >"$out/perf-dso.txt" || true
fi
log "steady: capacity $STEADY_CAPACITY, $STEADY_ATTEMPTS attempts at $STEADY_RATE/s"
"$loadtest" steady --endpoints "$run/endpoints.env" --capacity "$STEADY_CAPACITY" \
  --attempts "$STEADY_ATTEMPTS" --rate "$STEADY_RATE" --channels 8 \
  --pid "postgres=$(head -1 "$run/postgres/data/postmaster.pid")" \
  --json "$out/steady.json" --report "$out/steady.html" | tee "$out/steady.txt" || status=1

"$ADMIT_PY" "$here/bench_table.py" "$out" | tee "$out/table.md"
log "results in $out"
exit "$status"
