#!/usr/bin/env bash
# Postgres, Redis and the SMTP sink that admit needs, on free local ports.
#
#   stack.sh up RUNDIR     starts whatever is not running under RUNDIR/{postgres,redis,smtp}
#                          (on the port it had last time if that is free) and writes
#                          RUNDIR/stack.env
#   stack.sh down RUNDIR   stops all three; keeps data and logs; removes stack.env
#   stack.sh status RUNDIR one line per server; exit 0 only if all three run
#
# RUNDIR/stack.env (source it; every variable is exported):
#   ADMIT_PG_URL      postgresql://postgres@127.0.0.1:PORT/admit
#   ADMIT_REDIS_URL   redis://127.0.0.1:PORT
#   ADMIT_SMTP_URL    smtp://127.0.0.1:PORT
#   ADMIT_MAILDIR     RUNDIR/smtp/maildir (each delivered message is a file in new/)
#   ADMIT_PG_PORT, ADMIT_REDIS_PORT, ADMIT_SMTP_PORT
# It is written (atomically) only once all three answer.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

servers=(postgres redis smtp)
script_of() { if [[ $1 == smtp ]]; then echo "$here/smtp-sink.sh"; else echo "$here/$1.sh"; fi; }

up() {
  local run server dir port started=$SECONDS
  local -A ports=()
  run=$(abs_dir "$1")
  for server in "${servers[@]}"; do
    dir=$run/$server
    # Keep the port a server had (running, or last time if still free), so
    # URLs stay the same from one run to the next; else take a free one.
    port=$(cat "$dir/port" 2>/dev/null || true)
    if ! "$(script_of "$server")" status "$dir" >/dev/null; then
      [[ -n $port ]] && port_is_free "$port" || port=$(free_port)
    fi
    "$(script_of "$server")" start "$dir" "$port"
    ports[$server]=$port
  done
  {
    echo "# Written by deploy/local/stack.sh up; removed by stack.sh down."
    env_line ADMIT_PG_URL "postgresql://postgres@127.0.0.1:${ports[postgres]}/admit"
    env_line ADMIT_REDIS_URL "redis://127.0.0.1:${ports[redis]}"
    env_line ADMIT_SMTP_URL "smtp://127.0.0.1:${ports[smtp]}"
    env_line ADMIT_MAILDIR "$run/smtp/maildir"
    env_line ADMIT_PG_PORT "${ports[postgres]}"
    env_line ADMIT_REDIS_PORT "${ports[redis]}"
    env_line ADMIT_SMTP_PORT "${ports[smtp]}"
  } >"$run/stack.env.tmp"
  mv "$run/stack.env.tmp" "$run/stack.env"
  log "stack up in $((SECONDS - started))s: $run/stack.env"
}

down() {
  local run=$1 server status=0
  [[ -d $run ]] || return 0
  rm -f "$run/stack.env"
  # Stop all three even if one fails, and report the failure.
  for server in smtp redis postgres; do
    "$(script_of "$server")" stop "$run/$server" || status=1
  done
  return "$status"
}

status() {
  local run=$1 server rc=0
  for server in "${servers[@]}"; do
    "$(script_of "$server")" status "$run/$server" || rc=3
  done
  return "$rc"
}

case "${1:-} $#" in
  "up 2") up "$2" ;;
  "down 2") down "$2" ;;
  "status 2") status "$2" ;;
  *) die "usage: $0 up RUNDIR | down RUNDIR | status RUNDIR" ;;
esac
