// The confirmation landing page: the email links here with the token in the
// fragment (#token=...), which browsers never send to a server.
"use strict";

async function showQr(code) {
  try {
    const response = await fetch("/qr.png", { method: "POST", body: code, headers: { "Content-Type": "text/plain" } });
    if (!response.ok) return;
    const img = document.getElementById("qr");
    img.src = URL.createObjectURL(await response.blob());
    img.hidden = false;
  } catch (e) { /* the code is shown as text anyway */ }
}

async function confirmFromLink() {
  const result = document.getElementById("result");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) {
    showStatus(result, "err", "This link is incomplete. Open the link from your confirmation email again.");
    return;
  }
  try {
    const reg = await api("POST", "/v1/confirmations", { token });
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
    showStatus(result, "ok", el("strong", {}, "Your registration is confirmed."),
      el("p", {}, "We also emailed you the ticket."));
    document.getElementById("ticket-code").textContent = reg.ticketCode || "";
    document.getElementById("ticket-name").textContent = reg.attendee ? reg.attendee.fullName : "";
    document.getElementById("ticket-event").textContent = reg.eventId;
    document.getElementById("ticket-type").textContent = reg.ticketTypeId;
    document.getElementById("ticket").hidden = false;
    if (reg.ticketCode) showQr(reg.ticketCode);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const messages = {
      TOKEN_NOT_FOUND: "This link is no longer valid. If you asked for a new email, use the link in the newest one.",
      REGISTRATION_EXPIRED: "This link has expired: the seat was released. You can register again.",
      REGISTRATION_CANCELLED: "This registration was cancelled.",
    };
    if (e.httpStatus === 429) {
      showStatus(result, "warn", `Too many attempts. Please try again in ${e.retrySeconds || 5} seconds.`);
    } else {
      showStatus(result, "err", messages[e.reason] || e.message);
    }
  }
}

confirmFromLink();
