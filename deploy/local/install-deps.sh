#!/usr/bin/env bash
# Installs the Debian packages in packages.txt that are not installed yet.
#
# Contract: exits 0 when every package is installed afterwards. Runs no
# apt-get at all when nothing is missing (a fast no-op); otherwise needs root,
# runs `apt-get update` once and installs only the missing packages, without
# recommends, non-interactively, printing their names first.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/packages.txt")

# dpkg-query prints "ii " for installed packages; anything else (or a package
# dpkg has never heard of, reported on stderr) counts as missing.
mapfile -t installed < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null |
  awk '$1 == "ii" { sub(/:.*/, "", $2); print $2 }')
missing=()
for pkg in "${wanted[@]}"; do
  [[ " ${installed[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
((EUID == 0)) || die "missing Debian packages: ${missing[*]}; run as root to install them"

log "installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
log "installed: ${missing[*]}"
