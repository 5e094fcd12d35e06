#!/usr/bin/env bash
# GetRegistrationCounts / WatchRegistrationCounts benchmark (issue 7): an
# event created through CreateEvent (quotas set), N registrations (default
# 1,000,000) loaded with INSERT ... SELECT generate_series (the counters are
# maintained by the triggers of schema/005_counts.sql while they load), then
# admit-counts-bench against the real admit-registration and admit-quota
# binaries: GetRegistrationCounts p50/p99 (1 and 4 clients), and optionally
# STREAMS WatchRegistrationCounts streams on one event during a registration
# load (messages received, server CPU). The machine's ceiling from the same
# run is printed next to them: pgbench -S (one indexed SELECT per
# transaction), with the ratio p99 / pgbench's average latency.
#
#   deploy/local/stack.sh up .run/bench
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/rel --target admit-registration admit-quota \
#     admit-counts-bench
#   loadtest/counts_bench.sh build/rel .run/bench [ROWS] [STREAMS] [SECONDS]
#
# STREAMS = 0 skips the watch part (default 1000, for 20 s). Uses the
# stack's Postgres (database admit; pgbench's tables in database
# pgbench_ceiling). Leaves the events in place (a second run makes others).
set -euo pipefail
build=${1:?usage: counts_bench.sh BUILD_DIR RUN_DIR [ROWS] [STREAMS] [SECONDS]}
run=${2:?usage: counts_bench.sh BUILD_DIR RUN_DIR [ROWS] [STREAMS] [SECONDS]}
rows=${3:-1000000}
streams=${4:-1000}
seconds=${5:-20}
# shellcheck source=/dev/null
source "$run/stack.env"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
quota_port=$(free_port)
quota_metrics_port=$(free_port)
token_key=$(python3 -c 'import base64,secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
admin_key=$("$build/services/registration/admit-registration" keys bootstrap 2>/dev/null | grep -o 'admit_[A-Za-z0-9_-]*' | head -1)
event=counts-$(python3 -c 'import secrets; print(secrets.token_hex(6))')
log=$run/counts_bench.log
bench=$build/services/registration/admit-counts-bench

env ADMIT_PG_URL="$ADMIT_PG_URL" ADMIT_GRPC_LISTEN="127.0.0.1:$quota_port" \
  ADMIT_METRICS_LISTEN="127.0.0.1:$quota_metrics_port" ADMIT_LOG_LEVEL=warn \
  "$build/services/quota/admit-quota" >"$log.quota" 2>&1 &
quota_pid=$!
env ADMIT_PG_URL="$ADMIT_PG_URL" ADMIT_REGISTRATION_TOKEN_KEY="$token_key" \
  ADMIT_BOOTSTRAP_ADMIN_KEY="$admin_key" \
  ADMIT_QUOTA_ADDR="127.0.0.1:$quota_port" \
  ADMIT_GRPC_LISTEN="127.0.0.1:$grpc_port" \
  ADMIT_METRICS_LISTEN="127.0.0.1:$metrics_port" ADMIT_LOG_LEVEL=warn \
  ADMIT_RATE_LIMIT_ENABLED=false \
  "$build/services/registration/admit-registration" >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid $quota_pid 2>/dev/null || true; wait $server_pid $quota_pid 2>/dev/null || true' EXIT
for port in $quota_port $grpc_port; do
  for _ in $(seq 1 300); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 $server_pid 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
done

"$bench" create "127.0.0.1:$grpc_port" "$admin_key" "$event"
echo "== loading $rows registrations into event $event (10 statements)"
start=$(date +%s.%N)
per=$(( (rows + 9) / 10 ))
for part in $(seq 0 9); do
  lo=$(( part * per + 1 )); hi=$(( (part + 1) * per ))
  if [ $hi -gt "$rows" ]; then hi=$rows; fi
  [ $lo -le $hi ] || continue
  # 5 ticket types, 200 organizations (two spellings each), 50 countries;
  # 30% pending, 50% confirmed (a tenth checked in), 5% waitlisted, 10%
  # cancelled, 5% expired.
  psql -q -v ON_ERROR_STOP=1 "$ADMIT_PG_URL" <<SQL
SET search_path = registration;
INSERT INTO registrations (registration_id, event_id, ticket_type_id,
  request_id, request_fingerprint, email, full_name, organization,
  organization_key, country_code, status, waitlist_seq, hold_id,
  manage_token_hash, checked_in_at)
SELECT md5('$event' || g), '$event', 't' || (g % 5),
  'req-' || g, 'fp', 'user' || g || '@example.org', 'Attendee ' || g,
  CASE WHEN g % 2 = 0 THEN 'Org ' ELSE 'ORG ' END || (g % 200),
  'org ' || (g % 200),
  chr(65 + (g % 50) / 2) || chr(65 + (g % 50) % 26),
  s.status, CASE WHEN s.status = 3 THEN g END,
  CASE WHEN s.status IN (1, 2, 4, 5) THEN 'h' || g END, '\\x00',
  CASE WHEN s.status = 2 AND g % 10 = 0 THEN now() END
FROM generate_series($lo, $hi) g
CROSS JOIN LATERAL (SELECT CASE WHEN g % 20 < 6 THEN 1 WHEN g % 20 < 16 THEN 2
  WHEN g % 20 = 16 THEN 3 WHEN g % 20 < 19 THEN 4 ELSE 5 END AS status) s;
SQL
done
psql -q "$ADMIT_PG_URL" -c "VACUUM ANALYZE registration.registrations" -c "VACUUM ANALYZE registration.registration_counts"
echo "loaded in $(echo "$(date +%s.%N) - $start" | bc) s"
psql -At "$ADMIT_PG_URL" -c "SELECT 'counter rows of the event: ' || count(*) FROM registration.registration_counts WHERE event_id = '$event'"

echo "== admit-counts-bench get (server pid $server_pid)"
"$bench" get "127.0.0.1:$grpc_port" "$admin_key" "$event" 2000 | tee "$run/counts_bench.get"
# The first read folded the slots (CountsStore compaction).
psql -At "$ADMIT_PG_URL" -c "SELECT 'counter rows of the event after the reads: ' || count(*) FROM registration.registration_counts WHERE event_id = '$event'"

echo "== the machine's ceiling, same run"
db_url=${ADMIT_PG_URL%/*}
psql -q "$db_url/postgres" -c 'DROP DATABASE IF EXISTS pgbench_ceiling' \
  -c 'CREATE DATABASE pgbench_ceiling' >/dev/null
pgbench -q -i -s 10 "$db_url/pgbench_ceiling" >/dev/null 2>&1
pg1=$(pgbench -S -T 10 -c 1 -j 1 "$db_url/pgbench_ceiling" 2>/dev/null | grep -E 'latency average' | grep -oE '[0-9.]+ ms' | grep -oE '[0-9.]+')
echo "pgbench -S -c 1: latency average $pg1 ms"
p99=$(grep '1 client' "$run/counts_bench.get" | grep -oE 'p99= *[0-9.]+' | grep -oE '[0-9.]+$')
echo "GetRegistrationCounts p99 (1 client) / pgbench -S average latency: $(echo "scale=1; $p99 / $pg1" | bc)x"

if [ "$streams" -gt 0 ]; then
  watch_event=counts-w-$(python3 -c 'import secrets; print(secrets.token_hex(6))')
  "$bench" create "127.0.0.1:$grpc_port" "$admin_key" "$watch_event"
  echo "== admit-counts-bench watch: $streams streams on $watch_event, registrations for $seconds s"
  "$bench" watch "127.0.0.1:$grpc_port" "$admin_key" "$watch_event" "$streams" "$seconds" "$server_pid"
  curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^admit_registration_(watchers|watch_messages_total|counts_reads_total)' || true
fi
