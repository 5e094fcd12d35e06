#!/usr/bin/env bash
# The run command: admit on this machine, with private Postgres, Redis and SMTP sink.
#
#   deploy/local/run.sh        (as root on Debian 12; Ctrl-C stops everything)
#
# Steps: install missing Debian packages -> Release build -> Postgres, Redis and the
# SMTP sink on free ports (stack.sh) -> every built service on its own free ports ->
# wait until each answers grpc.health.v1 SERVING -> write RUNDIR/endpoints.env and
# print the endpoints -> wait for SIGINT, SIGTERM or SIGHUP -> stop the services
# (SIGTERM, then SIGKILL after ADMIT_STOP_TIMEOUT), then the stack -> exit 0, leaving
# no process and no listening port behind. Data and logs stay in RUNDIR for the next run.
# A failure during start-up stops what was started and exits non-zero.
#
# One run per RUNDIR: while one is alive, another prints "admit is already running
# (pid N); endpoints in RUNDIR/endpoints.env" and exits 1 without touching it. A
# run that died without cleaning up (SIGKILL) is cleaned up by the next one.
#
# Environment (all optional):
#   ADMIT_RUN_DIR        where servers keep data and logs   (default <repo>/.run/stack)
#   ADMIT_BUILD_DIR      build directory                     (default <repo>/build/release)
#   ADMIT_SKIP_BUILD=1   use the binaries already in ADMIT_BUILD_DIR
#   ADMIT_SERVICES       services to start, space-separated  (default: every services/NAME/)
#   ADMIT_START_TIMEOUT  seconds for a service to be SERVING (default 60)
#   ADMIT_STOP_TIMEOUT   seconds for a service to exit after SIGTERM (default 15)
#   ADMIT_GATEWAY_PORT   the HTTP gateway's fixed port       (default 8080)
#
# Service NAME's binary is ADMIT_BUILD_DIR/services/NAME/admit-NAME; a service not
# built yet is skipped. Each service gets, besides the variables of stack.env:
#   ADMIT_GRPC_LISTEN=127.0.0.1:P  ADMIT_METRICS_LISTEN=127.0.0.1:M
#   ADMIT_<NAME>_ADDR=127.0.0.1:P  for every service started (to find each other)
# and its stdout and stderr go to RUNDIR/logs/NAME.log. The gateway (HTTP, no gRPC
# server) listens on 127.0.0.1:ADMIT_GATEWAY_PORT instead, is up when its /healthz
# answers 200, and is in endpoints.env as ADMIT_GATEWAY_HTTP; the confirmation
# emails link to its page (ADMIT_CONFIRMATION_LINK_BASE=http://127.0.0.1:PORT/confirm). RUNDIR/endpoints.env adds,
# per service, ADMIT_<NAME>_GRPC, ADMIT_<NAME>_METRICS (host:port) and
# ADMIT_<NAME>_PID, plus ADMIT_SERVICES (those started) and ADMIT_RUN_PID; it is
# written once everything is SERVING and removed at shutdown.
# RUNDIR/secrets.env (mode 0600, made on the first run, kept afterwards) holds
# ADMIT_REGISTRATION_TOKEN_KEY, ADMIT_BOOTSTRAP_ADMIN_KEY (the organizer API
# key that deploy/local/demo.py uses), ADMIT_CONFIRMATION_TOKEN_KEY and
# ADMIT_TICKET_KEY (admit-confirmation; appended to an older file); every
# service gets them, and so does endpoints.env (also 0600). admit-confirmation
# sends to the stack's SMTP sink (ADMIT_SMTP_URL of stack.env).
set -euo pipefail

# A script that starts us in the background hands us SIGINT ignored, and bash
# cannot trap a signal ignored at entry. SIGINT is how a run is told to stop,
# so restart once with its default disposition (same pid: exec).
sigign=$(awk '/^SigIgn:/ { print $2 }' /proc/$$/status)
if (((16#$sigign & 2) && ${ADMIT_RUN_REEXEC:-0} == 0)); then
  ADMIT_RUN_REEXEC=1 exec env --default-signal=INT bash "${BASH_SOURCE[0]}" "$@"
fi
unset ADMIT_RUN_REEXEC

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$(dirname "$here")")
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

run=$(abs_dir "${ADMIT_RUN_DIR:-$repo/.run/stack}")
build=$(abs_dir "${ADMIT_BUILD_DIR:-$repo/build/release}")
lock=$run/run.pid
pids_file=$run/services.pids # "PID NAME BINARY" per started service

# stop_services: SIGTERM every recorded service still running (and still that
# binary: pids get reused), then wait for all of them, SIGKILL after the deadline.
stop_services() {
  local pid name bin entry
  local -a stopping=()
  [[ -f $pids_file ]] || return 0
  while read -r pid name bin; do
    if pid_alive "$pid" && grep -qaF "$bin" "/proc/$pid/cmdline"; then
      kill -TERM "$pid" 2>/dev/null || true
      stopping+=("$pid:$name")
    fi
  done <"$pids_file"
  for entry in "${stopping[@]}"; do
    stop_pid "${entry%%:*}" "${entry#*:}" "${ADMIT_STOP_TIMEOUT:-15}" || true
  done
  rm -f "$pids_file"
}

# acquire_lock: writes our pid to RUNDIR/run.pid unless a live run.sh owns it;
# cleans up after a dead owner. Serialized by flock on RUNDIR/run.lock, held only
# here (nothing long-lived inherits it), so two runs starting together cannot
# both clean up or both win.
acquire_lock() {
  local pid fd
  exec {fd}>"$run/run.lock"
  flock "$fd"
  if pid=$(read_pidfile "$lock") && grep -qa run.sh "/proc/$pid/cmdline"; then
    echo "admit is already running (pid $pid); endpoints in $run/endpoints.env" >&2
    exit 1
  fi
  if [[ -e $lock ]]; then
    log "cleaning up after an earlier run that did not stop cleanly"
    stop_services
    "$here/stack.sh" down "$run" || true
    rm -f "$run/endpoints.env"
  fi
  echo "$$" >"$lock"
  exec {fd}>&-
}

sleeper=""
shutdown() {
  trap '' INT TERM HUP # a second Ctrl-C must not interrupt the clean-up
  trap - EXIT
  set +e
  [[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null
  rm -f "$run/endpoints.env"
  log "stopping"
  stop_services
  "$here/stack.sh" down "$run"
  rm -f "$lock"
}

on_exit() {
  local rc=$?
  shutdown
  log "failed (exit $rc)"
  exit "$rc"
}
on_signal() {
  shutdown
  log "stopped"
  exit 0
}

acquire_lock
trap on_exit EXIT
trap on_signal INT TERM HUP

"$here/install-deps.sh"
if [[ ${ADMIT_SKIP_BUILD:-0} != 1 ]]; then
  log "building (Release) in $build"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j"$(nproc)"
fi

"$here/stack.sh" up "$run"
# shellcheck source=/dev/null
source "$run/stack.env"
# Rate limiting: the services check their ADMIT_RATE_LIMIT_* policies in this
# stack's Redis (ADMIT_REDIS_URL above). Here the gateway runs on this
# machine, so loopback is the trusted proxy whose x-forwarded-for names the
# client (production lists its gateway's addresses instead). Policies set in
# the caller's environment reach the services (loadtest/bench.sh raises them).
export ADMIT_TRUSTED_PROXIES=${ADMIT_TRUSTED_PROXIES:-127.0.0.1/32,::1/128}


# Secrets of this local installation, made once and kept with its data (so
# manage tokens sealed by one run can be opened by the next, and the admin key
# stays the same): the registration service's token-sealing key and a
# bootstrap admin API key for OrganizerService. Production sets its own.
secrets=$run/secrets.env
if [[ ! -s $secrets ]]; then
  (
    umask 077
    "$ADMIT_PY" - >"$secrets.tmp" <<'PY'
import base64, secrets
b64url = lambda n: base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")
print("# Written once by deploy/local/run.sh: this local installation's secrets.")
print("export ADMIT_REGISTRATION_TOKEN_KEY=" + base64.b64encode(secrets.token_bytes(32)).decode())
print("export ADMIT_BOOTSTRAP_ADMIN_KEY=admit_bootstrap_" + b64url(16))
print("export ADMIT_CONFIRMATION_TOKEN_KEY=" + base64.b64encode(secrets.token_bytes(32)).decode())
print("export ADMIT_TICKET_KEY=" + base64.b64encode(secrets.token_bytes(32)).decode())
PY
    mv "$secrets.tmp" "$secrets"
  )
  log "made this installation's secrets: $secrets"
fi
# A secrets.env made before admit-confirmation existed lacks its token-sealing
# and ticket keys: they are appended once.
for key in ADMIT_CONFIRMATION_TOKEN_KEY ADMIT_TICKET_KEY; do
  if ! grep -q "^export $key=" "$secrets"; then
    (
      umask 077
      echo "export $key=$("$ADMIT_PY" -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')" >>"$secrets"
    )
    log "added $key to $secrets"
  fi
done
# shellcheck source=/dev/null
source "$secrets"

# Services: the requested ones that are built. Ports are all chosen first, so
# that every service can be told where every other one is.
if [[ -n ${ADMIT_SERVICES:-} ]]; then
  read -r -a wanted <<<"$ADMIT_SERVICES"
else
  wanted=()
  for d in "$repo"/services/*/; do
    [[ -d $d ]] && wanted+=("$(basename "$d")")
  done
fi
names=()
for name in "${wanted[@]}"; do
  if [[ -x $build/services/$name/admit-$name ]]; then
    names+=("$name")
  else
    log "skipping $name: $build/services/$name/admit-$name is not built"
  fi
done
env_name() { local n=${1^^}; echo "${n//-/_}"; }

mapfile -t ports < <(free_ports $((2 * ${#names[@]})))
declare -A grpc_port metrics_port pid_of
for i in "${!names[@]}"; do
  grpc_port[${names[i]}]=${ports[2 * i]}
  metrics_port[${names[i]}]=${ports[2 * i + 1]}
done
addrs=()
for name in "${names[@]}"; do
  addrs+=("ADMIT_$(env_name "$name")_ADDR=127.0.0.1:${grpc_port[$name]}")
done

gateway_port=${ADMIT_GATEWAY_PORT:-8080}
if [[ " ${names[*]} " == *" gateway "* ]] && ss -Htln "sport = :$gateway_port" | grep -q .; then
  die "port $gateway_port (the gateway's) is in use; set ADMIT_GATEWAY_PORT to a free one"
fi
addrs+=("ADMIT_GATEWAY_LISTEN=127.0.0.1:$gateway_port"
  "ADMIT_CONFIRMATION_LINK_BASE=${ADMIT_CONFIRMATION_LINK_BASE:-http://127.0.0.1:$gateway_port/confirm}")

mkdir -p "$run/logs"
rm -f "$pids_file"
for name in "${names[@]}"; do
  bin=$build/services/$name/admit-$name
  echo "=== $(date -Is) run.sh starts $name" >>"$run/logs/$name.log"
  # Own session, so a Ctrl-C reaches only this script, which stops things in
  # order; SIGINT back to default (background jobs of a script start with it
  # ignored). Neither setsid nor env forks: $! is the service's pid.
  env "${addrs[@]}" ADMIT_GRPC_LISTEN="127.0.0.1:${grpc_port[$name]}" \
    ADMIT_METRICS_LISTEN="127.0.0.1:${metrics_port[$name]}" \
    setsid env --default-signal=INT,QUIT "$bin" </dev/null >>"$run/logs/$name.log" 2>&1 &
  pid_of[$name]=$!
  echo "$! $name $bin" >>"$pids_file"
  log "started $name (pid $!), log: $run/logs/$name.log"
done

for name in "${names[@]}"; do
  if [[ $name == gateway ]]; then
    if ! answer=$("$ADMIT_PY" "$here/http_health.py" "http://127.0.0.1:$gateway_port/healthz" \
      --wait "${ADMIT_START_TIMEOUT:-60}" --pid "${pid_of[$name]}"); then
      show_log_tail "$run/logs/$name.log"
      die "$name does not answer on http://127.0.0.1:$gateway_port/healthz: $answer"
    fi
    continue
  fi
  if ! answer=$("$ADMIT_PY" "$here/grpc_health.py" "127.0.0.1:${grpc_port[$name]}" \
    --wait "${ADMIT_START_TIMEOUT:-60}" --pid "${pid_of[$name]}"); then
    show_log_tail "$run/logs/$name.log"
    die "$name is not SERVING on 127.0.0.1:${grpc_port[$name]}: $answer"
  fi
done

touch "$run/endpoints.env.tmp" && chmod 600 "$run/endpoints.env.tmp"
{
  cat "$run/stack.env" "$secrets"
  echo "# Written by deploy/local/run.sh; removed when it stops."
  env_line ADMIT_RUN_PID "$$"
  env_line ADMIT_SERVICES "${names[*]}"
  for name in "${names[@]}"; do
    n=$(env_name "$name")
    env_line "ADMIT_${n}_ADDR" "127.0.0.1:${grpc_port[$name]}"
    env_line "ADMIT_${n}_GRPC" "127.0.0.1:${grpc_port[$name]}"
    env_line "ADMIT_${n}_METRICS" "127.0.0.1:${metrics_port[$name]}"
    env_line "ADMIT_${n}_PID" "${pid_of[$name]}"
    [[ $name != gateway ]] || env_line ADMIT_GATEWAY_HTTP "127.0.0.1:$gateway_port"
  done
} >"$run/endpoints.env.tmp" # holds the secrets too: created 0600 above
mv "$run/endpoints.env.tmp" "$run/endpoints.env"

{
  echo
  printf '  %-14s %-22s %s\n' service gRPC metrics
  for name in "${names[@]}"; do
    [[ $name != gateway ]] || continue
    printf '  %-14s %-22s %s\n' "$name" "127.0.0.1:${grpc_port[$name]}" \
      "http://127.0.0.1:${metrics_port[$name]}/metrics"
  done
  if [[ " ${names[*]} " == *" gateway "* ]]; then
    printf '  %-14s %-22s %s\n' gateway "http://127.0.0.1:$gateway_port/" \
      "http://127.0.0.1:${metrics_port[gateway]}/metrics"
    echo
    printf '  %-14s %s\n' "pages" "http://127.0.0.1:$gateway_port/?event=EVENT_ID (register)," \
      "" "http://127.0.0.1:$gateway_port/organizer (dashboard), API under /v1/"
  fi
  ((${#names[@]})) || echo "  (no service built yet)"
  echo
  printf '  %-14s %s\n' Postgres "$ADMIT_PG_URL" Redis "$ADMIT_REDIS_URL" \
    SMTP "$ADMIT_SMTP_URL" "mail folder" "$ADMIT_MAILDIR/new" \
    logs "$run/logs, $run/{postgres,redis,smtp}" endpoints "$run/endpoints.env" \
    "admin API key" "ADMIT_BOOTSTRAP_ADMIN_KEY in $secrets"
  echo
  echo "admit is running (pid $$). Ctrl-C stops it."
}

# Wait for a signal; report (once) a service that exits on its own.
declare -A reported=()
while :; do
  sleep 1 &
  sleeper=$!
  wait "$sleeper" || true
  for name in "${names[@]}"; do
    if [[ -z ${reported[$name]:-} ]] && pid_gone "${pid_of[$name]}"; then
      log "warning: $name (pid ${pid_of[$name]}) exited; see $run/logs/$name.log"
      reported[$name]=1
    fi
  done
done
