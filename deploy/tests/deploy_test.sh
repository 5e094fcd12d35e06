#!/usr/bin/env bash
# Checks admit's deployment files without a cluster or a Docker engine.
#
#   deploy/tests/deploy_test.sh static   manifests, Prometheus files, Dockerfile
#   deploy/tests/deploy_test.sh live     + live_metrics_test.py (needs the harness
#                                          variables of tests/run.sh and the services built)
#
# static:
#   - npm ci in deploy/tests (kubernetes-models, yaml; from the npm registry, as
#     package-lock.json pins them; skipped when node_modules matches the lock);
#   - `kubectl kustomize` renders k8s/base, k8s/overlays/local and
#     k8s/overlays/production; validate_manifests.mjs validates every object against
#     the Kubernetes schemas and checks probes, resources, PDBs, HPAs, headless gRPC
#     Services, Secret/ConfigMap references, Pod Security "restricted" (production);
#   - settings_check.py starts each binary with the environment each rendered
#     Deployment/Job gives it: every setting parses (no exit 2), and the production
#     placeholders (CHANGE_ME keys) are refused;
#   - promtool check config (compose and Kubernetes configs), check rules, test rules;
#   - the Grafana dashboard is JSON with a query per panel;
#   - Dockerfile <-> deploy/local/packages.txt, where "the same package list" means:
#     (a) the build stage installs exactly packages.txt, by copying it and running
#         deploy/local/install-deps.sh (the installer of the run and test commands);
#     (b) every package the Dockerfile names itself (runtime extras, the pgbouncer
#         stage) is in packages.txt;
#     (c) the runtime stage's other packages are computed in the build stage as the
#         owners (dpkg -S) of the shared libraries the binaries load (ldd); here the
#         same computation on ADMIT_BUILD_DIR's binaries must find a Debian package
#         for every library (nothing from /usr/local or the build tree).
# live: renders and checks the manifests as above (for the HPA metric names), then
#   runs live_metrics_test.py (services, Prometheus, adapter queries).
# Prints ok:/FAIL: lines; exits 1 if any check failed.
set -euo pipefail

repo=${ADMIT_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$repo/deploy/tests
mode=${1:-static}
build=${ADMIT_BUILD_DIR:-$repo/build/asan}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
check() {
  local what=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then ok "$what"; else
    fail "$what"
    sed 's/^/    /' "$tmp/out"
  fi
}

# --- npm dependencies (pinned by package-lock.json) ---
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.admit-lock.json"; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$here/node_modules/.admit-lock.json"
fi

# --- manifests ---
command -v kubectl >/dev/null || { echo "FAIL: kubectl (with kustomize v4+) is needed to render k8s/"; exit 1; }
args=()
for overlay in base overlays/local overlays/production; do
  name=$(basename "$overlay")
  check "kubectl kustomize k8s/$overlay renders" kubectl kustomize "$repo/k8s/$overlay" -o "$tmp/$name.yaml"
  args+=("$name=$tmp/$name.yaml")
done
if node "$here/validate_manifests.mjs" "${args[@]}" >"$tmp/validate.out"; then
  grep -v '^METRICS ' "$tmp/validate.out"
else
  grep -v '^METRICS ' "$tmp/validate.out"
  fail "manifest checks (above)"
fi
grep '^METRICS ' "$tmp/validate.out" | sed 's/^METRICS //' >"$tmp/hpa-metrics.json"

if [[ $mode == static ]]; then
# --- every setting in the manifests parses in the binary that reads it ---
if /usr/bin/python3 "$here/settings_check.py" "$build" local="$tmp/local.yaml" production="$tmp/production.yaml"; then :; else
  fail "settings of the rendered manifests (above)"
fi

# --- Prometheus, alerts, dashboard ---
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config "$repo/deploy/prometheus/prometheus.yml"
# Debian's prometheus is built without Kubernetes service discovery ("field
# kubernetes_sd_configs not found"): check the file with that one block replaced
# by an empty static target list; everything else (relabelling regexes, rule files)
# is checked as written.
/usr/bin/python3 - "$repo/deploy/prometheus/prometheus-kubernetes.yml" "$tmp/prometheus-kubernetes.yml" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for job in config["scrape_configs"]:
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
    job["static_configs"] = [{"targets": []}]
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
cp "$repo/deploy/prometheus/alerts.yml" "$tmp/alerts.yml"
check "promtool check config deploy/prometheus/prometheus-kubernetes.yml (Kubernetes discovery stubbed)" \
  promtool check config "$tmp/prometheus-kubernetes.yml"
check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules "$repo/deploy/prometheus/alerts.yml"
check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules "$repo/deploy/prometheus/alerts_test.yml"
check "Grafana dashboard: JSON, every panel has a query" node -e '
  const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!d.panels.length || d.panels.some((p) => !p.targets?.length || p.targets.some((t) => !t.expr))) process.exit(1);' \
  "$repo/deploy/grafana/admit-dashboard.json"

# --- Dockerfile <-> packages.txt ---
dockerfile=$repo/deploy/docker/Dockerfile
packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$repo/deploy/local/packages.txt"; }
check "Dockerfile build stage installs deploy/local/packages.txt with install-deps.sh" \
  grep -Eq '^RUN deploy/local/install-deps.sh' "$dockerfile"
check "Dockerfile build stage copies packages.txt" grep -Eq '^COPY deploy/local/packages.txt ' "$dockerfile"
# Names the Dockerfile itself installs: words after "install ... --no-install-recommends"
# on its RUN lines, and RUNTIME_EXTRA's default.
named=$( (grep -oE 'no-install-recommends [a-z0-9.+ -]+' "$dockerfile" | sed 's/no-install-recommends//'
  sed -nE 's/^ARG RUNTIME_EXTRA="([^"]*)"/\1/p' "$dockerfile") | tr ' ' '\n' | sed '/^$/d' | sort -u)
check "Dockerfile names some packages itself" test -n "$named"
for pkg in $named; do
  check "Dockerfile package $pkg is in packages.txt" grep -qx "$pkg" <(packages)
done
bins=("$build"/services/*/admit-*)
if [[ -x ${bins[0]} ]]; then
  if "$repo/deploy/docker/runtime-packages.sh" "${bins[@]}" >"$tmp/runtime.txt" 2>"$tmp/runtime.err"; then
    ok "every library of ${#bins[@]} binaries is from a Debian package: $(tr '\n' ' ' <"$tmp/runtime.txt")"
  else
    fail "runtime-packages.sh on $build's binaries: $(cat "$tmp/runtime.err")"
  fi
else
  fail "no service binaries in $build/services (build them first)"
fi
check "compose file: every admit service runs a binary of the image" bash -c '
  for b in $(grep -oE "\[admit-[a-z]+\]" "$1" | tr -d "[]" | sort -u); do
    [[ $b == admit-migrate ]] && continue
    [[ -d $2/services/${b#admit-} ]] || { echo "no services/${b#admit-} for $b"; exit 1; }
  done' _ "$repo/deploy/compose.yaml" "$repo"
check "migrate script is executable" test -x "$repo/deploy/docker/migrate.sh"
# Every file the Dockerfile copies from the build context (COPY SRC... DEST) or from
# the build stage's source tree (/opt/admit/src/PATH) exists in the repository.
for src in $(awk '$1 == "COPY" && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' "$dockerfile") \
  $(grep -oE '^COPY --from=build /opt/admit/src/[^ ]+' "$dockerfile" | sed 's|.*/opt/admit/src/||'); do
  [[ $src == . ]] && continue
  check "Dockerfile copies $src, which exists" test -e "$repo/$src"
done
fi

if [[ $mode == live ]]; then
  if /usr/bin/python3 "$here/live_metrics_test.py" "$tmp/hpa-metrics.json"; then ok "live metrics"; else fail "live metrics (above)"; fi
fi

if ((failures)); then
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "PASS"
