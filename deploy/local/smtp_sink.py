#!/usr/bin/python3
"""An SMTP server that accepts every message and files it in a Maildir.

Run with Debian's /usr/bin/python3 (it has python3-aiosmtpd). Started by
smtp-sink.sh; usable alone:

    smtp_sink.py --port 2525 --maildir DIR/maildir --pidfile DIR/smtp.pid

Contract:
- Listens on --host:--port (default 127.0.0.1). The pidfile is written only
  once the socket is listening, and removed on SIGTERM/SIGINT exit.
- Every message accepted with "250" is already in MAILDIR/new (the stdlib
  mailbox.Maildir writes it to tmp/ and moves it into new/ atomically), so a
  reader never sees half a message. Two headers are prepended: Return-Path
  (envelope sender) and X-Original-To (envelope recipients, comma-separated),
  so tests can check the envelope, including Bcc recipients.
- AUTH is off unless --auth-user and --auth-password are given (or
  ADMIT_SMTP_AUTH_USER / ADMIT_SMTP_AUTH_PASSWORD); then PLAIN and LOGIN are
  offered over plaintext and required before MAIL.
"""

import argparse
import asyncio
import logging
import mailbox
import os
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class MaildirHandler:
    def __init__(self, maildir):
        self.maildir = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server, session, envelope):
        head = "Return-Path: <%s>\r\nX-Original-To: %s\r\n" % (
            envelope.mail_from, ", ".join(envelope.rcpt_tos))
        key = self.maildir.add(head.encode() + envelope.original_content)
        logging.info("delivered %s (%d recipient(s))", key, len(envelope.rcpt_tos))
        return "250 OK queued as " + key


def make_authenticator(user, password):
    expected = LoginPassword(user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = mechanism in ("PLAIN", "LOGIN") and auth_data == expected
        return AuthResult(success=ok, handled=False)  # failure: 535 reply

    return authenticate


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--auth-user", default=os.environ.get("ADMIT_SMTP_AUTH_USER"))
    p.add_argument("--auth-password", default=os.environ.get("ADMIT_SMTP_AUTH_PASSWORD"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    handler = MaildirHandler(args.maildir)
    smtp_options = {"hostname": "admit-smtp-sink", "data_size_limit": 10 * 1024 * 1024}
    if args.auth_user and args.auth_password:
        smtp_options.update(authenticator=make_authenticator(args.auth_user, args.auth_password),
                            auth_required=True, auth_require_tls=False)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, loop=loop, **smtp_options), args.host, args.port))
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, args.pidfile)
    logging.info("listening on %s:%d, delivering to %s (auth %s)", args.host, args.port,
                 args.maildir, "on" if "authenticator" in smtp_options else "off")

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        if args.pidfile and os.path.exists(args.pidfile):
            os.unlink(args.pidfile)
        logging.info("stopped")


if __name__ == "__main__":
    main()
