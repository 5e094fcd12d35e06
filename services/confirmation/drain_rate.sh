#!/usr/bin/env bash
# Measures how fast admit-confirmation drains the outbox into an SMTP sink.
#
#   source RUNDIR/stack.env      # deploy/local/stack.sh up RUNDIR
#   services/confirmation/drain_rate.sh BUILD_DIR [ROWS] [DRAINERS]
#
# Creates a scratch database on ADMIT_PG_URL's server with the registration
# schema, starts BUILD_DIR's admit-confirmation on it (sending to
# ADMIT_SMTP_URL), inserts ROWS (default 5000) `confirmation` outbox rows in
# one transaction, and prints the time until none is pending and the rate.
# Cleans up (service, database) on exit.
set -euo pipefail

build=${1:?usage: drain_rate.sh BUILD_DIR [ROWS] [DRAINERS]}
rows=${2:-5000}
drainers=${3:-1}
: "${ADMIT_PG_URL:?source a stack.env first}" "${ADMIT_SMTP_URL:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$build/services/confirmation/admit-confirmation
[[ -x $bin ]] || { echo "no $bin" >&2; exit 1; }

db=drain_$(date +%s)_$$
base=${ADMIT_PG_URL%/*}
url=$base/$db
psql -X -q -v ON_ERROR_STOP=1 "$ADMIT_PG_URL" -c "CREATE DATABASE $db"
pid=""
log=$(mktemp)
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -X -q "$ADMIT_PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$log"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 "$url" -c "CREATE SCHEMA registration"
for f in "$here"/../registration/schema/*.sql; do
  PGOPTIONS='-c search_path=registration' psql -X -q -v ON_ERROR_STOP=1 "$url" -f "$f"
done

key() { /usr/bin/python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'; }
ADMIT_PG_URL=$url ADMIT_CONFIRMATION_TOKEN_KEY=$(key) ADMIT_TICKET_KEY=$(key) \
  ADMIT_CONFIRMATION_DRAINERS=$drainers ADMIT_GRPC_LISTEN=127.0.0.1:0 \
  ADMIT_METRICS_LISTEN= ADMIT_LOG_LEVEL=warn "$bin" 2>"$log" &
pid=$!
for _ in $(seq 100); do
  psql -X -q -t -A "$url" -c "SELECT 1 FROM pg_namespace WHERE nspname = 'confirmation'" | grep -q 1 && break
  sleep 0.1
done

pending() { psql -X -q -t -A "$url" -c "SELECT count(*) FROM registration.outbox WHERE processed_at IS NULL"; }
start=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 "$url" -c "
INSERT INTO registration.outbox (kind, registration_id, event_id, payload)
SELECT 'confirmation', 'r-' || g, 'ev-rate', jsonb_build_object(
  'v', 1, 'reason', 'registered', 'registration_id', 'r-' || g,
  'event_id', 'ev-rate', 'ticket_type_id', 'delegate', 'status', 1,
  'attendee', jsonb_build_object('email', 'rate' || g || '@example.org',
                                 'full_name', 'Zoë Ünal ' || g),
  'event', jsonb_build_object('name', 'Forum für Ärzte 2027',
    'starts_at', '2027-03-01T08:00:00Z', 'ends_at', '2027-03-03T16:00:00Z',
    'time_zone', 'Europe/Zurich'),
  'ticket_type_name', 'Delegate',
  'hold_expires_at', to_char((now() + interval '1 hour') AT TIME ZONE 'UTC',
                             'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
  'waitlist_position', 0, 'ticket_code', '')
FROM generate_series(1, $rows) g"
while (($(pending) > 0)); do
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
parked=$(psql -X -q -t -A "$url" -c "SELECT count(*) FROM confirmation.deliveries WHERE state = 'parked'")
/usr/bin/python3 -c "
s = $end - $start
print(f'$rows rows drained in {s:.2f} s: {$rows / s:.0f} messages/s ($drainers drainer(s), parked: $parked)')"
