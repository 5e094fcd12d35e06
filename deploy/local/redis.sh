#!/usr/bin/env bash
# A private Redis for local runs and tests: no persistence (admit keeps nothing
# in Redis that must survive a restart: rate-limit windows and caches only).
#
#   redis.sh start DIR PORT   redis-server on 127.0.0.1:PORT; returns once it answers PING
#   redis.sh stop DIR         returns once the server process is gone
#   redis.sh status DIR       prints the state; exit 0 running, 3 stopped
#
# All three are idempotent. DIR holds redis.pid, redis.log and port.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

running_pid() {
  local pid
  pid=$(read_pidfile "$1/redis.pid") || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server ]] || return 1
  printf '%s\n' "$pid"
}

# up DIR PORT: our server (not some other one on PORT) answers PING.
up() {
  running_pid "$1" >/dev/null && [[ $(redis-cli -h 127.0.0.1 -p "$2" ping 2>/dev/null) == PONG ]]
}

start() {
  local dir port pid
  dir=$(abs_dir "$1")
  port=$2
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  if pid=$(running_pid "$dir"); then
    [[ $(cat "$dir/port" 2>/dev/null) == "$port" ]] ||
      die "redis in $dir is already running (pid $pid) on port $(cat "$dir/port"), not $port"
  else
    port_is_free "$port" || die "port $port is already in use"
    rm -f "$dir/redis.pid"
    echo "$port" >"$dir/port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  fi
  if ! wait_for 15 "redis to answer PING on port $port" up "$dir" "$port"; then
    show_log_tail "$dir/redis.log"
    die "redis did not start on port $port (log: $dir/redis.log)"
  fi
  log "redis up on 127.0.0.1:$port (log: $dir/redis.log)"
}

stop() {
  local dir=$1 pid
  [[ -d $dir ]] || return 0
  pid=$(running_pid "$dir") || return 0
  stop_pid "$pid" redis 10 || die "redis (pid $pid) would not exit"
  rm -f "$dir/redis.pid"
  log "redis stopped"
}

status() {
  local dir=$1 pid
  if [[ -d $dir ]] && pid=$(running_pid "$dir"); then
    echo "redis: running (pid $pid) on 127.0.0.1:$(cat "$dir/port")"
  else
    echo "redis: stopped"
    return 3
  fi
}

case "${1:-} $#" in
  "start 3") start "$2" "$3" ;;
  "stop 2") stop "$2" ;;
  "status 2") status "$2" ;;
  *) die "usage: $0 start DIR PORT | stop DIR | status DIR" ;;
esac
