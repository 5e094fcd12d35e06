# Helpers shared by the local-stack scripts. Source it; it defines functions
# and ADMIT_PY, and changes no shell option of the caller.
# shellcheck shell=bash

# Debian's interpreter: it has python3-grpcio and python3-aiosmtpd. A python3
# earlier on PATH (pyenv, venv) may have neither.
ADMIT_PY=/usr/bin/python3

# log MESSAGE...: one line on stderr, prefixed with the calling script's name.
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# die MESSAGE...: log and exit 1.
die() {
  log "error: $*"
  exit 1
}

# free_ports N: prints N distinct TCP ports, one per line, that were free on
# 127.0.0.1 a moment ago (all held at once while choosing, so no duplicates).
# Another process can still take one before the caller binds it; a server
# that finds its port taken fails loudly, it never shares the port.
free_ports() {
  "$ADMIT_PY" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# free_port: prints one free port (see free_ports).
free_port() { free_ports 1; }

# port_is_free PORT: succeeds if a server could listen on 127.0.0.1:PORT right
# now. SO_REUSEADDR like every server sets, so TIME_WAIT leftovers of closed
# connections do not count as "in use"; a listening socket does.
port_is_free() {
  "$ADMIT_PY" - "$1" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
PY
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds
# (returns 0) or SECONDS have passed (logs "timed out waiting for WHAT",
# returns 1). COMMAND's output is discarded.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.1
  done
}

# pid_alive PID: succeeds if PID is a running process. A zombie (exited, not
# yet reaped; here they can linger ~2 s) counts as gone, unlike `kill -0`.
pid_alive() {
  local state
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

pid_gone() { ! pid_alive "$1"; }

# stop_pid PID WHAT [SECONDS]: SIGTERM, wait up to SECONDS (default 10) for
# the process to be gone, then SIGKILL and wait again. Succeeds once it is
# gone (at once if it already was); fails only if even SIGKILL did not work.
stop_pid() {
  local pid=$1 what=$2 seconds=${3:-10}
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_for "$seconds" "$what (pid $pid) to exit" pid_gone "$pid" && return 0
  log "killing $what (pid $pid) with SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_for 5 "$what (pid $pid) to die" pid_gone "$pid"
}

# read_pidfile FILE: prints the first line of FILE if it names a live process;
# fails otherwise (missing file, stale pid).
read_pidfile() {
  local pid
  [[ -r $1 ]] || return 1
  read -r pid <"$1" || [[ -n ${pid:-} ]] || return 1
  pid_alive "$pid" || return 1
  printf '%s\n' "$pid"
}

# env_line NAME VALUE: prints `export NAME=VALUE`, VALUE quoted for bash.
env_line() { printf 'export %s=%q\n' "$1" "$2"; }

# abs_dir DIR: creates DIR if needed and prints its absolute path.
abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

# show_log_tail FILE: the last lines of a server log, to explain a failure.
show_log_tail() {
  [[ -s $1 ]] || return 0
  log "last lines of $1:"
  tail -n 20 "$1" | sed 's/^/    /' >&2
}
