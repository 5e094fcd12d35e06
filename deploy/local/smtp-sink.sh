#!/usr/bin/env bash
# The local SMTP sink (smtp_sink.py): accepts all mail on 127.0.0.1:PORT and
# delivers each message into the Maildir DIR/maildir (new/ cur/ tmp/).
#
#   smtp-sink.sh start DIR PORT   returns once the server sends its "220" greeting
#   smtp-sink.sh stop DIR         returns once the process is gone
#   smtp-sink.sh status DIR       prints the state; exit 0 running, 3 stopped
#
# All three are idempotent. DIR holds smtp.pid, smtp.log, port and maildir/.
# ADMIT_SMTP_AUTH_USER and ADMIT_SMTP_AUTH_PASSWORD, if both set at start,
# turn on required AUTH PLAIN/LOGIN.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

running_pid() {
  local pid
  pid=$(read_pidfile "$1/smtp.pid") || return 1
  grep -qF smtp_sink.py "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# greets DIR PORT: our sink (not some other server on PORT) says "220".
greets() {
  local line
  running_pid "$1" >/dev/null || return 1
  exec 3<>"/dev/tcp/127.0.0.1/$2" || return 1
  read -r -t 2 line <&3 || line=""
  printf 'QUIT\r\n' >&3 || true
  exec 3>&-
  [[ $line == 220* ]]
}

start() {
  local dir port pid
  dir=$(abs_dir "$1")
  port=$2
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  if pid=$(running_pid "$dir"); then
    [[ $(cat "$dir/port" 2>/dev/null) == "$port" ]] ||
      die "SMTP sink in $dir is already running (pid $pid) on port $(cat "$dir/port"), not $port"
  else
    port_is_free "$port" || die "port $port is already in use"
    rm -f "$dir/smtp.pid"
    echo "$port" >"$dir/port"
    # Own session: a Ctrl-C at the terminal reaches whoever started us, who
    # decides the shutdown order.
    setsid "$ADMIT_PY" "$here/smtp_sink.py" --port "$port" --maildir "$dir/maildir" \
      --pidfile "$dir/smtp.pid" </dev/null >>"$dir/smtp.log" 2>&1 &
  fi
  if ! wait_for 15 "the SMTP sink's 220 greeting on port $port" greets "$dir" "$port"; then
    show_log_tail "$dir/smtp.log"
    die "SMTP sink did not start on port $port (log: $dir/smtp.log)"
  fi
  log "SMTP sink up on 127.0.0.1:$port, mail in $dir/maildir/new (log: $dir/smtp.log)"
}

stop() {
  local dir=$1 pid
  [[ -d $dir ]] || return 0
  pid=$(running_pid "$dir") || return 0
  stop_pid "$pid" "SMTP sink" 10 || die "SMTP sink (pid $pid) would not exit"
  rm -f "$dir/smtp.pid"
  log "SMTP sink stopped"
}

status() {
  local dir=$1 pid
  if [[ -d $dir ]] && pid=$(running_pid "$dir"); then
    echo "smtp: running (pid $pid) on 127.0.0.1:$(cat "$dir/port"), mail in $dir/maildir"
  else
    echo "smtp: stopped"
    return 3
  fi
}

case "${1:-} $#" in
  "start 3") start "$2" "$3" ;;
  "stop 2") stop "$2" ;;
  "status 2") status "$2" ;;
  *) die "usage: $0 start DIR PORT | stop DIR | status DIR" ;;
esac
