"""admit-gateway in front of an admit_stack.Stack, for the HTTP and browser tests."""

import http.client
import json
import signal
import subprocess

from admit_stack import free_port, wait_until


def request(port, method, path, body=None, headers=None, raw_body=None):
    """One HTTP request; returns (status, headers as a lower-cased dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


class Gateway:
    """admit-gateway on free ports (or `port`), talking to the stack's services."""

    def __init__(self, stack, extra_env=None, port=None):
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        binary = stack.build / "services" / "gateway" / "admit-gateway"
        env = dict(stack.env,
                   ADMIT_GATEWAY_LISTEN=f"127.0.0.1:{self.port}",
                   ADMIT_METRICS_LISTEN=f"127.0.0.1:{self.metrics_port}",
                   ADMIT_REGISTRATION_ADDR=stack.grpc["registration"],
                   ADMIT_CONFIRMATION_ADDR=stack.grpc["confirmation"])
        env.update(extra_env or {})
        self.log_path = stack.log_dir / "gateway.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(binary)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_until(self._healthy, 30, "admit-gateway /healthz")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("admit-gateway exited:\n" + self.log_path.read_text())
        try:
            return request(self.port, "GET", "/healthz")[0] == 200
        except OSError:
            return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
