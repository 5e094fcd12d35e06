#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries BINARY... load, one per
# line, sorted: the runtime stage of deploy/docker/Dockerfile installs exactly
# these (plus its RUNTIME_EXTRA), and deploy/tests/deploy_test.sh runs the same
# script on a local build. Exit status 1, naming the library on stderr, when a
# library belongs to no package (built or copied outside Debian's packages).
#
# usrmerge: ldd may print /lib/... or /usr/lib/... while dpkg knows the file under
# the other name, so each library is looked up under both names.
set -euo pipefail
(($#)) || { echo "usage: $0 BINARY..." >&2; exit 2; }

mapfile -t libs < <(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
candidates=()
for lib in "${libs[@]}"; do
  file=$(dirname "$lib")/$(basename "$(readlink -f "$lib")") # resolve the soname link, keep the dir
  for path in "$lib" "$file"; do
    candidates+=("$path" "${path#/usr}" "/usr${path#/usr}")
  done
done
# One dpkg-query over every name (it is slow per call); unknown names are ignored here.
owners=$(dpkg-query -S "${candidates[@]}" 2>/dev/null | grep -v '^diversion' || true)
status=0
for lib in "${libs[@]}"; do
  file=$(dirname "$lib")/$(basename "$(readlink -f "$lib")")
  found=0
  for path in "$lib" "$file"; do
    for name in "$path" "${path#/usr}" "/usr${path#/usr}"; do
      if grep -q ": $name\$" <<<"$owners"; then found=1; fi
    done
  done
  if ((found == 0)); then
    echo "runtime-packages: $lib belongs to no Debian package" >&2
    status=1
  fi
done
cut -d: -f1 <<<"$owners" | sed '/^$/d' | sort -u
exit "$status"
