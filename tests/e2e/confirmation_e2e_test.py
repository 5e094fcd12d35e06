#!/usr/bin/python3
"""Email confirmation end to end, on real binaries, Postgres and the SMTP sink.

register -> the email arrives in the sink's Maildir -> the token is taken from
its link -> ConfirmRegistration -> CONFIRMED with a ticket code -> the ticket
email arrives with a QR image that decodes (zbarimg) to that code. Then token
misuse, resend, expiry and waitlist promotion, each as an attendee sees it.

Run by ctest through tests/run.sh (see admit_stack.py for the environment).
"""

import pathlib
import re
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import admit_stack  # noqa: E402
from admit_stack import Mailbox, wait_until  # noqa: E402

STACK = None
TOKEN_RE = re.compile(r"#token=([A-Za-z0-9_-]{22})\b")


def setUpModule():
    global STACK, common_pb2, organizer_pb2, registration_pb2, confirmation_pb2, duration_pb2
    STACK = admit_stack.Stack()
    from admit.v1 import common_pb2, confirmation_pb2, organizer_pb2, registration_pb2  # noqa
    from google.protobuf import duration_pb2  # noqa


def tearDownModule():
    if STACK is not None:
        STACK.close()


def create_event(capacity, hold_ttl_s, ticket_capacity=0):
    event_id = f"e2e-{uuid.uuid4().hex[:10]}"
    event = common_pb2.Event(
        id=event_id, name="Forum für Ärzte 2027", time_zone="Europe/Zurich", capacity=capacity,
        ticket_types=[common_pb2.TicketType(id="delegate", name="Delegate",
                                            capacity=ticket_capacity)])
    event.starts_at.FromJsonString("2027-05-04T07:00:00Z")
    event.ends_at.FromJsonString("2027-05-06T16:00:00Z")
    event.hold_ttl.FromSeconds(hold_ttl_s)
    STACK.stub("OrganizerService", "CreateEvent", organizer_pb2.CreateEventResponse)(
        organizer_pb2.CreateEventRequest(event=event), timeout=10,
        metadata=[("authorization", "Bearer " + STACK.admin_key)])
    return event_id


def new_address():
    return f"e2e-{uuid.uuid4().hex[:12]}@example.org"


def register(event_id, address, name="Zoë Ünal"):
    return STACK.stub("RegistrationService", "Register", registration_pb2.RegisterResponse)(
        registration_pb2.RegisterRequest(
            request_id=str(uuid.uuid4()), event_id=event_id, ticket_type_id="delegate",
            attendee=common_pb2.Attendee(email=address, full_name=name, country_code="CH")),
        timeout=10)


def get(registered):
    return STACK.stub("RegistrationService", "GetRegistration", common_pb2.Registration)(
        registration_pb2.GetRegistrationRequest(
            registration_id=registered.registration.id, manage_token=registered.manage_token),
        timeout=10)


def confirm(token):
    return STACK.stub("ConfirmationService", "ConfirmRegistration", common_pb2.Registration)(
        confirmation_pb2.ConfirmRegistrationRequest(token=token), timeout=10)


def resend(registered):
    return STACK.stub("ConfirmationService", "ResendConfirmation",
                      confirmation_pb2.ResendConfirmationResponse)(
        confirmation_pb2.ResendConfirmationRequest(
            registration_id=registered.registration.id, manage_token=registered.manage_token),
        timeout=10)


def body_text(message):
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def token_of(message):
    found = TOKEN_RE.search(body_text(message))
    assert found, "no confirmation link in:\n" + body_text(message)
    return found.group(1)


def rpc_code(call):
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


common_pb2 = organizer_pb2 = registration_pb2 = confirmation_pb2 = duration_pb2 = None


class ConfirmationEndToEnd(unittest.TestCase):

    def test_register_email_confirm_ticket_with_qr(self):
        event_id = create_event(capacity=5, hold_ttl_s=600)
        address = new_address()
        registered = register(event_id, address)
        self.assertEqual(registered.registration.status,
                         common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION)

        [message] = Mailbox(address).wait_for(1, what="confirmation email")
        self.assertIn("Zoë Ünal", str(message["To"]))          # RFC 2047 decoded
        self.assertIn("Forum für Ärzte 2027", str(message["Subject"]))
        self.assertRegex(message["Message-ID"], r"^<[^<>@\s]+@[^<>@\s]+>$")
        self.assertIsNotNone(message["Date"])
        self.assertEqual(message.get_content_type(), "multipart/alternative")
        self.assertIsNotNone(message.get_body(preferencelist=("html",)))
        token = token_of(message)

        confirmed = confirm(token)
        self.assertEqual(confirmed.id, registered.registration.id)
        self.assertEqual(confirmed.status, common_pb2.REGISTRATION_STATUS_CONFIRMED)
        self.assertTrue(confirmed.ticket_code)
        # A double click: the same confirmed registration, the same ticket.
        again = confirm(token)
        self.assertEqual(again.status, common_pb2.REGISTRATION_STATUS_CONFIRMED)
        self.assertEqual(again.ticket_code, confirmed.ticket_code)
        self.assertEqual(get(registered).ticket_code, confirmed.ticket_code)

        messages = Mailbox(address).wait_for(2, what="ticket email")
        ticket = next(m for m in messages if m["Message-ID"] != message["Message-ID"])
        self.assertIn(confirmed.ticket_code, body_text(ticket))
        images = [p for p in ticket.walk() if p.get_content_type() == "image/png"]
        self.assertEqual(len(images), 1, "the ticket email has one QR image")
        html = ticket.get_body(preferencelist=("html",)).get_content()
        content_id = images[0]["Content-ID"].strip("<>")
        self.assertIn(f"cid:{content_id}", html)
        with tempfile.NamedTemporaryFile(suffix=".png") as png:
            png.write(images[0].get_content())
            png.flush()
            decoded = subprocess.run(["zbarimg", "--quiet", "--raw", png.name],
                                     capture_output=True, text=True).stdout.strip()
        self.assertEqual(decoded, confirmed.ticket_code)
        # Every message was sent once.
        ids = [m["Message-ID"] for m in Mailbox(address).messages()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_token_misuse(self):
        event_id = create_event(capacity=5, hold_ttl_s=600)
        a_address, b_address = new_address(), new_address()
        a, b = register(event_id, a_address), register(event_id, b_address)
        [a_first] = Mailbox(a_address).wait_for(1)
        [b_first] = Mailbox(b_address).wait_for(1)
        a_old, b_token = token_of(a_first), token_of(b_first)

        # Wrong tokens.
        self.assertEqual(rpc_code(lambda: confirm("A" * 21 + "A")), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(rpc_code(lambda: confirm("not a token")),
                         grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(rpc_code(lambda: confirm("")), grpc.StatusCode.INVALID_ARGUMENT)

        # Resend: the old link stops working at once, the new one works.
        queued = resend(a)
        self.assertEqual(queued.registration.status,
                         common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION)
        self.assertEqual(rpc_code(lambda: confirm(a_old)), grpc.StatusCode.NOT_FOUND)
        messages = Mailbox(a_address).wait_for(2, what="resent confirmation")
        a_new = token_of(next(m for m in messages if token_of(m) != a_old))

        # Another registration's token confirms that registration only.
        self.assertEqual(confirm(b_token).id, b.registration.id)
        self.assertEqual(get(a).status, common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION)
        self.assertEqual(confirm(a_new).id, a.registration.id)
        self.assertEqual(rpc_code(lambda: confirm(a_old)), grpc.StatusCode.NOT_FOUND)

        # Resend is rate-limited per registration, and refused once confirmed.
        self.assertEqual(rpc_code(lambda: resend(a)), grpc.StatusCode.FAILED_PRECONDITION)
        c = register(event_id, new_address())
        codes = [rpc_code(lambda: resend(c)) for _ in range(4)]
        self.assertEqual(codes[:3], [grpc.StatusCode.OK] * 3)
        self.assertEqual(codes[3], grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_expired_token_is_refused(self):
        event_id = create_event(capacity=5, hold_ttl_s=3)
        address = new_address()
        registered = register(event_id, address)
        [message] = Mailbox(address).wait_for(1)
        token = token_of(message)
        wait_until(lambda: get(registered).status == common_pb2.REGISTRATION_STATUS_EXPIRED,
                   30, "the hold to expire")
        self.assertEqual(rpc_code(lambda: confirm(token)), grpc.StatusCode.FAILED_PRECONDITION)

    def test_expiry_and_cancellation_promote_the_waitlist_in_order(self):
        # Capacity 10, 16 registrations: 10 pending, 6 waitlisted. 5 pending are
        # confirmed, 5 let expire: the first 5 waitlisted get the seats and an
        # email, the 6th stays first in line; a cancellation promotes it too.
        event_id = create_event(capacity=10, hold_ttl_s=25)
        people = []
        for i in range(16):
            address = new_address()
            people.append((address, register(event_id, address)))
        statuses = [r.registration.status for _, r in people]
        self.assertEqual(statuses[:10],
                         [common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION] * 10)
        self.assertEqual(statuses[10:], [common_pb2.REGISTRATION_STATUS_WAITLISTED] * 6)
        self.assertEqual([r.registration.waitlist_position for _, r in people[10:]],
                         [1, 2, 3, 4, 5, 6])
        # The waitlist email says where one stands.
        [third] = Mailbox(people[12][0]).wait_for(1, what="waitlist email")
        self.assertIn("3", body_text(third))
        self.assertNotRegex(body_text(third), TOKEN_RE)

        for address, _ in people[:5]:
            [message] = Mailbox(address).wait_for(1)
            confirm(token_of(message))

        def promoted():
            now = [get(r).status for _, r in people]
            return now if now[5:10] == [common_pb2.REGISTRATION_STATUS_EXPIRED] * 5 and \
                now[10:15] == [common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION] * 5 else None
        wait_until(promoted, 60, "expiry and promotion")
        last = get(people[15][1])
        self.assertEqual(last.status, common_pb2.REGISTRATION_STATUS_WAITLISTED)
        self.assertEqual(last.waitlist_position, 1)
        # Promoted in order: earlier in line, earlier hold.
        holds = [get(r).hold_expires_at.ToMicroseconds() for _, r in people[10:15]]
        self.assertEqual(holds, sorted(holds))
        # Each promoted attendee gets "a seat is yours" with a working link.
        for address, registered in people[10:15]:
            messages = Mailbox(address).wait_for(2, what="promotion email")
            links = [m for m in messages if TOKEN_RE.search(body_text(m))]
            self.assertEqual(len(links), 1)
        address, registered = people[10]
        link = next(m for m in Mailbox(address).messages() if TOKEN_RE.search(body_text(m)))
        self.assertEqual(confirm(token_of(link)).status,
                         common_pb2.REGISTRATION_STATUS_CONFIRMED)

        # Cancelling a confirmed registration promotes the 16th.
        STACK.stub("RegistrationService", "CancelRegistration", common_pb2.Registration)(
            registration_pb2.CancelRegistrationRequest(
                registration_id=people[0][1].registration.id,
                manage_token=people[0][1].manage_token), timeout=10)
        wait_until(lambda: get(people[15][1]).status ==
                   common_pb2.REGISTRATION_STATUS_PENDING_CONFIRMATION, 30,
                   "promotion after a cancellation")
        messages = Mailbox(people[15][0]).wait_for(2, what="promotion email")
        self.assertEqual(sum(1 for m in messages if TOKEN_RE.search(body_text(m))), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
