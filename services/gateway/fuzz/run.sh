#!/usr/bin/env bash
# Builds the gateway's libFuzzer target with clang-14 (its own build dir) and
# runs it. Usage: run.sh BUILD_DIR [libFuzzer args...]; default args:
# -runs=20000 (the test command's short run). Longer, e.g.:
#   services/gateway/fuzz/run.sh build/gateway-fuzz -max_total_time=1800 -jobs=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [libFuzzer args]}
shift
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(-runs=20000)
# No build type: the generated protobuf code compiles at -O0 (much faster);
# the fuzz target's own sources get -O1 from fuzz/CMakeLists.txt.
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE= >/dev/null
fi
cmake --build "$build" -j2 >/dev/null
mkdir -p "$build/corpus"
# Leak checking stays on; libFuzzer exits non-zero on any crash, leak or UB.
exec "$build/gateway_transcode_fuzz" -artifact_prefix="$build/" "${args[@]}" "$build/corpus" "$here/corpus"
