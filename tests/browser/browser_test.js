// admit's pages in a real browser: headless Debian chromium driven by
// playwright-core. Started by tests/e2e/browser_e2e_test.py, which runs the
// services and the gateway and passes:
//   ADMIT_GATEWAY_URL  http://127.0.0.1:PORT
//   ADMIT_EVENT_ID     an open event with ticket type "delegate"
//   ADMIT_ADMIN_KEY    an organizer admin API key
//   ADMIT_TEST_MAILDIR the SMTP sink's Maildir
//   ADMIT_ARTIFACTS    where screenshots go
// Exits non-zero on the first failed expectation; every wait has a deadline.
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.ADMIT_GATEWAY_URL;
const eventId = process.env.ADMIT_EVENT_ID;
const adminKey = process.env.ADMIT_ADMIN_KEY;
const maildir = process.env.ADMIT_TEST_MAILDIR;
const artifacts = process.env.ADMIT_ARTIFACTS;
fs.mkdirSync(artifacts, { recursive: true });

function expect(condition, what) {
  if (!condition) throw new Error(`expectation failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function waitFor(what, deadlineMs, probe) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The confirmation link from the newest message to `address` (quoted-printable decoded).
function confirmationLink(address) {
  const dir = path.join(maildir, "new");
  if (!fs.existsSync(dir)) return null;
  for (const name of fs.readdirSync(dir)) {
    const raw = fs.readFileSync(path.join(dir, name), "utf8");
    if (!raw.toLowerCase().includes(address.toLowerCase())) continue;
    const text = raw.replace(/=\r?\n/g, "").replace(/=3D/gi, "=");
    const m = /(https?:\/\/[^\s"<>]*#token=[A-Za-z0-9_-]{22})/.exec(text);
    if (m) return m[1];
  }
  return null;
}

async function register(address) {
  const response = await fetch(`${base}/v1/events/${eventId}/registrations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ requestId: `${address}-r`, ticketTypeId: "delegate",
      attendee: { email: address, fullName: "Load Tester", countryCode: "FR" } }),
  });
  expect(response.ok, `registration of ${address} over HTTP (${response.status})`);
}

async function main() {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const consoleErrors = [];
    // Uncaught exceptions and console errors of the pages' own scripts (not
    // the browser's "Failed to load resource" lines for answers like the
    // deliberate 400 below).
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    // Registration page: details, availability, then the form.
    await page.goto(`${base}/?event=${eventId}`);
    await page.locator('#availability tr[data-ticket-type="delegate"]').waitFor({ timeout: 15000 });
    expect((await page.locator("#event-name").textContent()).includes("Browser"), "the event's name is shown");
    await page.screenshot({ path: path.join(artifacts, "1-registration.png"), fullPage: true });

    // Inline validation from the API's field violations.
    await page.getByLabel("Email").fill("not-an-email");
    await page.getByLabel("Full name").fill("Zoë Ünal");
    await page.getByLabel("Country code").fill("CH");
    await page.getByRole("button", { name: "Register" }).click();
    const emailError = page.locator('[id="err-attendee.email"]');
    await emailError.waitFor({ state: "visible", timeout: 15000 });
    expect(await page.getByLabel("Email").getAttribute("aria-invalid") === "true", "the email field is marked invalid");
    expect((await emailError.textContent()).length > 0, "the email field's message is shown next to it");
    await page.screenshot({ path: path.join(artifacts, "2-field-violation.png"), fullPage: true });

    const address = `browser-${Date.now()}@example.org`;
    await page.getByLabel("Email").fill(address);
    await page.getByRole("button", { name: "Register" }).click();
    await page.getByText("Check your email.").waitFor({ timeout: 15000 });
    expect(true, "'Check your email' after registering");
    await page.screenshot({ path: path.join(artifacts, "3-check-your-email.png"), fullPage: true });

    // The email's link opens the confirmation page, which confirms.
    const link = await waitFor("the confirmation email", 30000, async () => confirmationLink(address));
    expect(link.startsWith(`${base}/confirm#token=`), `the email links to the gateway's page (${link.split("#")[0]})`);
    await page.goto(link);
    await page.getByText("Your registration is confirmed.").waitFor({ timeout: 15000 });
    const code = (await page.locator("#ticket-code").textContent()).trim();
    expect(code.length > 0, "the ticket code is shown");
    await page.locator("#qr").waitFor({ state: "visible", timeout: 10000 });
    expect(await page.locator("#qr").evaluate((img) => img.complete && img.naturalWidth > 0), "the QR code image is drawn");
    expect(!page.url().includes("token="), "the token is removed from the address bar");
    await page.screenshot({ path: path.join(artifacts, "4-confirmed-ticket.png"), fullPage: true });

    // Organizer dashboard: live counts move while registrations arrive.
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dash = await desktop.newPage();
    dash.on("pageerror", (e) => consoleErrors.push(String(e)));
    await dash.goto(`${base}/organizer`);
    await dash.getByLabel("API key").fill(adminKey);
    await dash.getByLabel("Event id").fill(eventId);
    await dash.getByRole("button", { name: "Open" }).click();
    const total = dash.locator("#n-total");
    let live = true;
    try {
      await waitFor("the first counts", 15000, async () => /^\d+$/.test((await total.textContent()).trim()));
    } catch (e) {
      const message = (await dash.locator("#message").textContent()) + (await dash.locator("#live-state").textContent());
      console.log(`SKIP - live counts: the dashboard got no counts (${message.trim()}); ` +
        "WatchRegistrationCounts is probably not implemented yet");
      live = false;
    }
    if (live) {
      const before = parseInt((await total.textContent()).trim(), 10);
      for (let i = 0; i < 3; i++) await register(`dash-${Date.now()}-${i}@example.org`);
      await waitFor("the dashboard's total to grow by 3", 20000,
        async () => parseInt((await total.textContent()).trim(), 10) >= before + 3);
      expect(true, `the dashboard's total moved from ${before} to ${(await total.textContent()).trim()} live`);
    }
    await dash.screenshot({ path: path.join(artifacts, "5-dashboard.png"), fullPage: true });
    expect(consoleErrors.length === 0, `no JavaScript errors (${consoleErrors.join(" | ")})`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
