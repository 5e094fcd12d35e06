#!/usr/bin/python3
"""The HTTP/JSON gateway end to end, on real binaries, Postgres and the SMTP sink.

quota + registration + confirmation on a scratch database (admit_stack.Stack)
and admit-gateway in front of them; every request here is plain HTTP as a
browser or curl sends it (http.client from the standard library), and every
assertion is on what such a client sees: status, headers, the JSON body.

Covers every google.api.http route (organizer routes whose RPC the registration
service does not implement yet answer 501 and are reported as skipped), the
gRPC -> HTTP error mapping with google.rpc.Status bodies, Retry-After on 429,
CORS preflight, the body size limit (413), a slow client (read timeout),
/healthz, /metrics (route templates as labels; promtool) and the pages.

Run by ctest through tests/run.sh (see admit_stack.py for the environment).
"""

import http.client
import json
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import admit_stack  # noqa: E402
from admit_stack import Mailbox, wait_until  # noqa: E402
from gateway_stack import Gateway, request as _request  # noqa: E402

STACK = None
GATEWAY = None
TOKEN_RE = re.compile(r"#token=([A-Za-z0-9_-]{22})\b")
ALLOWED_ORIGIN = "http://pages.example.org"
MAX_BODY = 8192


def request(method, path, body=None, headers=None, port=None, raw_body=None):
    """One HTTP request to the gateway: (status, lower-cased headers, body bytes)."""
    return _request(port or GATEWAY.port, method, path, body, headers, raw_body)


def api(method, path, body=None, headers=None, expect=200):
    status, hdrs, data = request(method, path, body, headers)
    parsed = json.loads(data) if data and hdrs.get("content-type", "").startswith(
        "application/json") else data
    if expect is not None and status != expect:
        raise AssertionError(f"{method} {path}: expected {expect}, got {status}: {data[:500]!r}")
    return status, hdrs, parsed


def admin():
    return {"Authorization": "Bearer " + STACK.admin_key}


def detail(body, type_suffix):
    return next((d for d in body.get("details", []) if d["@type"].endswith(type_suffix)), None)


def create_event(capacity=10, hold_ttl="600s"):
    event_id = f"gw-{uuid.uuid4().hex[:10]}"
    event = {"id": event_id, "name": "Forum für Ärzte 2027", "timeZone": "Europe/Zurich",
             "capacity": capacity, "startsAt": "2027-05-04T07:00:00Z",
             "endsAt": "2027-05-06T16:00:00Z", "holdTtl": hold_ttl,
             "ticketTypes": [{"id": "delegate", "name": "Delegate"},
                             {"id": "observer", "name": "Observer"}]}
    _, _, body = api("POST", "/v1/organizer/events", event, admin())
    return event_id, body


def new_address():
    return f"gw-{uuid.uuid4().hex[:12]}@example.org"


def register(event_id, address=None, expect=200, **overrides):
    payload = {"requestId": str(uuid.uuid4()), "ticketTypeId": "delegate",
               "attendee": {"email": address or new_address(), "fullName": "Zoë Ünal",
                            "countryCode": "CH"}}
    payload.update(overrides)
    return api("POST", f"/v1/events/{event_id}/registrations", payload, expect=expect)[2]


def skip_if_unimplemented(status, body, what):
    if status == 501:
        raise unittest.SkipTest(f"{what}: the registration service does not implement it yet "
                                f"(501: {body})")


def setUpModule():
    global STACK, GATEWAY
    STACK = admit_stack.Stack(extra_env={"ADMIT_CONFIRMATION_RESENDS_PER_HOUR": "1"})
    try:
        GATEWAY = Gateway(STACK, {"ADMIT_GATEWAY_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
                                  "ADMIT_GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
                                  "ADMIT_GATEWAY_READ_TIMEOUT": "1s",
                                  "ADMIT_GATEWAY_TIMEOUT": "5s",
                                  "ADMIT_GATEWAY_SSE_HEARTBEAT": "1s"})
    except BaseException:
        STACK.close()
        raise


def tearDownModule():
    if GATEWAY is not None:
        GATEWAY.close()
    if STACK is not None:
        STACK.close()


class PublicApi(unittest.TestCase):
    def test_register_read_confirm_cancel(self):
        event_id, created = create_event()
        self.assertEqual(created["event"]["id"], event_id)
        _, _, got = api("GET", f"/v1/organizer/events/{event_id}", headers=admin())
        self.assertEqual(got["event"]["name"], "Forum für Ärzte 2027")

        _, _, availability = api("GET", f"/v1/events/{event_id}/availability")
        self.assertEqual(availability["eventId"], event_id)

        address = new_address()
        registered = register(event_id, address)
        reg = registered["registration"]
        self.assertEqual(reg["status"], "REGISTRATION_STATUS_PENDING_CONFIRMATION")
        self.assertEqual(reg["eventId"], event_id)  # from the path
        token = registered["manageToken"]

        # Manage token: header only.
        _, _, read = api("GET", f"/v1/registrations/{reg['id']}", headers={"X-Manage-Token": token})
        self.assertEqual(read["id"], reg["id"])
        _, _, body = api("GET", f"/v1/registrations/{reg['id']}?manage_token={token}", expect=400)
        self.assertEqual(body["code"], 3)
        _, _, body = api("GET", f"/v1/registrations/{reg['id']}",
                         headers={"X-Manage-Token": "A" * 22}, expect=404)
        self.assertEqual(body["code"], 5)

        # The email's link goes to the gateway's confirmation page.
        message = Mailbox(address).wait_for(1, what="confirmation email")[0]
        text = message.get_body(preferencelist=("plain",)).get_content()
        link_token = TOKEN_RE.search(text).group(1)
        _, _, confirmed = api("POST", "/v1/confirmations", {"token": link_token})
        self.assertEqual(confirmed["status"], "REGISTRATION_STATUS_CONFIRMED")
        self.assertTrue(confirmed["ticketCode"])

        _, _, cancelled = api("DELETE", f"/v1/registrations/{reg['id']}",
                              headers={"X-Manage-Token": token})
        self.assertEqual(cancelled["status"], "REGISTRATION_STATUS_CANCELLED")
        # FAILED_PRECONDITION -> 412: resending for a cancelled registration.
        _, _, body = api("POST", f"/v1/registrations/{reg['id']}:resendConfirmation", {},
                         headers={"X-Manage-Token": token}, expect=412)
        self.assertEqual(body["code"], 9)
        self.assertIsNotNone(detail(body, "google.rpc.ErrorInfo"))

    def test_errors_carry_google_rpc_status(self):
        event_id, _ = create_event()
        # INVALID_ARGUMENT -> 400 with every field violation.
        _, _, body = api("POST", f"/v1/events/{event_id}/registrations",
                         {"requestId": "r", "ticketTypeId": "delegate",
                          "attendee": {"email": "not-an-email", "fullName": "",
                                       "countryCode": "ZZ"}}, expect=400)
        self.assertEqual(body["code"], 3)
        violations = {v["field"] for v in detail(body, "google.rpc.BadRequest")["fieldViolations"]}
        self.assertTrue({"attendee.email", "attendee.full_name",
                         "attendee.country_code"} <= violations, violations)
        # NOT_FOUND -> 404 with ErrorInfo.
        _, _, body = api("GET", "/v1/events/no-such-event/availability", expect=404)
        self.assertEqual(detail(body, "google.rpc.ErrorInfo")["reason"], "EVENT_NOT_FOUND")
        # ALREADY_EXISTS -> 409.
        address = new_address()
        register(event_id, address)
        _, _, body = api("POST", f"/v1/events/{event_id}/registrations",
                         {"requestId": str(uuid.uuid4()), "ticketTypeId": "delegate",
                          "attendee": {"email": address, "fullName": "Ann",
                                       "countryCode": "CH"}}, expect=409)
        self.assertEqual(detail(body, "google.rpc.ErrorInfo")["reason"],
                         "EMAIL_ALREADY_REGISTERED")
        # UNAUTHENTICATED -> 401, PERMISSION_DENIED -> 403 is the key's scope.
        _, _, body = api("GET", f"/v1/organizer/events/{event_id}", expect=401)
        self.assertEqual(body["code"], 16)
        api("GET", f"/v1/organizer/events/{event_id}",
            headers={"Authorization": "Bearer admit_nope_AAAAAAAAAAAAAAAAAAAAAA"}, expect=401)
        # Errors the gateway raises itself are google.rpc.Status too.
        _, _, body = api("GET", "/v1/nowhere", expect=404)
        self.assertEqual(body["code"], 5)
        _, hdrs, body = api("PUT", "/v1/registrations/x", expect=405)
        self.assertEqual(set(hdrs["allow"].split(", ")), {"GET", "DELETE"})
        status, _, data = request("POST", f"/v1/events/{event_id}/registrations",
                                  raw_body=b"{\"requestId\":",
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(data)["code"], 3)
        status, _, _ = request("POST", f"/v1/events/{event_id}/registrations",
                               raw_body=b"{}", headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 415)

    def test_waitlist_position(self):
        event_id, _ = create_event(capacity=1)
        register(event_id)
        waitlisted = register(event_id)["registration"]
        self.assertEqual(waitlisted["status"], "REGISTRATION_STATUS_WAITLISTED")
        self.assertEqual(waitlisted["waitlistPosition"], 1)

    def test_retry_after_on_429(self):
        event_id, _ = create_event()
        registered = register(event_id)
        rid, token = registered["registration"]["id"], registered["manageToken"]
        path = f"/v1/registrations/{rid}:resendConfirmation"
        _, _, first = api("POST", path, headers={"X-Manage-Token": token}, expect=200)
        self.assertEqual(first["registration"]["id"], rid)
        _, hdrs, body = api("POST", path, headers={"X-Manage-Token": token}, expect=429)
        self.assertEqual(body["code"], 8)
        retry = detail(body, "google.rpc.RetryInfo")
        self.assertIsNotNone(retry, body)
        seconds = float(retry["retryDelay"].rstrip("s"))
        self.assertEqual(int(hdrs["retry-after"]), max(1, -(-int(seconds * 1000) // 1000)))


class OrganizerApi(unittest.TestCase):
    def test_update_event_and_allotment(self):
        event_id, _ = create_event()
        status, _, body = api("PATCH", f"/v1/organizer/events/{event_id}?updateMask=name",
                              {"name": "Renamed"}, admin(), expect=None)
        skip_if_unimplemented(status, body, "UpdateEvent")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["event"]["name"], "Renamed")
        status, _, body = api("PUT", f"/v1/organizer/events/{event_id}/allotments",
                              {"organization": "ITU", "seats": 3}, admin(), expect=None)
        skip_if_unimplemented(status, body, "SetAllotment")
        self.assertEqual(status, 200, body)

    def test_counts_list_export(self):
        event_id, _ = create_event()
        register(event_id)
        status, _, body = api("GET", f"/v1/organizer/events/{event_id}/counts", headers=admin(),
                              expect=None)
        skip_if_unimplemented(status, body, "GetRegistrationCounts")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["total"]["total"], 1)
        status, _, body = api("GET", f"/v1/organizer/events/{event_id}/registrations?pageSize=10",
                              headers=admin(), expect=None)
        skip_if_unimplemented(status, body, "ListRegistrations")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["registrations"]), 1)
        status, hdrs, data = request("GET",
                                     f"/v1/organizer/events/{event_id}/registrations:export",
                                     headers=admin())
        if status == 501:
            raise unittest.SkipTest("ExportRegistrations not implemented yet")
        self.assertEqual(status, 200, data)
        self.assertTrue(hdrs["content-type"].startswith("text/csv"))
        self.assertIn("attachment", hdrs["content-disposition"])
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")
        lines = data.decode().split("\r\n")
        self.assertTrue(lines[0].startswith("registration_id,"), lines[0])
        self.assertEqual(len([line for line in lines[1:] if line]), 1)

    def test_watch_counts_as_server_sent_events(self):
        event_id, _ = create_event()
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.port, timeout=30)
        try:
            conn.request("GET", f"/v1/organizer/events/{event_id}/counts:watch?minInterval=0.5s",
                         headers=admin())
            response = conn.getresponse()
            if response.status == 501:
                raise unittest.SkipTest("WatchRegistrationCounts not implemented yet: "
                                        + response.read().decode())
            if response.status != 200:  # the body only then: a stream never ends
                self.fail(f"status {response.status}: {response.read()[:300]!r}")
            self.assertEqual(response.getheader("Content-Type"), "text/event-stream")

            deadline = time.monotonic() + 30

            def next_counts():
                while True:
                    # Heartbeat comments keep the socket busy: a deadline of
                    # our own, so a silent stream fails instead of hanging.
                    self.assertLess(time.monotonic(), deadline, "no counts message in time")
                    line = response.fp.readline()
                    if not line:
                        raise AssertionError("stream ended")
                    if line.startswith(b"data: "):
                        return json.loads(line[6:])

            first = next_counts()
            self.assertEqual(first["eventId"], event_id)
            before = first.get("total", {}).get("total", 0)
            register(event_id)
            while True:
                counts = next_counts()
                if counts.get("total", {}).get("total", 0) == before + 1:
                    break
                self.assertLess(time.monotonic(), deadline, "counts did not move")
        finally:
            conn.close()

    def test_watch_without_key_is_401_before_the_stream(self):
        event_id, _ = create_event()
        status, hdrs, body = api("GET", f"/v1/organizer/events/{event_id}/counts:watch",
                                 expect=None)
        skip_if_unimplemented(status, body, "WatchRegistrationCounts")
        self.assertEqual(status, 401, body)
        self.assertEqual(body["code"], 16)

    def test_check_in_and_erase(self):
        event_id, _ = create_event()
        registered = register(event_id)
        status, _, body = api("POST", f"/v1/organizer/events/{event_id}/check-ins",
                              {"ticketCode": "NOPE-NOPE"}, admin(), expect=None)
        skip_if_unimplemented(status, body, "CheckIn")
        self.assertIn(status, (400, 404), body)
        rid = registered["registration"]["id"]
        status, _, body = api("POST", f"/v1/organizer/registrations/{rid}:erase",
                              {"cancel": True}, admin(), expect=None)
        skip_if_unimplemented(status, body, "EraseAttendeeData")
        self.assertEqual(status, 200, body)
        self.assertTrue(body["registration"]["erasedAt"])


class Http(unittest.TestCase):
    def test_cors_preflight_and_simple_request(self):
        status, hdrs, _ = request("OPTIONS", "/v1/registrations/abc", headers={
            "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "x-manage-token"})
        self.assertEqual(status, 204)
        self.assertEqual(hdrs["access-control-allow-origin"], ALLOWED_ORIGIN)
        self.assertIn("DELETE", hdrs["access-control-allow-methods"])
        allowed = hdrs["access-control-allow-headers"].lower()
        for header in ("authorization", "x-manage-token", "content-type"):
            self.assertIn(header, allowed)
        status, hdrs, _ = request("OPTIONS", "/v1/registrations/abc", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"})
        self.assertEqual(status, 403)
        self.assertNotIn("access-control-allow-origin", hdrs)
        status, hdrs, _ = request("GET", "/v1/events/no-such/availability",
                                  headers={"Origin": ALLOWED_ORIGIN})
        self.assertEqual(status, 404)
        self.assertEqual(hdrs["access-control-allow-origin"], ALLOWED_ORIGIN)
        self.assertIn("retry-after", hdrs["access-control-expose-headers"])

    def test_oversize_body_is_413(self):
        status, _, data = request("POST", "/v1/confirmations",
                                  raw_body=b"{\"token\":\"" + b"a" * (MAX_BODY + 10) + b"\"}",
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(data)["code"], 3)

    def test_slow_client_is_disconnected(self):
        with socket.create_connection(("127.0.0.1", GATEWAY.port), timeout=15) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never end
            start = time.monotonic()
            data = b""
            while True:
                chunk = s.recv(4096)  # the socket's 15 s timeout is the deadline
                if not chunk:
                    break
                data += chunk
            self.assertLess(time.monotonic() - start, 15)
            # Either closed without an answer or with an error status; never a 200.
            self.assertNotIn(b" 200 ", data.split(b"\r\n", 1)[0])
        # A client that stops sending its body is cut off too.
        with socket.create_connection(("127.0.0.1", GATEWAY.port), timeout=15) as s:
            s.sendall(b"POST /v1/confirmations HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"tok")
            while s.recv(4096):
                pass

    def test_health_metrics_and_pages(self):
        status, _, body = request("GET", "/healthz")
        self.assertEqual(status, 200)
        api("GET", "/v1/events/no-such/availability", expect=404)
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.metrics_port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        self.assertRegex(text, r'http_requests_total\{[^}]*code="404"[^}]*'
                               r'route="/v1/events/\{event_id\}/availability"')
        self.assertNotIn("no-such", text)  # concrete paths never become labels
        self.assertIn("http_request_duration_seconds_bucket", text)
        self.assertIn("http_requests_in_flight", text)
        check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                               capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        for page in ("/", "/confirm", "/organizer"):
            status, hdrs, body = request("GET", page)
            self.assertEqual(status, 200, page)
            self.assertTrue(hdrs["content-type"].startswith("text/html"), page)
            self.assertNotIn(b"https://", body.split(b"<body", 1)[0], page)  # no CDN
        status, _, _ = request("GET", "/../CMakeLists.txt")
        self.assertEqual(status, 404)


class ZzUnavailable(unittest.TestCase):
    """Last (unittest sorts classes by name): stops the confirmation service."""

    def test_backend_down_is_503(self):
        proc = STACK.procs["confirmation"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        status, _, data = request("POST", "/v1/confirmations", {"token": "A" * 22})
        self.assertEqual(status, 503, data)
        self.assertEqual(json.loads(data)["code"], 14)


if __name__ == "__main__":
    unittest.main(verbosity=2)
