#!/usr/bin/python3
"""The gateway's server-stream path (SSE and the chunked CSV download), against
a scripted OrganizerService.

The registration service's streaming RPCs may not exist yet, and their real
behaviour is tested with them; here a small Python gRPC server plays the
service (python3-grpcio, the messages compiled from proto/ like admit_stack
does) so that what the gateway itself does with a stream is pinned down:
one `data:` event per message, the end of the stream, an error before the
first message as an HTTP error, an error after it as an `event: error` (SSE)
or a cut body (CSV), a client that goes away cancelling the call, and the
metadata the service receives (authorization, x-forwarded-for).

Needs only the gateway binary (ADMIT_BUILD_DIR) and /usr/bin/python3.
"""

import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent import futures

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import admit_stack  # noqa: E402
from admit_stack import free_port, wait_until  # noqa: E402
from gateway_stack import request  # noqa: E402

GATEWAY = None
SERVER = None
SEEN = {"metadata": [], "cancelled": threading.Event()}


def counts(event_id, total):
    from admit.v1 import organizer_pb2
    c = organizer_pb2.RegistrationCounts(event_id=event_id, capacity=10)
    c.total.total = total
    return c


def watch(request_message, context):
    """Scripted by event id: ok-3, fail-after-1, unauthenticated, forever."""
    from admit.v1 import organizer_pb2  # noqa: F401
    SEEN["metadata"].append(dict(context.invocation_metadata()))
    event = request_message.event_id
    if event == "unauthenticated":
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no key")
    if event == "forever":
        context.add_callback(SEEN["cancelled"].set)
        n = 0
        while context.is_active():
            n += 1
            yield counts(event, n)
            time.sleep(0.05)
        return
    for n in range(3):
        yield counts(event, n)
        if event == "fail-after-1":
            context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        time.sleep(0.05)


def export(request_message, context):
    from admit.v1 import organizer_pb2
    yield organizer_pb2.ExportChunk(csv=b"registration_id,status\r\n", rows=0)
    yield organizer_pb2.ExportChunk(csv=b"r1,CONFIRMED\r\n", rows=1)
    if request_message.event_id == "fail-after-2":
        context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
    yield organizer_pb2.ExportChunk(csv=b"r2,PENDING_CONFIRMATION\r\n", rows=1)


def setUpModule():
    global GATEWAY, SERVER
    admit_stack.load_protos()
    from admit.v1 import organizer_pb2
    handler = grpc.method_handlers_generic_handler("admit.v1.OrganizerService", {
        "WatchRegistrationCounts": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=organizer_pb2.WatchRegistrationCountsRequest.FromString,
            response_serializer=lambda m: m.SerializeToString()),
        "ExportRegistrations": grpc.unary_stream_rpc_method_handler(
            export, request_deserializer=organizer_pb2.ExportRegistrationsRequest.FromString,
            response_serializer=lambda m: m.SerializeToString()),
    })
    SERVER = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    SERVER.add_generic_rpc_handlers((handler,))
    backend = f"127.0.0.1:{free_port()}"
    SERVER.add_insecure_port(backend)
    SERVER.start()
    port = free_port()
    build = pathlib.Path(admit_stack.require_env("ADMIT_BUILD_DIR"))
    log_path = pathlib.Path(tempfile.mkdtemp(prefix="admit-gw-stream-")) / "gateway.log"
    env = dict(os.environ, ADMIT_GATEWAY_LISTEN=f"127.0.0.1:{port}", ADMIT_METRICS_LISTEN="",
               ADMIT_REGISTRATION_ADDR=backend, ADMIT_CONFIRMATION_ADDR=backend,
               ADMIT_GATEWAY_SSE_HEARTBEAT="1s")
    with open(log_path, "wb") as log:
        GATEWAY = subprocess.Popen([str(build / "services/gateway/admit-gateway")], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    print(f"gateway log: {log_path}", file=sys.stderr)
    GATEWAY.port = port

    def healthy():
        try:
            return request(port, "GET", "/healthz")[0] == 200
        except OSError:
            return False
    wait_until(healthy, 30, "admit-gateway /healthz")


def tearDownModule():
    if GATEWAY is not None:
        GATEWAY.send_signal(signal.SIGTERM)
        GATEWAY.wait(timeout=20)
    if SERVER is not None:
        SERVER.stop(0)


def open_stream(path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", GATEWAY.port, timeout=20)
    conn.request("GET", path, headers=headers or {})
    return conn, conn.getresponse()


def sse_events(response):
    """(event, data) pairs until the body ends."""
    events, event, data = [], "message", None
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data is not None:
            events.append((event, json.loads(data)))
            event, data = "message", None
    return events


class Stream(unittest.TestCase):
    def test_sse_one_event_per_message_then_the_end(self):
        conn, response = open_stream("/v1/organizer/events/ok-3/counts:watch",
                                     {"Authorization": "Bearer k1", "X-Forwarded-For": "203.0.113.9"})
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Content-Type"), "text/event-stream")
        events = sse_events(response)
        conn.close()
        self.assertEqual([e for e, _ in events], ["message"] * 3)
        self.assertEqual([d.get("total", {}).get("total", 0) for _, d in events], [0, 1, 2])
        self.assertEqual(events[0][1]["eventId"], "ok-3")
        metadata = SEEN["metadata"][-1]
        self.assertEqual(metadata["authorization"], "Bearer k1")
        self.assertEqual(metadata["x-forwarded-for"], "203.0.113.9, 127.0.0.1")

    def test_error_before_the_first_message_is_an_http_error(self):
        conn, response = open_stream("/v1/organizer/events/unauthenticated/counts:watch")
        body = json.loads(response.read())
        conn.close()
        self.assertEqual(response.status, 401)
        self.assertEqual(body["code"], 16)

    def test_error_after_a_message_is_an_error_event(self):
        conn, response = open_stream("/v1/organizer/events/fail-after-1/counts:watch")
        self.assertEqual(response.status, 200)
        events = sse_events(response)
        conn.close()
        self.assertEqual(events[0][0], "message")
        self.assertEqual(events[-1][0], "error")
        self.assertEqual(events[-1][1]["code"], 14)

    def test_a_client_that_leaves_cancels_the_call(self):
        SEEN["cancelled"].clear()
        conn, response = open_stream("/v1/organizer/events/forever/counts:watch")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.readline().startswith(b"data: "))
        conn.close()
        response.close()
        self.assertTrue(SEEN["cancelled"].wait(30), "the gateway did not cancel the stream")

    def test_sse_is_not_held_back_by_compression(self):
        # Browsers send Accept-Encoding: gzip; a compressor that buffers would
        # hold the events back (this read would then time out).
        SEEN["cancelled"].clear()
        conn, response = open_stream("/v1/organizer/events/forever/counts:watch",
                                     {"Accept-Encoding": "gzip, deflate, br"})
        self.assertEqual(response.status, 200)
        self.assertIsNone(response.getheader("Content-Encoding"))
        self.assertTrue(response.readline().startswith(b"data: "))
        conn.close()
        response.close()
        self.assertTrue(SEEN["cancelled"].wait(30))

    def test_export_is_a_chunked_csv_download(self):
        conn, response = open_stream("/v1/organizer/events/pp-2026/registrations:export")
        body = response.read()
        conn.close()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Content-Type"), "text/csv; charset=utf-8")
        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
        self.assertIn('filename="pp-2026-export-registrations.csv"',
                      response.getheader("Content-Disposition"))
        self.assertEqual(body, b"registration_id,status\r\nr1,CONFIRMED\r\nr2,PENDING_CONFIRMATION\r\n")

    def test_export_error_cuts_the_body(self):
        conn, response = open_stream("/v1/organizer/events/fail-after-2/registrations:export")
        self.assertEqual(response.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            response.read()
        conn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
