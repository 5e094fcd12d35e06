#!/usr/bin/env bash
# README.md's configuration reference equals what the built binaries print
# (deploy/local/config-docs.sh): every variable, default and meaning, no more,
# no less. On a difference prints the diff and how to refresh the README.
set -euo pipefail

repo=${ADMIT_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${ADMIT_BUILD_DIR:-$repo/build/asan}
begin='<!-- BEGIN config-docs.sh -->'
end='<!-- END config-docs.sh -->'

expected=$("$repo/deploy/local/config-docs.sh" "$build")
documented=$(awk -v begin="$begin" -v end="$end" '
  $0 == end { inside = 0 }
  inside { print }
  $0 == begin { inside = 1 }' "$repo/README.md")

if [[ -z $documented ]]; then
  echo "FAIL: README.md has no configuration reference between $begin and $end" >&2
  exit 1
fi
if ! diff -u <(echo "$documented") <(echo "$expected") >&2; then
  echo "FAIL: README.md's configuration reference is out of date (- README, + binaries);" \
    "refresh it with: deploy/local/config-docs.sh --update $build" >&2
  exit 1
fi
echo "PASS: README.md documents every setting of: $(grep -c '^### ' <<<"$expected") service(s)"
