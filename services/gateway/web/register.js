// The registration page: event details and live availability, the form,
// inline field violations, and the outcome (check your email / waitlist /
// rate limited).
"use strict";

const params = new URLSearchParams(location.search);
const eventId = params.get("event") || "";
let timeZone = "";
let attempt = null;  // {requestId, body}: the same request_id on every retry of one attempt

async function loadAvailability() {
  const a = await api("GET", `/v1/events/${encodeURIComponent(eventId)}/availability`);
  document.getElementById("event-name").textContent = a.name || a.eventId;
  document.title = `Register · ${a.name || a.eventId}`;
  timeZone = a.timeZone || "";
  document.getElementById("event-when").textContent =
    `${formatTime(a.startsAt, timeZone)} – ${formatTime(a.endsAt, timeZone)}` + (timeZone ? ` (${timeZone})` : "");
  document.getElementById("event-description").textContent = a.description || "";
  const rows = (a.ticketTypes || []).map((t) =>
    el("tr", { "data-ticket-type": t.ticketTypeId },
      el("th", { scope: "row" }, t.name || t.ticketTypeId),
      el("td", { class: "num" }, t.remaining || 0),
      el("td", { class: "num" }, t.waitlisted || 0)));
  document.getElementById("availability").replaceChildren(...rows);
  document.getElementById("as-of").textContent = a.asOf ? `Updated ${formatTime(a.asOf, timeZone)}` : "";
  const select = document.getElementById("ticket-type");
  if (!select.options.length) {
    for (const t of a.ticketTypes || []) select.append(el("option", { value: t.ticketTypeId }, t.name || t.ticketTypeId));
  }
  document.getElementById("event").hidden = false;
  document.getElementById("register").hidden = false;
  const submit = document.getElementById("submit");
  if (!a.registrationOpen) {
    submit.disabled = true;
    showStatus(document.getElementById("form-error"), "warn",
      a.registrationOpensAt && new Date(a.registrationOpensAt) > new Date()
        ? `Registration opens ${formatTime(a.registrationOpensAt, timeZone)}.`
        : "Registration is closed.");
  }
}

function clearErrors() {
  for (const input of document.querySelectorAll("[data-field]")) {
    input.removeAttribute("aria-invalid");
    const p = document.getElementById(`err-${input.dataset.field}`);
    if (p) { p.hidden = true; p.textContent = ""; }
  }
  document.getElementById("form-error").replaceChildren();
}

function showFieldErrors(violations) {
  let first = null;
  const unplaced = [];
  for (const v of violations) {
    const input = document.querySelector(`[data-field="${CSS.escape(v.field)}"]`);
    const p = document.getElementById(`err-${v.field}`);
    if (!input || !p) { unplaced.push(v.description || v.field); continue; }
    input.setAttribute("aria-invalid", "true");
    p.textContent = v.description || "This field is not valid.";
    p.hidden = false;
    first = first || input;
  }
  if (unplaced.length) showStatus(document.getElementById("form-error"), "err", unplaced.join(" "));
  if (first) first.focus();
}

let countdown = null;
function showRateLimited(seconds) {
  const result = document.getElementById("result");
  const submit = document.getElementById("submit");
  let left = seconds || 5;
  submit.disabled = true;
  const text = el("span", { id: "retry-message" });
  const tick = () => {
    text.textContent = `Too many attempts right now. Please try again in ${left} second${left === 1 ? "" : "s"}.`;
    if (left-- <= 0) { clearInterval(countdown); submit.disabled = false; text.textContent = "You can try again now."; }
  };
  clearInterval(countdown);
  tick();
  countdown = setInterval(tick, 1000);
  showStatus(result, "warn", text);
}

async function submitForm(event) {
  event.preventDefault();
  clearErrors();
  const body = {
    ticketTypeId: document.getElementById("ticket-type").value,
    attendee: {
      email: document.getElementById("email").value,
      fullName: document.getElementById("full-name").value,
      organization: document.getElementById("organization").value,
      countryCode: document.getElementById("country").value,
    },
  };
  const key = JSON.stringify(body);
  if (!attempt || attempt.key !== key) attempt = { requestId: randomId(), key };
  body.requestId = attempt.requestId;
  const submit = document.getElementById("submit");
  submit.disabled = true;
  const result = document.getElementById("result");
  try {
    const r = await api("POST", `/v1/events/${encodeURIComponent(eventId)}/registrations`, body);
    const reg = r.registration;
    localStorage.setItem(`admit.manage.${reg.id}`, r.manageToken);
    document.getElementById("register").hidden = true;
    if (reg.status === "REGISTRATION_STATUS_WAITLISTED") {
      showStatus(result, "warn", el("strong", {}, `You are on the waitlist at position ${reg.waitlistPosition}.`),
        el("p", {}, "We will email you if a seat becomes free."));
    } else {
      showStatus(result, "ok", el("strong", {}, "Check your email."),
        el("p", {}, `We sent a confirmation link to ${reg.attendee ? reg.attendee.email : "your address"}. ` +
          (reg.holdExpiresAt ? `Your seat is held until ${formatTime(reg.holdExpiresAt, timeZone)}.` : "")));
    }
    result.querySelector(".status").setAttribute("tabindex", "-1");
    result.querySelector(".status").focus();
    loadAvailability().catch(() => {});
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.httpStatus === 429) { showRateLimited(e.retrySeconds); return; }
    submit.disabled = false;
    if (e.fieldViolations.length) { showFieldErrors(e.fieldViolations); return; }
    const messages = {
      EMAIL_ALREADY_REGISTERED: "This email address is already registered for this event.",
      REGISTRATION_CLOSED: "Registration is closed.",
      REGISTRATION_NOT_OPEN_YET: "Registration has not opened yet.",
      EVENT_NOT_FOUND: "This event does not exist.",
      TICKET_TYPE_NOT_FOUND: "This ticket type does not exist.",
    };
    showStatus(document.getElementById("form-error"), "err",
      messages[e.reason] || (e.httpStatus >= 500 || e.httpStatus === 0
        ? "Something went wrong on our side. Please try again: you will not be registered twice."
        : e.message));
  }
}

if (!eventId) {
  document.getElementById("choose").hidden = false;
} else {
  document.getElementById("form").addEventListener("submit", submitForm);
  loadAvailability().catch((e) => {
    showStatus(document.getElementById("result"), "err",
      e.reason === "EVENT_NOT_FOUND" ? "This event does not exist." : e.message);
  });
  setInterval(() => { if (!document.hidden) loadAvailability().catch(() => {}); }, 3000);
}
