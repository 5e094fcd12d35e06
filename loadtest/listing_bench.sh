#!/usr/bin/env bash
# ListRegistrations / ExportRegistrations benchmark (issue 7): N
# registrations (default 1,000,000) in one event, loaded with INSERT ...
# SELECT generate_series, then admit-listing-bench against the real
# admit-registration binary: latency of every page of a page_size=100 walk
# through the event and of filtered pages, and an export of every row with
# the server's peak RSS. The machine's ceiling from the same run is printed
# next to them: pgbench -S (one indexed SELECT per transaction) and COPY of
# the same rows to /dev/null.
#
#   deploy/local/stack.sh up .run/bench
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/rel --target admit-registration admit-listing-bench
#   loadtest/listing_bench.sh build/rel .run/bench [rows]
#
# Uses the stack's Postgres (database admit; pgbench's tables in database
# pgbench_ceiling). Leaves the event in place (a second run makes another).
set -euo pipefail
build=${1:?usage: listing_bench.sh BUILD_DIR RUN_DIR [ROWS]}
run=${2:?usage: listing_bench.sh BUILD_DIR RUN_DIR [ROWS]}
rows=${3:-1000000}
# shellcheck source=/dev/null
source "$run/stack.env"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
token_key=$(python3 -c 'import base64,secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
admin_key=admit_bootstrap_$(python3 -c 'import base64,secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="))')
event=bench-$(python3 -c 'import secrets; print(secrets.token_hex(6))')
log=$run/listing_bench.log

env ADMIT_PG_URL="$ADMIT_PG_URL" ADMIT_REGISTRATION_TOKEN_KEY="$token_key" \
  ADMIT_BOOTSTRAP_ADMIN_KEY="$admin_key" ADMIT_QUOTA_ADDR=127.0.0.1:1 \
  ADMIT_GRPC_LISTEN="127.0.0.1:$grpc_port" \
  ADMIT_METRICS_LISTEN="127.0.0.1:$metrics_port" ADMIT_LOG_LEVEL=warn \
  ADMIT_RATE_LIMIT_ENABLED=false \
  "$build/services/registration/admit-registration" >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  if (echo >"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null; then break; fi
  kill -0 $server_pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done

echo "== loading $rows registrations into event $event"
start=$(date +%s.%N)
psql -q -v ON_ERROR_STOP=1 "$ADMIT_PG_URL" <<SQL
SET search_path = registration;
INSERT INTO events (id, name, starts_at, ends_at, time_zone,
  registration_opens_at, registration_closes_at, hold_ttl_ms, capacity, ready,
  create_fingerprint)
VALUES ('$event', 'Bench', now() + interval '30 days',
  now() + interval '31 days', 'UTC', now(), now() + interval '30 days',
  1800000, 1000000, true, '\\x00');
INSERT INTO ticket_types (event_id, id, position, name)
VALUES ('$event', 'delegate', 0, 'Delegate'), ('$event', 'observer', 1, 'Observer');
INSERT INTO event_counters (event_id) VALUES ('$event');
-- 20% delegates; 0.1% waitlisted, 5% cancelled, the rest confirmed; 1,000
-- organizations; 8 countries.
INSERT INTO registrations (registration_id, event_id, ticket_type_id,
  request_id, request_fingerprint, email, full_name, organization,
  organization_key, country_code, status, waitlist_seq, manage_token_hash,
  confirmed_at, cancelled_at, ticket_code)
SELECT md5('$event' || g), '$event',
  CASE WHEN g % 5 = 0 THEN 'delegate' ELSE 'observer' END,
  'req-' || g, 'fp', 'user' || g || '@example.org',
  'Attendee ' || g || CASE WHEN g % 7 = 0 THEN ', Jr.' ELSE '' END,
  'Org ' || (g % 1000), 'org ' || (g % 1000),
  (ARRAY['CH','FR','DE','IT','US','GB','JP','BR'])[1 + g % 8],
  CASE WHEN g % 1000 = 1 THEN 3 WHEN g % 20 = 2 THEN 4 ELSE 2 END,
  CASE WHEN g % 1000 = 1 THEN g END, '\\x00',
  CASE WHEN g % 1000 <> 1 THEN now() END,
  CASE WHEN g % 20 = 2 THEN now() END,
  CASE WHEN g % 1000 <> 1 AND g % 20 <> 2 THEN 'T' || md5('t' || g) END
FROM generate_series(1, $rows) g;
VACUUM ANALYZE registrations;
SQL
echo "loaded in $(echo "$(date +%s.%N) - $start" | bc) s"

echo "== admit-listing-bench (server pid $server_pid)"
"$build/services/registration/admit-listing-bench" "127.0.0.1:$grpc_port" \
  "$admin_key" "$event" "$server_pid"

echo "== the machine's ceiling, same run"
db_url=${ADMIT_PG_URL%/*}
psql -q "$db_url/postgres" -c 'DROP DATABASE IF EXISTS pgbench_ceiling' \
  -c 'CREATE DATABASE pgbench_ceiling' >/dev/null
pgbench -q -i -s 10 "$db_url/pgbench_ceiling" >/dev/null 2>&1
pgbench -S -T 10 -c 1 -j 1 "$db_url/pgbench_ceiling" 2>/dev/null |
  grep -E 'latency average|tps' | sed 's/^/pgbench -S -c 1: /'
pgbench -S -T 10 -c 2 -j 2 "$db_url/pgbench_ceiling" 2>/dev/null |
  grep -E 'latency average|tps' | sed 's/^/pgbench -S -c 2: /'
copy_start=$(date +%s.%N)
psql -q "$ADMIT_PG_URL" -c "\\copy (SELECT registration_id, ticket_type_id, status, email, full_name, organization, country_code, waitlist_seq, created_at, confirmed_at, cancelled_at, expired_at, checked_in_at, ticket_code FROM registration.registrations WHERE event_id = '$event' ORDER BY created_at, registration_id) TO '/dev/null' WITH (FORMAT csv)"
copy_s=$(echo "$(date +%s.%N) - $copy_start" | bc)
echo "COPY ... ORDER BY created_at, id TO /dev/null (psql, CSV): $rows rows in $copy_s s = $(echo "$rows / $copy_s" | bc) rows/s"
