"""Starts each admit binary with the environment a rendered manifest gives it and
checks that every setting parses (a binary exits 2 naming the variable when one
does not: README "Configuration").

  /usr/bin/python3 settings_check.py BUILD_DIR NAME=RENDERED.yaml ...

For each Deployment and the migration Job of each rendered overlay: the env of its
container (ConfigMaps, literal values, Secret values) with the listen addresses
moved to 127.0.0.1:0; the binary must not exit 2 within 3 s (it then fails to reach
the cluster's Postgres, exit 1, or runs and is stopped: both mean the settings
parsed). Secret values still CHANGE_ME (the production overlay's placeholders) are
first checked to stop the binary with exit 2 naming the variable, as secrets.env
promises, then replaced by valid random keys. Also starts Debian's pgbouncer with
each overlay's pgbouncer.ini. Prints ok:/FAIL:; exit 1 on failure.
"""
import base64
import os
import pathlib
import secrets
import subprocess
import sys

import yaml

failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    failures += 0 if cond else 1


def env_of(container, docs):
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(by[("ConfigMap", src["configMapRef"]["name"])].get("data", {}))
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            data = by.get(("Secret", ref["name"]), {}).get("data", {})
            if ref["key"] in data:
                env[e["name"]] = base64.b64decode("".join(data[ref["key"]].split())).decode()
    return env


def run(binary, env, seconds=3):
    full = {"PATH": os.environ["PATH"], **env,
            "ADMIT_GRPC_LISTEN": "127.0.0.1:0", "ADMIT_METRICS_LISTEN": "127.0.0.1:0",
            "ADMIT_GATEWAY_LISTEN": "127.0.0.1:0", "ADMIT_PG_CONNECT_TIMEOUT": "1s",
            # A sanitizer build must keep the exit status (LeakSanitizer would turn 2 into 23).
            "ASAN_OPTIONS": "detect_leaks=0"}
    proc = subprocess.Popen([binary], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return None, ""
    return proc.returncode, proc.stderr.read()


def check_pgbouncer(name, docs):
    """Debian's pgbouncer starts with the overlay's pgbouncer.ini (only the listen
    port, the user list path and the log destination changed): it reads and checks
    its whole configuration at start-up and exits at once on a bad one."""
    import re
    import socket
    import tempfile
    for cm in docs:
        if cm["kind"] != "ConfigMap" or not cm["metadata"]["name"].startswith("admit-pgbouncer"):
            continue
        work = pathlib.Path(tempfile.mkdtemp(prefix="admit-pgbouncer-check-"))
        work.chmod(0o755)  # pgbouncer refuses root: it runs as the postgres user
        (work / "userlist.txt").write_text('"admit" "x"\n')
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ini = cm["data"]["pgbouncer.ini"]
        ini = re.sub(r"(?m)^listen_port = .*$", f"listen_port = {port}", ini)
        ini = re.sub(r"(?m)^listen_addr = .*$", "listen_addr = 127.0.0.1", ini)
        ini = re.sub(r"(?m)^auth_file = .*$", f"auth_file = {work / 'userlist.txt'}", ini)
        (work / "pgbouncer.ini").write_text(ini)
        proc = subprocess.Popen(["runuser", "-u", "postgres", "--", "pgbouncer", str(work / "pgbouncer.ini")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            proc.wait(timeout=2)
            check(False, f"{name}: pgbouncer starts with {cm['metadata']['name']}'s pgbouncer.ini: "
                         f"exit {proc.returncode}: {proc.stdout.read()[-400:]}")
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
            check(True, f"{name}: pgbouncer starts with {cm['metadata']['name']}'s pgbouncer.ini")


# Settings a manifest may set before the binary reading them is built or wired.
PENDING_SETTINGS = {"ADMIT_REDIS_URL": "read once the rate limiter is wired into a service"}


SERVICES = ("quota", "registration", "confirmation", "gateway")
MISSING = []


def known_settings(build):
    """{binary: set of ADMIT_* variables its --help lists}, for the built binaries."""
    import re
    known = {}
    MISSING[:] = [f"admit-{s}" for s in SERVICES if not (build / "services" / s / f"admit-{s}").exists()]
    for binary in sorted(build.glob("services/*/admit-*")):
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout
        known[binary.name] = set(re.findall(r"\bADMIT_[A-Z0-9_]+", out))
    return known


def check_names(where, names, known, own=None):
    """Every ADMIT_* name is read by some admit binary (a misspelt one would be ignored)."""
    every = set().union(*known.values()) if known else set()
    for n in sorted(names):
        if not n.startswith("ADMIT_"):
            continue
        if (n in known.get(own, set())) if own is not None else (n in every):
            check(True, f"{where}: {n} is a setting of {own or 'an admit binary'}")
        elif n in PENDING_SETTINGS:
            print(f"PENDING: {where}: {n} ({PENDING_SETTINGS[n]}; no built binary reads it yet)")
        elif MISSING:
            print(f"PENDING: {where}: {n} is read by no built binary; not built: {', '.join(MISSING)}")
        else:
            check(False, f"{where}: {n} is read by no admit binary (misspelt?)")


def main():
    build = pathlib.Path(sys.argv[1])
    known = known_settings(build)
    repo = pathlib.Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((repo / "deploy/compose.yaml").read_text())
    for svc, spec in compose["services"].items():
        if str(spec.get("image", "")).startswith("admit"):
            check_names(f"compose {svc}", spec.get("environment", {}), known)
    for arg in sys.argv[2:]:
        name, path = arg.split("=", 1)
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        check_pgbouncer(name, docs)
        for cm in docs:
            if cm["kind"] == "ConfigMap" and cm["metadata"]["name"].startswith("admit-config"):
                check_names(f"{name}: ConfigMap/{cm['metadata']['name']}", cm["data"], known)
        for w in docs:
            if w["kind"] not in ("Deployment", "Job"):
                continue
            for c in w["spec"]["template"]["spec"]["containers"]:
                cmd = (c.get("command") or [""])[0]
                if not cmd.startswith("admit-"):
                    continue
                svcs = ["quota", "registration", "confirmation"] if cmd == "admit-migrate" else [cmd[len("admit-"):]]
                for svc in svcs:
                    binary = build / "services" / svc / f"admit-{svc}"
                    what = f"{name}: {w['kind']}/{w['metadata']['name']} settings parse in admit-{svc}"
                    if not binary.exists():
                        print(f"PENDING: {what} ({binary} not built)")
                        continue
                    env = env_of(c, docs)
                    check_names(f"{name}: {w['kind']}/{w['metadata']['name']}",
                                [e["name"] for e in c.get("env", [])], known,
                                own=None if cmd == "admit-migrate" else f"admit-{svc}")
                    help_text = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout
                    placeholders = [k for k, v in env.items() if "CHANGE_ME" in v and k.endswith("_KEY") and k in help_text]
                    if placeholders:
                        rc, err = run(str(binary), env)
                        check(rc == 2 and any(k in err for k in placeholders),
                              f"{name}: {w['metadata']['name']} admit-{svc} refuses placeholder keys (exit {rc}: {err.strip()[:160]})")
                        for k in placeholders:
                            env[k] = base64.b64encode(secrets.token_bytes(32)).decode()
                    rc, err = run(str(binary), env)
                    check(rc != 2, what + ("" if rc != 2 else f": {err.strip()[:300]}"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
