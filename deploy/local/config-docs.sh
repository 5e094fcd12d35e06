#!/usr/bin/env bash
# Prints the configuration reference of every built service, as Markdown: each
# binary's own `--help-markdown` (so the list cannot drift from the code).
#
#   deploy/local/config-docs.sh [BUILD_DIR]            print it
#   deploy/local/config-docs.sh --update [BUILD_DIR]   rewrite README.md's copy
#
# BUILD_DIR defaults to ADMIT_BUILD_DIR, else <repo>/build/release. Services
# are services/NAME/ with a built BUILD_DIR/services/NAME/admit-NAME, in name
# order. Defaults that contain this checkout's path show it as <repo>.
# README.md keeps its copy between the lines
#   <!-- BEGIN config-docs.sh -->  and  <!-- END config-docs.sh -->
# and tests/readme_config_test.sh fails when the two differ.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$(dirname "$here")")
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

update=0
if [[ ${1:-} == --update ]]; then
  update=1
  shift
fi
build=${1:-${ADMIT_BUILD_DIR:-$repo/build/release}}

generate() {
  local d name bin found=0
  for d in "$repo"/services/*/; do
    name=$(basename "$d")
    bin=$build/services/$name/admit-$name
    [[ -x $bin ]] || continue
    found=1
    echo
    "$bin" --help-markdown | sed "s|$repo|<repo>|g"
  done
  ((found)) || die "no service binary under $build/services; build first"
}

if ((update == 0)); then
  generate
  exit 0
fi

readme=$repo/README.md
begin='<!-- BEGIN config-docs.sh -->'
end='<!-- END config-docs.sh -->'
grep -qxF "$begin" "$readme" && grep -qxF "$end" "$readme" ||
  die "README.md lacks the lines $begin and $end"
generated=$(generate)
awk -v begin="$begin" -v end="$end" -v text="$generated" '
  $0 == begin { print; print text; skipping = 1; next }
  $0 == end { skipping = 0 }
  !skipping { print }' "$readme" >"$readme.tmp"
mv "$readme.tmp" "$readme"
log "updated the configuration reference in README.md"
