#!/usr/bin/env bash
# The test command: every admit test, against private servers, in a sanitizer build.
#
#   tests/run.sh [CTEST ARGS...]      e.g. tests/run.sh -L unit, tests/run.sh -R config
#
# Steps: install missing Debian packages -> configure and build ADMIT_BUILD_DIR
# (default <repo>/build/asan; Debug, -DADMIT_SANITIZE=address,undefined) -> a fresh
# Postgres, Redis and SMTP sink under <repo>/.run/test (deploy/local/stack.sh) ->
# ctest --output-on-failure -j2 with the extra arguments -> stop the servers, also on
# failure or Ctrl-C (data and logs stay in .run/test until the next run).
# Exit status: ctest's (non-zero if any test failed), or that of the failing step.
#
# Tests see (besides ASAN_OPTIONS / UBSAN_OPTIONS, when the caller did not set them):
#   ADMIT_TEST_PG_URL     postgresql://postgres@127.0.0.1:PORT/admit
#   ADMIT_TEST_REDIS_URL  redis://127.0.0.1:PORT
#   ADMIT_TEST_SMTP_URL   smtp://127.0.0.1:PORT
#   ADMIT_TEST_MAILDIR    the SMTP sink's Maildir (messages appear in new/)
#   ADMIT_REPO_ROOT, ADMIT_BUILD_DIR
# One tests/run.sh at a time per checkout (they share .run/test); a second one fails fast.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../deploy/local/lib.sh
source "$repo/deploy/local/lib.sh"
stack=$repo/deploy/local/stack.sh
build=$(abs_dir "${ADMIT_BUILD_DIR:-$repo/build/asan}")
run=$repo/.run/test

mkdir -p "$repo/.run"
# The lock is fd 9; every child started below gets 9>&- so that a server left
# behind by a killed run cannot hold it.
exec 9>"$repo/.run/test.lock"
flock -n 9 || die "another tests/run.sh is running in this checkout (it uses $run)"

"$repo/deploy/local/install-deps.sh" 9>&-
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DADMIT_SANITIZE=address,undefined 9>&-
cmake --build "$build" -j"$(nproc)" 9>&-

# LeakSanitizer needs ptrace-like access to the process; some containers forbid
# it, and then every sanitized binary fails at exit. Probe once with a program
# that leaks: leak checking is on only if it is reported as a leak.
leaks=0
probe=$build/lsan-probe
if [[ ! -x $probe ]]; then
  echo '#include <cstdlib>
        int main() { void* volatile p = std::malloc(42); p = nullptr; return 0; }' |
    c++ -x c++ -fsanitize=address -o "$probe" -
fi
probe_out=$(ASAN_OPTIONS=detect_leaks=1 "$probe" 2>&1 || true)
if [[ $probe_out == *"LeakSanitizer: detected memory leaks"* ]]; then
  leaks=1
else
  log "LeakSanitizer does not work here (ptrace restricted?): running with detect_leaks=0"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=$leaks}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A fresh stack each time (a killed earlier run may have left one up).
"$stack" down "$run" 9>&- || true
rm -rf "$run"
trap '"$stack" down "$run" 9>&-' EXIT
trap 'exit 130' INT TERM HUP
"$stack" up "$run" 9>&-
# shellcheck source=/dev/null
source "$run/stack.env"

export ADMIT_TEST_PG_URL=$ADMIT_PG_URL
export ADMIT_TEST_REDIS_URL=$ADMIT_REDIS_URL
export ADMIT_TEST_SMTP_URL=$ADMIT_SMTP_URL
export ADMIT_TEST_MAILDIR=$ADMIT_MAILDIR
export ADMIT_REPO_ROOT=$repo
export ADMIT_BUILD_DIR=$build
# c-ares (gRPC's default resolver) keeps allocations LeakSanitizer reports at exit.
export GRPC_DNS_RESOLVER=${GRPC_DNS_RESOLVER:-native}

rc=0
ctest --test-dir "$build" --output-on-failure -j2 "$@" 9>&- || rc=$?
exit "$rc"
