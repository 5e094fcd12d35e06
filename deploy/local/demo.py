#!/usr/bin/python3
"""Creates an event and registers an attendee on a running admit (the README's example).

    deploy/local/demo.py [--endpoints FILE] [--event-id ID] [--email ADDRESS]

Reads the addresses and the bootstrap admin key from the run command's
endpoints file (default: .run/stack/endpoints.env of this checkout), then,
over gRPC:
  1. OrganizerService.CreateEvent  (authorization: Bearer <admin key>)
     an event with capacity 2 and two ticket types;
  2. RegistrationService.Register  an attendee, twice with the same request_id
     (the second answer is the first one again: idempotency);
  3. RegistrationService.GetRegistration with the manage token;
  4. RegistrationService.GetAvailability;
  5. (with the confirmation service running) waits for the confirmation email
     in the SMTP sink's Maildir (ADMIT_MAILDIR/new), takes the token from its
     link and calls ConfirmationService.ConfirmRegistration, then waits for
     the ticket email;
printing each request and answer as JSON (protobuf's JSON mapping, the
format the HTTP gateway speaks). Exits 1 with the gRPC error on a failure.

Python classes come from the repository's .proto files, compiled on the fly
with Debian's protoc into a temporary directory, so nothing is installed.
Needs /usr/bin/python3 with python3-grpcio and python3-protobuf.
"""

import argparse
import email
import email.policy
import os
import pathlib
import shlex
import subprocess
import sys
import re
import tempfile
import time
import uuid

import grpc

REPO = pathlib.Path(__file__).resolve().parents[2]
GOOGLEAPIS = pathlib.Path("/usr/share/gocode/src/github.com/gogo/googleapis")


def compile_protos(out_dir):
    """protoc --python_out for admit/v1 and the google/api, google/rpc files they use."""
    google = [GOOGLEAPIS / "google" / p for p in
              ("api/annotations.proto", "api/http.proto", "rpc/status.proto",
               "rpc/error_details.proto")]
    admit = sorted((REPO / "proto" / "admit" / "v1").glob("*.proto"))
    subprocess.run(
        ["protoc", f"-I{REPO / 'proto'}", f"-I{GOOGLEAPIS}", f"--python_out={out_dir}",
         *map(str, admit), *map(str, google)],
        check=True)
    sys.path.insert(0, out_dir)


def read_env_file(path):
    """The `export NAME=VALUE` lines run.sh writes (VALUE quoted for bash)."""
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        name, _, value = line[len("export "):].partition("=")
        words = shlex.split(value) if value else [""]
        values[name] = words[0] if words else ""
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", default=str(REPO / ".run" / "stack" / "endpoints.env"),
                        help="the run command's endpoints file")
    parser.add_argument("--event-id", default=f"demo-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--email", default="ann.lee@example.org")
    args = parser.parse_args()

    if not os.path.exists(args.endpoints):
        sys.exit(f"{args.endpoints} not found: start admit with deploy/local/run.sh first")
    env = read_env_file(args.endpoints)
    for name in ("ADMIT_REGISTRATION_GRPC", "ADMIT_BOOTSTRAP_ADMIN_KEY"):
        if not env.get(name):
            sys.exit(f"{args.endpoints} has no {name}: is the registration service running?")

    with tempfile.TemporaryDirectory(prefix="admit-demo-") as out_dir:
        compile_protos(out_dir)
        run_demo(env, args)


def run_demo(env, args):
    # Imported here: the modules exist only once compile_protos has run.
    from google.protobuf import json_format
    from admit.v1 import common_pb2, organizer_pb2, registration_pb2

    registration_channel = grpc.insecure_channel(env["ADMIT_REGISTRATION_GRPC"])
    confirmation_channel = (grpc.insecure_channel(env["ADMIT_CONFIRMATION_GRPC"])
                            if env.get("ADMIT_CONFIRMATION_GRPC") else None)
    admin = [("authorization", "Bearer " + env["ADMIT_BOOTSTRAP_ADMIN_KEY"])]

    def call(service, method, request, response_type, metadata=None):
        print(f"\n>>> {service}.{method}")
        print(json_format.MessageToJson(request))
        channel = (confirmation_channel if service == "ConfirmationService"
                   else registration_channel)
        stub = channel.unary_unary(
            f"/admit.v1.{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString)
        try:
            response = stub(request, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            sys.exit(f"<<< {error.code().name}: {error.details()}")
        print("<<< OK")
        print(json_format.MessageToJson(response))
        return response

    event = common_pb2.Event(
        id=args.event_id, name="PP-26 demo", time_zone="Europe/Zurich", capacity=2,
        ticket_types=[common_pb2.TicketType(id="delegate", name="Delegate"),
                      common_pb2.TicketType(id="observer", name="Observer", capacity=1)])
    event.starts_at.FromJsonString("2027-05-04T07:00:00Z")
    event.ends_at.FromJsonString("2027-05-06T16:00:00Z")
    call("OrganizerService", "CreateEvent", organizer_pb2.CreateEventRequest(event=event),
         organizer_pb2.CreateEventResponse, admin)

    register = registration_pb2.RegisterRequest(
        request_id=str(uuid.uuid4()), event_id=args.event_id, ticket_type_id="delegate",
        attendee=common_pb2.Attendee(email=args.email, full_name="Ann Lee",
                                     organization="ITU", country_code="ch"))
    registered_at = time.time()
    first = call("RegistrationService", "Register", register, registration_pb2.RegisterResponse)
    again = call("RegistrationService", "Register", register, registration_pb2.RegisterResponse)
    if again != first:
        sys.exit("a retry with the same request_id gave a different answer")
    print("(same request_id, same answer: a retry never registers twice)")

    call("RegistrationService", "GetRegistration",
         registration_pb2.GetRegistrationRequest(registration_id=first.registration.id,
                                                 manage_token=first.manage_token),
         common_pb2.Registration)
    call("RegistrationService", "GetAvailability",
         registration_pb2.GetAvailabilityRequest(event_id=args.event_id),
         common_pb2.Availability)

    if not env.get("ADMIT_CONFIRMATION_GRPC") or not env.get("ADMIT_MAILDIR"):
        print("\n(the confirmation service is not running: no email step)")
        return
    from admit.v1 import confirmation_pb2
    maildir = pathlib.Path(env["ADMIT_MAILDIR"]) / "new"
    path, message = wait_for_mail(maildir, args.email, registered_at, seen=set())
    print(f"\n--- the confirmation email: {path}")
    print(f"Subject: {message['Subject']}")
    text = message.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"#token=([A-Za-z0-9_-]{22})", text).group(1)
    print(f"(its link carries the token {token})")
    confirmed = call("ConfirmationService", "ConfirmRegistration",
                     confirmation_pb2.ConfirmRegistrationRequest(token=token),
                     common_pb2.Registration)
    if confirmed.status != common_pb2.REGISTRATION_STATUS_CONFIRMED:
        sys.exit("ConfirmRegistration did not confirm the registration")
    ticket_path, ticket = wait_for_mail(maildir, args.email, registered_at, seen={path})
    print(f"\n--- the ticket email (code {confirmed.ticket_code} as text and QR): {ticket_path}")
    print(f"Subject: {ticket['Subject']}")


def wait_for_mail(maildir, address, since, seen, deadline_s=30):
    """The first message to `address` filed after `since` and not in `seen`: (path, message)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for path in sorted(maildir.glob("*"), key=lambda p: p.stat().st_mtime):
            if path in seen or path.stat().st_mtime < since - 1:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address.lower() in message.get("X-Original-To", "").lower():
                return path, message
        time.sleep(0.2)
    sys.exit(f"no email to {address} arrived in {maildir} within {deadline_s} s")


if __name__ == "__main__":
    main()
