#!/usr/bin/python3
"""admit's pages in a real browser (tests/browser/browser_test.js).

Starts quota, registration and confirmation on a scratch database and the
gateway in front of them (the confirmation emails link to its page), creates
an open event, installs the npm dependencies with `npm ci` (playwright-core,
pinned by tests/browser/package-lock.json) and runs the browser script with
headless Debian chromium: register through the form (with a field violation
first), read the email from the sink's Maildir, open its link, see the
confirmed ticket with its QR code; watch the dashboard's counts move while
registrations arrive. Screenshots go to ADMIT_BUILD_DIR/browser-artifacts.

Run by ctest through tests/run.sh (see admit_stack.py for the environment).
"""

import os
import pathlib
import shutil
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import admit_stack  # noqa: E402
from admit_stack import free_port, require_env  # noqa: E402
from gateway_stack import Gateway, request  # noqa: E402

BROWSER_DIR = admit_stack.REPO / "tests" / "browser"


class Browser(unittest.TestCase):
    def test_register_confirm_and_dashboard(self):
        for tool in ("/usr/bin/chromium", shutil.which("node"), shutil.which("npm")):
            self.assertTrue(tool and os.path.exists(tool),
                            f"{tool}: install chromium, nodejs and npm (deploy/local/packages.txt)")
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                             capture_output=True, text=True, timeout=240)
        self.assertEqual(npm.returncode, 0, npm.stdout + npm.stderr)

        port = free_port()
        stack = admit_stack.Stack(extra_env={
            "ADMIT_CONFIRMATION_LINK_BASE": f"http://127.0.0.1:{port}/confirm"})
        gateway = None
        try:
            gateway = Gateway(stack, port=port)
            event_id = f"br-{uuid.uuid4().hex[:10]}"
            status, _, body = request(gateway.port, "POST", "/v1/organizer/events", {
                "id": event_id, "name": "Browser Forum 2027", "timeZone": "Europe/Zurich",
                "capacity": 50, "startsAt": "2027-05-04T07:00:00Z",
                "endsAt": "2027-05-06T16:00:00Z", "holdTtl": "900s",
                "ticketTypes": [{"id": "delegate", "name": "Delegate"}]},
                {"Authorization": "Bearer " + stack.admin_key})
            self.assertEqual(status, 200, body)
            artifacts = pathlib.Path(require_env("ADMIT_BUILD_DIR")) / "browser-artifacts"
            run = subprocess.run(
                ["node", str(BROWSER_DIR / "browser_test.js")], cwd=BROWSER_DIR,
                env=dict(os.environ, ADMIT_GATEWAY_URL=gateway.url, ADMIT_EVENT_ID=event_id,
                         ADMIT_ADMIN_KEY=stack.admin_key, ADMIT_ARTIFACTS=str(artifacts),
                         ADMIT_TEST_MAILDIR=require_env("ADMIT_TEST_MAILDIR")),
                capture_output=True, text=True, timeout=240)
            print(run.stdout, file=sys.stderr)
            print(f"screenshots in {artifacts}", file=sys.stderr)
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        finally:
            if gateway is not None:
                gateway.close()
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
