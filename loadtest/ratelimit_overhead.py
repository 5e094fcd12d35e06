#!/usr/bin/env python3
"""The rate limiter's added latency on Register, next to redis-benchmark's EVALSHA.

    ADMIT_TEST_PG_URL=... ADMIT_TEST_REDIS_URL=... ADMIT_TEST_SMTP_URL=... \\
    ADMIT_TEST_MAILDIR=... ADMIT_BUILD_DIR=build/NAME \\
      python3 loadtest/ratelimit_overhead.py [CALLS] [ROUNDS]

(the variables are those of tests/run.sh, e.g. from a stack.sh stack.env). For
each of ROUNDS (default 2) rounds, starts the e2e stack (tests/e2e/admit_stack.py:
quota, registration, confirmation on a scratch database) twice, with
ADMIT_RATE_LIMIT_ENABLED=false and =true (budgets far above the run, so nothing
is refused and every call pays the check: ip, email and event, pipelined), and
times CALLS (default 2000) sequential Register calls on one channel after 200
warm-up calls. Prints p50/p90/p99 of each and the difference of the medians,
then `redis-benchmark` on the same Redis: the limiter's GCRA script with
EVALSHA (50 clients, random keys) and PING. A benchmark, not a test: nothing is
asserted. Figures depend on the build (use Release) and the machine's load.
"""
import hashlib
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import admit_stack  # noqa: E402

BUDGET = "1000000/1000000/open"


def gcra_sha_and_source():
    text = (REPO / "common" / "ratelimit" / "gcra_script.cc").read_text()
    source = re.search(r'R"lua\((.*?)\)lua"', text, re.S).group(1)
    return hashlib.sha1(source.encode()).hexdigest(), source


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def run(enabled, calls):
    stack = admit_stack.Stack({
        "ADMIT_RATE_LIMIT_ENABLED": "true" if enabled else "false",
        "ADMIT_RATE_LIMIT_IP": BUDGET, "ADMIT_RATE_LIMIT_EMAIL": BUDGET,
        "ADMIT_RATE_LIMIT_EVENT": BUDGET, "ADMIT_RATE_LIMIT_API_KEY": BUDGET,
        "ADMIT_LOG_LEVEL": "warn"})
    try:
        from admit.v1 import common_pb2, organizer_pb2, registration_pb2  # noqa
        event_id = f"rl-{uuid.uuid4().hex[:10]}"
        event = common_pb2.Event(
            id=event_id, name="Overhead", time_zone="UTC", capacity=1_000_000,
            ticket_types=[common_pb2.TicketType(id="general", name="General")])
        event.starts_at.FromJsonString("2030-05-04T07:00:00Z")
        event.ends_at.FromJsonString("2030-05-06T16:00:00Z")
        stack.stub("OrganizerService", "CreateEvent", organizer_pb2.CreateEventResponse)(
            organizer_pb2.CreateEventRequest(event=event), timeout=10,
            metadata=[("authorization", "Bearer " + stack.admin_key)])
        register = stack.stub("RegistrationService", "Register",
                              registration_pb2.RegisterResponse)
        latencies = []
        for i in range(200 + calls):
            request = registration_pb2.RegisterRequest(
                request_id=str(uuid.uuid4()), event_id=event_id, ticket_type_id="general",
                attendee=common_pb2.Attendee(email=f"o{uuid.uuid4().hex[:12]}@example.org",
                                             full_name="Bench", country_code="CH"))
            start = time.perf_counter()
            register(request, timeout=10)
            if i >= 200:
                latencies.append((time.perf_counter() - start) * 1e6)
        return latencies
    finally:
        stack.close()


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    medians = {False: [], True: []}
    for r in range(rounds):
        for enabled in (False, True):
            lat = run(enabled, calls)
            medians[enabled].append(statistics.median(lat))
            print(f"round {r + 1} limiter {'on ' if enabled else 'off'}: {calls} Register "
                  f"p50 {percentile(lat, 0.5):.0f} us, p90 {percentile(lat, 0.9):.0f} us, "
                  f"p99 {percentile(lat, 0.99):.0f} us", flush=True)
    off, on = statistics.median(medians[False]), statistics.median(medians[True])
    print(f"median of p50s: off {off:.0f} us, on {on:.0f} us: added p50 {on - off:+.0f} us")

    port = re.search(r":(\d+)", os.environ["ADMIT_TEST_REDIS_URL"].rsplit("@", 1)[-1]).group(1)
    sha, source = gcra_sha_and_source()
    subprocess.run(["redis-cli", "-p", port, "SCRIPT", "LOAD", source], check=True,
                   capture_output=True)
    for args in (["evalsha", sha, "1", "admit:rlbench:{bench:__rand_int__}", "1",
                  "1000000", "1", "take"], ["-t", "ping_mbulk"]):
        out = subprocess.run(["redis-benchmark", "-p", port, "-n", "100000", "-c", "50",
                              "-r", "10000", "-q", *args], check=True, capture_output=True,
                             text=True).stdout
        print("redis-benchmark", " ".join(args[:2]), "->", out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
