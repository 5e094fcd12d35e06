// Validates rendered Kubernetes manifests (multi-document YAML files, one per
// kustomize build) against the Kubernetes OpenAPI schemas shipped by the npm
// package kubernetes-models, then checks admit's own rules on them.
//
//   node validate_manifests.mjs NAME=FILE.yaml ...   (deploy_test.sh renders them)
//
// Prints "ok: ..." / "FAIL: ..." lines and, last, one JSON line
// `METRICS {"hpa": [...]}` naming the custom/external metrics the HPAs use.
// Exit status 1 when any check failed.
import fs from "node:fs";
import { parseAllDocuments } from "yaml";
import * as models from "kubernetes-models";

let failures = 0;
const ok = (what) => console.log(`ok: ${what}`);
const fail = (what) => { failures++; console.log(`FAIL: ${what}`); };
const check = (cond, what) => (cond ? ok(what) : fail(what));

// kubernetes-models exports one namespace per API group ("apps/v1" ->
// models.apps.v1; core "v1" -> models.v1 ...). Every kind admit uses must be known.
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let ns;
  if (group === "") ns = models[version];
  else {
    // "networking.k8s.io" -> networkingK8sIo
    const key = group.split(".").map((p, i) => (i ? p[0].toUpperCase() + p.slice(1) : p)).join("");
    ns = models[key]?.[version];
  }
  return ns?.[kind];
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

const hpaMetrics = new Set();
for (const arg of process.argv.slice(2)) {
  const [name, file] = arg.split("=");
  const docs = parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => {
    if (d.errors.length) fail(`${name}: YAML error ${d.errors[0].message}`);
    return d.toJS();
  }).filter(Boolean);
  check(docs.length > 0, `${name}: renders objects (${docs.length})`);
  const byKind = (kind) => docs.filter((d) => d.kind === kind);

  // 1. Schema validation of every object.
  let valid = 0;
  for (const doc of docs) {
    const id = `${name}: ${doc.kind}/${doc.metadata?.name}`;
    const Model = modelFor(doc.apiVersion, doc.kind);
    if (!Model) { fail(`${id}: no schema for ${doc.apiVersion} ${doc.kind}`); continue; }
    // kustomize folds long base64 values over lines; the API server's decoder
    // (Go's encoding/base64) skips the newlines, the schema's "byte" format does not.
    const obj = structuredClone(doc);
    if (obj.kind === "Secret") for (const k of Object.keys(obj.data ?? {})) obj.data[k] = obj.data[k].replace(/\s+/g, "");
    try {
      new Model(obj).validate();
      valid++;
    } catch (e) {
      fail(`${id}: schema: ${e.message}`);
    }
  }
  check(valid === docs.length, `${name}: ${valid}/${docs.length} objects valid against the Kubernetes schemas`);

  // 2. Every Deployment: probes, resources, a PDB, non-root, a termination grace
  // period covering ADMIT_SHUTDOWN_DELAY + ADMIT_DRAIN_TIMEOUT.
  const config = Object.assign({}, ...byKind("ConfigMap").filter((c) => c.metadata.name.startsWith("admit-config")).map((c) => c.data));
  const seconds = (v) => { const m = /^(\d+)(ms|s|m)$/.exec(v ?? ""); return !m ? NaN : m[2] === "ms" ? m[1] / 1000 : m[2] === "m" ? m[1] * 60 : +m[1]; };
  // Keepalive agreement: admit's clients ping every ChannelOptions.keepalive_time
  // (common/server/channel.h); servers must permit pings at least that often, or
  // they answer GOAWAY too_many_pings.
  if (config.ADMIT_GRPC_PERMIT_KEEPALIVE_TIME) {
    const header = fs.readFileSync(new URL("../../common/server/channel.h", import.meta.url), "utf8");
    const ping = +/keepalive_time\{std::chrono::seconds\((\d+)\)\}/.exec(header)?.[1];
    const permit = seconds(config.ADMIT_GRPC_PERMIT_KEEPALIVE_TIME);
    check(ping > 0 && permit <= ping, `${name}: servers permit keepalive pings every ${permit}s <= clients' ${ping}s (channel.h)`);
    check(seconds(config.ADMIT_GRPC_MAX_CONNECTION_AGE) > 0, `${name}: ADMIT_GRPC_MAX_CONNECTION_AGE set (clients re-resolve DNS)`);
    for (const k of ["ADMIT_QUOTA_ADDR", "ADMIT_REGISTRATION_ADDR", "ADMIT_CONFIRMATION_ADDR"])
      check(config[k]?.startsWith("dns:///"), `${name}: ${k} ${config[k]} balances over every pod IP (dns:///)`);
  }
  for (const d of byKind("Deployment")) {
    const id = `${name}: Deployment/${d.metadata.name}`;
    const pod = d.spec.template;
    for (const c of pod.spec.containers) {
      check(c.readinessProbe && c.livenessProbe, `${id}/${c.name}: readiness and liveness probes`);
      check(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.cpu && c.resources?.limits?.memory,
        `${id}/${c.name}: cpu and memory requests and limits`);
      if ((c.command?.[0] ?? "").startsWith("admit-") && c.command[0] !== "admit-gateway") {
        const port = c.ports.find((p) => p.name === "grpc")?.containerPort;
        check(c.readinessProbe?.grpc?.port === port && c.livenessProbe?.grpc?.port === port,
          `${id}: native gRPC probes (grpc.health.v1) on the gRPC port ${port}`);
        const listen = c.env.find((e) => e.name === "ADMIT_GRPC_LISTEN")?.value;
        check(listen === `0.0.0.0:${port}`, `${id}: ADMIT_GRPC_LISTEN ${listen} matches the probe port`);
        const delay = seconds(config.ADMIT_SHUTDOWN_DELAY), drain = seconds(config.ADMIT_DRAIN_TIMEOUT);
        check(pod.spec.terminationGracePeriodSeconds >= delay + drain,
          `${id}: terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} >= shutdown delay ${delay} + drain ${drain}`);
        const period = c.readinessProbe.periodSeconds * (c.readinessProbe.failureThreshold ?? 3);
        check(delay > period, `${id}: ADMIT_SHUTDOWN_DELAY ${delay}s > readiness detection ${period}s`);
      }
    }
    const sc = pod.spec.securityContext ?? {};
    const containersNonRoot = pod.spec.containers.every((c) => c.securityContext?.allowPrivilegeEscalation === false);
    if (d.metadata.labels?.["app.kubernetes.io/part-of"] === "admit") {
      check(sc.runAsNonRoot === true && containersNonRoot, `${id}: non-root, no privilege escalation`);
      check((pod.spec.topologySpreadConstraints ?? []).length > 0, `${id}: topology spread`);
    }
    const pdbs = byKind("PodDisruptionBudget").filter((p) => matches(p.spec.selector.matchLabels, pod.metadata.labels));
    if (d.metadata.labels?.["app.kubernetes.io/part-of"] === "admit") check(pdbs.length === 1, `${id}: exactly one PodDisruptionBudget (${pdbs.length})`);
    check(matches(d.spec.selector.matchLabels, pod.metadata.labels), `${id}: selector matches its pod labels`);
  }

  // 3. HPAs: autoscaling/v2, target exists, CPU + one custom metric, fast up, slow down.
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const id = `${name}: HPA/${h.metadata.name}`;
    check(h.apiVersion === "autoscaling/v2", `${id}: autoscaling/v2`);
    check(byKind("Deployment").some((d) => d.metadata.name === h.spec.scaleTargetRef.name), `${id}: targets an existing Deployment`);
    check(h.spec.metrics.some((m) => m.type === "Resource" && m.resource.name === "cpu"), `${id}: scales on CPU`);
    const custom = h.spec.metrics.filter((m) => m.type === "Pods" || m.type === "External");
    check(custom.length >= 1, `${id}: scales on a custom metric`);
    for (const m of custom) hpaMetrics.add((m.pods ?? m.external).metric.name);
    check(h.spec.behavior?.scaleUp?.stabilizationWindowSeconds === 0, `${id}: scale-up without stabilization window`);
    check(h.spec.behavior?.scaleDown?.stabilizationWindowSeconds >= 300, `${id}: scale-down stabilized >= 5 min`);
    check(h.spec.minReplicas <= h.spec.maxReplicas, `${id}: minReplicas <= maxReplicas`);
  }

  // 4. Every referenced ConfigMap / Secret exists in the overlays (the base
  // leaves admit-secrets and admit-pgbouncer to them).
  if (name !== "base") {
    const names = new Set(docs.filter((d) => d.kind === "ConfigMap" || d.kind === "Secret").map((d) => `${d.kind}/${d.metadata.name}`));
    const refs = new Set();
    for (const w of [...byKind("Deployment"), ...byKind("StatefulSet"), ...byKind("Job")]) {
      const spec = w.spec.template.spec;
      for (const c of spec.containers) {
        for (const e of c.envFrom ?? []) { if (e.configMapRef) refs.add(`ConfigMap/${e.configMapRef.name}`); if (e.secretRef) refs.add(`Secret/${e.secretRef.name}`); }
        for (const e of c.env ?? []) {
          const s = e.valueFrom?.secretKeyRef; if (s && !s.optional) refs.add(`Secret/${s.name}`);
          const cm = e.valueFrom?.configMapKeyRef; if (cm) refs.add(`ConfigMap/${cm.name}`);
        }
      }
      for (const v of spec.volumes ?? []) { if (v.configMap) refs.add(`ConfigMap/${v.configMap.name}`); if (v.secret) refs.add(`Secret/${v.secret.secretName}`); }
    }
    for (const r of refs) check(names.has(r), `${name}: ${r} referenced and present`);
    // Secret keys referenced exist.
    const secrets = Object.fromEntries(byKind("Secret").map((s) => [s.metadata.name, { ...(s.data ?? {}), ...(s.stringData ?? {}) }]));
    for (const w of [...byKind("Deployment"), ...byKind("Job")]) for (const c of w.spec.template.spec.containers) for (const e of c.env ?? []) {
      const s = e.valueFrom?.secretKeyRef;
      if (s && !s.optional && secrets[s.name]) check(s.key in secrets[s.name], `${name}: ${w.metadata.name} key ${s.key} in Secret/${s.name}`);
    }
    // The pre-rollout phase (docs/operations.md "Upgrades"): the objects labelled
    // admit.example.org/phase=pre hold the Job, its namespace and what it references.
    const pre = docs.filter((d) => d.metadata.labels?.["admit.example.org/phase"] === "pre");
    const preNames = new Set(pre.map((d) => `${d.kind}/${d.metadata.name}`));
    const job = byKind("Job").find((j) => j.metadata.name === "admit-migrate");
    check(job && preNames.has("Job/admit-migrate") && pre.some((d) => d.kind === "Namespace"),
      `${name}: phase=pre has the migration Job and the namespace`);
    for (const c of job?.spec.template.spec.containers ?? []) {
      const jr = [...(c.envFrom ?? []).map((e) => e.configMapRef ? `ConfigMap/${e.configMapRef.name}` : `Secret/${e.secretRef.name}`),
        ...(c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => `Secret/${e.valueFrom.secretKeyRef.name}`)];
      for (const r of new Set(jr)) check(preNames.has(r), `${name}: phase=pre has ${r} (the Job needs it)`);
    }
    // Development keys of the local overlay must be valid 32-byte keys.
    // (Strict: the decoded key must re-encode to the same text.)
    if (name === "local") {
      const generated = Object.keys(secrets).find((n) => n.startsWith("admit-secrets"));
      const keys = Object.entries(secrets[generated] ?? {}).filter(([k]) => k.endsWith("_KEY"));
      check(keys.length === 3, `local: Secret ${generated} has the three keys (${keys.length})`);
      for (const [k, v] of keys) {
        const text = Buffer.from(v.replace(/\s+/g, ""), "base64").toString();
        const bytes = Buffer.from(text, "base64");
        check(bytes.length === 32 && bytes.toString("base64") === text, `local: ${k} is 32 bytes in base64 (${bytes.length})`);
      }
    }
  }

  // 5. Services: the gRPC ones headless (client-side round_robin over pod IPs),
  // every Service selects some pod template.
  const pods = [...byKind("Deployment"), ...byKind("StatefulSet")].map((w) => w.spec.template.metadata.labels);
  for (const s of byKind("Service")) {
    check(pods.some((l) => matches(s.spec.selector, l)), `${name}: Service/${s.metadata.name} selects pods`);
    if (s.spec.ports.some((p) => p.name === "grpc")) check(s.spec.clusterIP === "None", `${name}: Service/${s.metadata.name} (gRPC) is headless`);
  }
  for (const p of byKind("NetworkPolicy")) {
    check(pods.some((l) => matches(p.spec.podSelector.matchLabels, l)) || name === "base" || name === "production",
      `${name}: NetworkPolicy/${p.metadata.name} selects pods`);
  }
  // 6. production: Pod Security "restricted" holds for every pod template.
  if (name === "production") {
    for (const w of [...byKind("Deployment"), ...byKind("Job")]) {
      const spec = w.spec.template.spec;
      const good = spec.securityContext?.runAsNonRoot === true && spec.securityContext?.seccompProfile?.type === "RuntimeDefault" &&
        spec.containers.every((c) => c.securityContext?.allowPrivilegeEscalation === false &&
          (c.securityContext?.capabilities?.drop ?? []).includes("ALL"));
      check(good, `production: ${w.kind}/${w.metadata.name} meets Pod Security "restricted"`);
    }
  }
}
console.log(`METRICS ${JSON.stringify({ hpa: [...hpaMetrics].sort() })}`);
process.exit(failures ? 1 : 0);
