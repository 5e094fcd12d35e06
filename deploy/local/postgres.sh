#!/usr/bin/env bash
# A private Postgres 15 for local runs and tests.
#
#   postgres.sh start DIR PORT   cluster in DIR/data, listening on 127.0.0.1:PORT only,
#                                database `admit` created; URL
#                                postgresql://postgres@127.0.0.1:PORT/admit (trust auth)
#   postgres.sh stop DIR         fast shutdown; returns once the postmaster is gone
#   postgres.sh status DIR       prints the state; exit 0 running, 3 stopped
#
# All three are idempotent. DIR keeps the cluster (reused by the next start), the
# server log (DIR/postgres.log), the unix socket and DIR/port. Durability settings
# are the production ones (fsync, synchronous_commit, full_page_writes on): tests
# that kill processes rely on an acknowledged commit surviving.
#
# As root, the server runs as the `postgres` user (initdb refuses root) and DIR's
# parents get o+x if that user cannot reach DIR. A non-root user runs it as
# themselves. New clusters are copied from an initdb'd template cached in
# $ADMIT_PG_TEMPLATE (default: <repo>/.run/cache/pg-template-15).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

PG_BIN=/usr/lib/postgresql/15/bin
TEMPLATE=${ADMIT_PG_TEMPLATE:-$(dirname "$(dirname "$here")")/.run/cache/pg-template-15}

as_pg() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

# give_to_pg PATH...: makes the postgres user own PATH (as root only).
give_to_pg() {
  if ((EUID == 0)); then chown postgres:postgres "$@"; fi
}

# make_reachable DIR: the postgres user must be able to traverse every parent
# of DIR (a repo under /root is 0700, mktemp -d dirs are 0700).
make_reachable() {
  ((EUID == 0)) || return 0
  as_pg test -x "$1" && return 0
  local path="" part
  local -a parts
  IFS=/ read -r -a parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    path+=/$part
    if ! as_pg test -x "$path"; then
      log "chmod o+x $path (so the postgres user can reach its data dir)"
      chmod o+x "$path"
    fi
  done
}

# running_pid DIR: prints the postmaster's pid if it is running.
running_pid() {
  local pid
  pid=$(read_pidfile "$1/data/postmaster.pid") || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 1
  printf '%s\n' "$pid"
}

# ensure_template: an initdb'd cluster at $TEMPLATE. Built in a temporary
# directory and renamed into place, so concurrent starts never see half of it.
ensure_template() {
  [[ -f $TEMPLATE/PG_VERSION ]] && return 0
  local parent tmp
  parent=$(abs_dir "$(dirname "$TEMPLATE")")
  make_reachable "$parent"
  tmp=$(mktemp -d "$parent/.pg-template.XXXXXX")
  give_to_pg "$tmp"
  log "initdb (once; cached in $TEMPLATE)"
  as_pg "$PG_BIN/initdb" -D "$tmp" -U postgres --auth-local=trust --auth-host=trust \
    -E UTF8 --locale=C.UTF-8 >"$tmp.log" 2>&1 || {
    show_log_tail "$tmp.log"
    rm -rf "$tmp" "$tmp.log"
    die "initdb failed"
  }
  # Per-instance settings (port, paths) live in admit.conf, written at each start.
  echo "include_if_exists = 'admit.conf'" >>"$tmp/postgresql.conf"
  rm -f "$tmp.log"
  mv -T "$tmp" "$TEMPLATE" 2>/dev/null || rm -rf "$tmp" # lost a race: fine
}

start() {
  local dir port pid data socket_dir="" started=$SECONDS
  dir=$(abs_dir "$1")
  port=$2
  data=$dir/data
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  if pid=$(running_pid "$dir"); then
    [[ $(cat "$dir/port" 2>/dev/null) == "$port" ]] ||
      die "postgres in $dir is already running (pid $pid) on port $(cat "$dir/port"), not $port"
    log "already running (pid $pid) on port $port"
  else
    port_is_free "$port" || die "port $port is already in use"
    give_to_pg "$dir"
    make_reachable "$dir"
    if [[ ! -f $data/PG_VERSION ]]; then
      ensure_template
      rm -rf "$data" "$data.tmp"
      cp -a "$TEMPLATE" "$data.tmp"
      # cp leaves the copy in the page cache; a cluster is durable only on disk.
      as_pg "$PG_BIN/initdb" --sync-only -D "$data.tmp" >/dev/null
      mv -T "$data.tmp" "$data"
    fi
    # Unix sockets have a ~107-byte path limit; TCP is what admit uses anyway.
    if ((${#dir} < 90)); then socket_dir=$dir; fi
    cat >"$data/admit.conf" <<EOF
# Written by deploy/local/postgres.sh at each start.
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
    give_to_pg "$data/admit.conf"
    echo "$port" >"$dir/port"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 -s start; then
      show_log_tail "$dir/postgres.log"
      die "postgres did not start on port $port (log: $dir/postgres.log)"
    fi
  fi
  local psql=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
  wait_for 30 "postgres to accept connections on port $port" "${psql[@]}" -c 'select 1' ||
    die "postgres on port $port does not answer (log: $dir/postgres.log)"
  if [[ $("${psql[@]}" -tAc "select 1 from pg_database where datname = 'admit'") != 1 ]]; then
    "${psql[@]}" -c 'create database admit'
  fi
  log "postgres up on 127.0.0.1:$port in $((SECONDS - started))s (log: $dir/postgres.log)"
}

stop() {
  local dir=$1 pid
  [[ -d $dir ]] || return 0
  dir=$(abs_dir "$dir")
  pid=$(running_pid "$dir") || return 0
  if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 -s stop; then
    log "fast shutdown failed; trying immediate"
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 10 -s stop || true
  fi
  # pg_ctl returns when postmaster.pid is gone; the process may still be exiting.
  stop_pid "$pid" postgres 10 || die "postgres (pid $pid) would not exit"
  log "postgres stopped"
}

status() {
  local dir=$1 pid
  if [[ -d $dir ]] && pid=$(running_pid "$dir"); then
    echo "postgres: running (pid $pid) on 127.0.0.1:$(cat "$dir/port"), data in $dir/data"
  else
    echo "postgres: stopped"
    return 3
  fi
}

case "${1:-} $#" in
  "start 3") start "$2" "$3" ;;
  "stop 2") stop "$2" ;;
  "status 2") status "$2" ;;
  *) die "usage: $0 start DIR PORT | stop DIR | status DIR" ;;
esac
