"""End-to-end test support: real admit binaries on a database of their own.

Used by the tests in tests/e2e (run by ctest under tests/run.sh, which exports
ADMIT_TEST_PG_URL, ADMIT_TEST_REDIS_URL, ADMIT_TEST_SMTP_URL, ADMIT_TEST_MAILDIR,
ADMIT_BUILD_DIR and ADMIT_REPO_ROOT). Needs /usr/bin/python3 with python3-grpcio, python3-protobuf
and the database is reached with psql.

- Stack(): creates a scratch database (services drain and sweep everything
  they can see, so they must not share the harness database with other
  tests), starts admit-quota, admit-registration and admit-confirmation on
  free ports with fresh keys, waits until each is SERVING, and stops them
  (SIGTERM) and drops the database on close().
- Mailbox: the messages the SMTP sink filed for one recipient, parsed with
  the standard library's email package; wait_for() polls with a deadline.
- wait_until(): the only way these tests wait.
"""

import base64
import email
import email.policy
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

REPO = pathlib.Path(os.environ.get("ADMIT_REPO_ROOT") or pathlib.Path(__file__).resolve().parents[2])
GOOGLEAPIS = pathlib.Path("/usr/share/gocode/src/github.com/gogo/googleapis")
_PROTO_DIR = None


def require_env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run end-to-end tests through tests/run.sh")
    return value


def load_protos():
    """Compiles admit's .proto files into a temporary directory (once) and imports them."""
    global _PROTO_DIR
    if _PROTO_DIR is None:
        _PROTO_DIR = tempfile.mkdtemp(prefix="admit-e2e-proto-")
        google = [GOOGLEAPIS / "google" / p for p in
                  ("api/annotations.proto", "api/http.proto", "rpc/status.proto",
                   "rpc/error_details.proto")]
        admit = sorted((REPO / "proto" / "admit" / "v1").glob("*.proto"))
        subprocess.run(["protoc", f"-I{REPO / 'proto'}", f"-I{GOOGLEAPIS}",
                        f"--python_out={_PROTO_DIR}", *map(str, admit), *map(str, google)],
                       check=True)
        sys.path.insert(0, _PROTO_DIR)


def wait_until(condition, deadline_s, what, poll_s=0.1):
    """Polls condition() until it returns a true value (returned) or the deadline passes (fails)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(poll_s)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_key():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def with_database(url, name):
    head, _, tail = url.partition("://")
    host, _, rest = tail.partition("/")
    query = ("?" + rest.split("?", 1)[1]) if "?" in rest else ""
    return f"{head}://{host}/{name}{query}"


class Stack:
    """quota + registration + confirmation on a scratch database."""

    SERVICES = ("quota", "registration", "confirmation")

    def __init__(self, extra_env=None):
        load_protos()
        self.admin_url = require_env("ADMIT_TEST_PG_URL")
        self.db_name = f"e2e_{uuid.uuid4().hex[:12]}"
        psql(self.admin_url, f'CREATE DATABASE "{self.db_name}"')
        self.pg_url = with_database(self.admin_url, self.db_name)
        self.build = pathlib.Path(require_env("ADMIT_BUILD_DIR"))
        self.log_dir = pathlib.Path(tempfile.mkdtemp(prefix="admit-e2e-logs-"))
        print(f"service logs in {self.log_dir}", file=sys.stderr)
        self.grpc = {name: f"127.0.0.1:{free_port()}" for name in self.SERVICES}
        self.metrics = {name: f"127.0.0.1:{free_port()}" for name in self.SERVICES}
        self.admin_key = None
        self.env = dict(os.environ)
        self.env.update({
            "ADMIT_PG_URL": self.pg_url,
            "ADMIT_SMTP_URL": require_env("ADMIT_TEST_SMTP_URL"),
            "ADMIT_REGISTRATION_TOKEN_KEY": new_key(),
            "ADMIT_CONFIRMATION_TOKEN_KEY": new_key(),
            "ADMIT_TICKET_KEY": new_key(),
            "ADMIT_QUOTA_ADDR": self.grpc["quota"],
            "ADMIT_REGISTRATION_ADDR": self.grpc["registration"],
            "ADMIT_CONFIRMATION_ADDR": self.grpc["confirmation"],
            "ADMIT_CONFIRMATION_LINK_BASE": "http://127.0.0.1:8080/confirm",
            "ADMIT_LOG_LEVEL": "info",
            # Rate limiting on (the shared test Redis), with budgets for
            # tests that make every call from 127.0.0.1 with a bootstrap key
            # (whose id is the same in every stack); the other policies keep
            # their defaults.
            "ADMIT_REDIS_URL": require_env("ADMIT_TEST_REDIS_URL"),
            "ADMIT_RATE_LIMIT_IP": "1000/5000/open",
            "ADMIT_RATE_LIMIT_API_KEY": "1000/5000/open",
        })
        self.env.update(extra_env or {})
        self.procs = {}
        try:
            self.admin_key = self._bootstrap_admin_key()
            self.env["ADMIT_BOOTSTRAP_ADMIN_KEY"] = self.admin_key
            for name in self.SERVICES:
                self.start(name)
            self.channels = {name: grpc.insecure_channel(self.grpc[name]) for name in self.SERVICES}
        except BaseException:
            self.close()
            raise

    def start(self, name):
        binary = self.build / "services" / name / f"admit-{name}"
        env = dict(self.env, ADMIT_GRPC_LISTEN=self.grpc[name],
                   ADMIT_METRICS_LISTEN=self.metrics[name])
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        health = subprocess.run(
            ["/usr/bin/python3", str(REPO / "deploy/local/grpc_health.py"), self.grpc[name],
             "--wait", "60", "--pid", str(proc.pid)], capture_output=True, text=True)
        if health.returncode != 0:
            raise AssertionError(f"admit-{name} did not become SERVING: {health.stdout.strip()}\n"
                                 + self.log(name)[-3000:])

    def log(self, name):
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _bootstrap_admin_key(self):
        """A fresh organizer admin key, as `admit-registration keys bootstrap` prints it."""
        binary = self.build / "services" / "registration" / "admit-registration"
        out = subprocess.run([str(binary), "keys", "bootstrap"], check=True, capture_output=True,
                             text=True, env=self.env).stdout.split()
        return next(word for word in out if word.startswith("admit_"))

    def stub(self, service_name, method, response_type):
        owner = {"QuotaService": "quota", "RegistrationService": "registration",
                 "OrganizerService": "registration", "ConfirmationService": "confirmation"}
        return self.channels[owner[service_name]].unary_unary(
            f"/admit.v1.{service_name}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString)

    def close(self):
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = {}
        try:
            psql(self.admin_url, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except subprocess.CalledProcessError as error:
            print(f"cannot drop {self.db_name}: {error.stderr}", file=sys.stderr)


class Mailbox:
    """Messages the SMTP sink filed in its Maildir for one recipient address."""

    def __init__(self, address):
        self.address = address.lower()
        self.new_dir = pathlib.Path(require_env("ADMIT_TEST_MAILDIR")) / "new"

    def messages(self):
        found = []
        if not self.new_dir.exists():
            return found
        for path in sorted(self.new_dir.iterdir()):
            raw = path.read_bytes()
            if self.address.encode() not in raw.lower():
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            if self.address in message.get("X-Original-To", "").lower():
                found.append(message)
        return found

    def wait_for(self, count, deadline_s=30, what="messages"):
        return wait_until(lambda: (lambda m: m if len(m) >= count else None)(self.messages()),
                          deadline_s, f"{count} {what} to {self.address}")
