#!/usr/bin/env bash
# Tests the run command (deploy/local/run.sh) the way a user runs it.
#
# Starts run.sh in the background with ADMIT_SKIP_BUILD=1 on the binaries in
# ADMIT_BUILD_DIR and a private ADMIT_RUN_DIR (under a 0700 temporary directory,
# which also proves the postgres user gets access to it), then checks that:
#   - its Postgres answers a query, its Redis answers PING, a message sent to its
#     SMTP sink appears in the Maildir, and every service it started is SERVING
#     and serves /metrics;
#   - the README's example (deploy/local/demo.py) works against it, when the
#     registration service is built;
#   - a second run.sh on the same run dir exits 1 with "admit is already running"
#     and leaves the first one working;
#   - after SIGINT it exits 0, every process it started is gone and every port it
#     used can be bound again.
# Prints "ok:"/"FAIL:" per check and exits 1 if any check failed. On failure the
# temporary directory (run.sh's output, server logs) is kept and its path printed.
set -euo pipefail

repo=${ADMIT_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source-path=SCRIPTDIR source=../deploy/local/lib.sh
source "$repo/deploy/local/lib.sh"
build=${ADMIT_BUILD_DIR:-$repo/build/asan}
tmp=$(mktemp -d)
run=$tmp/run
out=$tmp/run.out
failures=0
run_pid=""

ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# check WHAT COMMAND...: one check, reported either way.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

finish() {
  local rc=$?
  set +e
  if [[ -n $run_pid ]] && pid_alive "$run_pid"; then
    fail "run.sh (pid $run_pid) still running at the end; stopping it"
    kill -TERM "$run_pid"
    wait_for 60 "run.sh to stop" pid_gone "$run_pid"
  fi
  "$repo/deploy/local/stack.sh" down "$run" >/dev/null 2>&1 # safety net, no-op if clean
  if ((failures == 0 && rc == 0)); then
    rm -rf "$tmp"
    echo "PASS"
  else
    echo "--- run.sh output:" >&2
    cat "$out" >&2
    echo "FAILED ($failures check(s)); run.sh output and logs kept in $tmp" >&2
    exit 1
  fi
}
trap finish EXIT
trap 'fail "interrupted"; exit 1' INT TERM HUP

# The gateway's port is fixed (8080) for people; a free one here.
export ADMIT_GATEWAY_PORT=${ADMIT_GATEWAY_PORT:-$(free_port)}
ADMIT_SKIP_BUILD=1 ADMIT_BUILD_DIR=$build ADMIT_RUN_DIR=$run \
  bash "$repo/deploy/local/run.sh" >"$out" 2>&1 &
run_pid=$!

# Up: endpoints.env appears once everything is SERVING. Fail at once if run.sh dies.
ready() { [[ -f $run/endpoints.env ]] || pid_gone "$run_pid"; }
wait_for 240 "run.sh to write $run/endpoints.env" ready || true
if [[ ! -f $run/endpoints.env ]]; then
  fail "run.sh came up (endpoints.env written)"
  exit 1
fi
ok "run.sh came up"
# shellcheck source=/dev/null
source "$run/endpoints.env"

# The stack.
check "Postgres answers ($ADMIT_PG_URL)" \
  test "$(psql "$ADMIT_PG_URL" -XtAc 'select 1' 2>&1)" = 1
check "Redis answers PING ($ADMIT_REDIS_URL)" \
  test "$(redis-cli -h 127.0.0.1 -p "$ADMIT_REDIS_PORT" ping 2>&1)" = PONG

token="run-command-test-$$-$RANDOM"
send_mail() {
  "$ADMIT_PY" - "$ADMIT_SMTP_PORT" "$token" <<'PY'
import smtplib, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "admit@example.test", "someone@example.test", sys.argv[2]
msg.set_content("hello from run_command_test\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    s.send_message(msg)
PY
}
mail_arrived() { grep -rqsF "$token" "$ADMIT_MAILDIR/new"; }
check "SMTP sink accepts a message ($ADMIT_SMTP_URL)" send_mail
check "the message is delivered to $ADMIT_MAILDIR/new" wait_for 10 "the message in the Maildir" mail_arrived

# The services (none are built yet in early issues: then this loop is empty).
read -r -a services <<<"$ADMIT_SERVICES"
echo "services started: ${services[*]:-(none)}"
for name in "${services[@]}"; do
  n=${name^^}
  n=${n//-/_}
  grpc_var=ADMIT_${n}_GRPC
  metrics_var=ADMIT_${n}_METRICS
  if [[ $name == gateway ]]; then
    check "gateway answers http://$ADMIT_GATEWAY_HTTP/healthz" \
      "$ADMIT_PY" "$repo/deploy/local/http_health.py" "http://$ADMIT_GATEWAY_HTTP/healthz" --wait 10
  else
    check "$name is SERVING on ${!grpc_var}" \
      "$ADMIT_PY" "$repo/deploy/local/grpc_health.py" "${!grpc_var}" --wait 10
  fi
  check "$name serves http://${!metrics_var}/metrics" "$ADMIT_PY" -c \
    'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10).read()' \
    "http://${!metrics_var}/metrics"
done

# The README's example: create an event and register through the running
# services (once the registration service exists).
if [[ " ${services[*]} " == *" registration "* ]]; then
  check "deploy/local/demo.py creates an event and registers an attendee" \
    "$ADMIT_PY" "$repo/deploy/local/demo.py" --endpoints "$run/endpoints.env"
fi

# A second run on the same run dir refuses and leaves the first alone.
second_rc=0
second_out=$(ADMIT_SKIP_BUILD=1 ADMIT_BUILD_DIR=$build ADMIT_RUN_DIR=$run \
  timeout 60 bash "$repo/deploy/local/run.sh" 2>&1) || second_rc=$?
check "a second run.sh exits 1 (got $second_rc)" test "$second_rc" = 1
check "a second run.sh says 'admit is already running (pid $run_pid)' (said: $second_out)" \
  grep -qF "admit is already running (pid $run_pid)" <<<"$second_out"
check "the first run.sh is still running" pid_alive "$run_pid"
check "endpoints.env is untouched" grep -qF "ADMIT_RUN_PID=$run_pid" "$run/endpoints.env"
check "Postgres still answers" test "$(psql "$ADMIT_PG_URL" -XtAc 'select 1' 2>&1)" = 1

# Everything it started, and every port it used, before stopping it.
pids=("$run_pid")
read -r pg_pid <"$run/postgres/data/postmaster.pid" && pids+=("$pg_pid")
read -r redis_pid <"$run/redis/redis.pid" && pids+=("$redis_pid")
read -r smtp_pid <"$run/smtp/smtp.pid" && pids+=("$smtp_pid")
ports=("$ADMIT_PG_PORT" "$ADMIT_REDIS_PORT" "$ADMIT_SMTP_PORT")
for name in "${services[@]}"; do
  n=${name^^}
  n=${n//-/_}
  for kind in PID GRPC METRICS; do
    [[ $name != gateway || $kind != GRPC ]] || kind=HTTP # the gateway has no gRPC port
    var=ADMIT_${n}_$kind
    if [[ $kind == PID ]]; then pids+=("${!var}"); else ports+=("${!var##*:}"); fi
  done
done

kill -INT "$run_pid"
if wait_for 120 "run.sh to exit after SIGINT" pid_gone "$run_pid"; then
  rc=0
  wait "$run_pid" || rc=$?
  check "run.sh exits 0 after SIGINT (got $rc)" test "$rc" = 0
else
  fail "run.sh exits within 120 s of SIGINT"
fi
for pid in "${pids[@]}"; do
  check "process $pid is gone" pid_gone "$pid"
done
for port in "${ports[@]}"; do
  check "port $port is free" port_is_free "$port"
done
check "the lock $run/run.pid is removed" test ! -e "$run/run.pid"
((failures == 0))
