// The organizer dashboard: live counts from WatchRegistrationCounts (Server-
// Sent Events read with fetch, since EventSource cannot send Authorization),
// a chart of registrations over time, allotments, the CSV export.
"use strict";

let apiKey = sessionStorage.getItem("admit.apiKey") || "";
let eventId = new URLSearchParams(location.search).get("event") || sessionStorage.getItem("admit.eventId") || "";
let stream = null;
const series = [];  // [{t: Date, total: n}]

function auth() { return { Authorization: `Bearer ${apiKey}` }; }

function setText(id, value) { document.getElementById(id).textContent = value === undefined ? "0" : String(value); }

function render(c) {
  const t = c.total || {};
  setText("n-capacity", c.capacity || 0);
  setText("n-remaining", c.remaining || 0);
  setText("n-pending", t.pendingConfirmation || 0);
  setText("n-confirmed", t.confirmed || 0);
  setText("n-waitlisted", t.waitlisted || 0);
  setText("n-cancelled", t.cancelled || 0);
  setText("n-expired", t.expired || 0);
  setText("n-total", t.total || 0);
  document.getElementById("by-tt").replaceChildren(...(c.byTicketType || []).map((x) => {
    const s = x.counts || {};
    return el("tr", {}, el("th", { scope: "row" }, x.name || x.ticketTypeId), el("td", { class: "num" }, x.capacity || 0),
      el("td", { class: "num" }, x.remaining || 0), el("td", { class: "num" }, s.pendingConfirmation || 0),
      el("td", { class: "num" }, s.confirmed || 0), el("td", { class: "num" }, s.waitlisted || 0));
  }));
  document.getElementById("by-org").replaceChildren(...(c.byOrganization || []).map((x) => {
    const s = x.counts || {};
    return el("tr", {}, el("th", { scope: "row" }, x.organization || "(none)"),
      el("td", { class: "num" }, x.allotmentSeats || "–"), el("td", { class: "num" }, x.allotmentSeats ? x.allotmentRemaining || 0 : "–"),
      el("td", { class: "num" }, s.pendingConfirmation || 0), el("td", { class: "num" }, s.confirmed || 0),
      el("td", { class: "num" }, s.waitlisted || 0));
  }));
  series.push({ t: c.asOf ? new Date(c.asOf) : new Date(), total: t.total || 0 });
  if (series.length > 600) series.shift();
  drawChart();
}

function drawChart() {
  const canvas = document.getElementById("chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  if (!series.length) return;
  const max = Math.max(1, ...series.map((p) => p.total));
  const t0 = series[0].t.getTime(), t1 = Math.max(t0 + 1000, series[series.length - 1].t.getTime());
  const pad = 30;
  g.strokeStyle = "#d0d7de"; g.beginPath(); g.moveTo(pad, 5); g.lineTo(pad, h - pad); g.lineTo(w - 5, h - pad); g.stroke();
  g.fillStyle = "#57606a"; g.font = "12px system-ui, sans-serif";
  g.fillText(String(max), 2, 14); g.fillText("0", 2, h - pad);
  g.strokeStyle = "#0a58ca"; g.lineWidth = 2; g.beginPath();
  series.forEach((p, i) => {
    const x = pad + (w - pad - 5) * (p.t.getTime() - t0) / (t1 - t0);
    const y = (h - pad) - (h - pad - 5) * p.total / max;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  document.getElementById("chart-summary").textContent =
    `${series[series.length - 1].total} registrations in total, up from ${series[0].total} when this page opened.`;
}

async function watch() {
  if (stream) stream.abort();
  stream = new AbortController();
  const live = document.getElementById("live-state");
  try {
    const response = await fetch(`/v1/organizer/events/${encodeURIComponent(eventId)}/counts:watch`,
      { headers: auth(), signal: stream.signal });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new ApiError(response.status, body, null);
    }
    live.textContent = "Live: counts update as registrations arrive.";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const isError = block.startsWith("event: error");
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (!data) continue;
        if (isError) throw new ApiError(500, JSON.parse(data), null);
        render(JSON.parse(data));
      }
    }
    live.textContent = "Reconnecting…";
  } catch (e) {
    if (e.name === "AbortError") return;
    if (e instanceof ApiError && [401, 403, 404, 501].includes(e.httpStatus)) {
      showStatus(document.getElementById("message"), "err",
        { 404: "No such event.", 501: "Live counts are not available from this server yet." }[e.httpStatus] ||
        "This API key may not watch this event.");
      live.textContent = "";
      return;
    }
    live.textContent = "Connection lost; reconnecting…";
  }
  setTimeout(watch, 2000);
}

async function open(e) {
  if (e) e.preventDefault();
  apiKey = document.getElementById("api-key").value.trim() || apiKey;
  eventId = document.getElementById("event-id").value.trim() || eventId;
  if (!apiKey || !eventId) return;
  sessionStorage.setItem("admit.apiKey", apiKey);
  sessionStorage.setItem("admit.eventId", eventId);
  document.getElementById("message").replaceChildren();
  document.getElementById("dashboard").hidden = false;
  series.length = 0;
  watch();
}

async function saveAllotment(e) {
  e.preventDefault();
  try {
    await api("PUT", `/v1/organizer/events/${encodeURIComponent(eventId)}/allotments`,
      { organization: document.getElementById("allot-org").value, seats: parseInt(document.getElementById("allot-seats").value, 10) || 0 }, auth());
    showStatus(document.getElementById("message"), "ok", "Allotment saved.");
  } catch (err) {
    const v = err.fieldViolations && err.fieldViolations.map((x) => x.description).join(" ");
    showStatus(document.getElementById("message"), "err", v || err.message);
  }
}

async function exportCsv() {
  const button = document.getElementById("export");
  button.disabled = true;
  try {
    const response = await fetch(`/v1/organizer/events/${encodeURIComponent(eventId)}/registrations:export`, { headers: auth() });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})), null);
    const name = (/filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "") || [])[1] || "registrations.csv";
    const url = URL.createObjectURL(await response.blob());
    const a = el("a", { href: url, download: name });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showStatus(document.getElementById("message"), "err", `Export failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

document.getElementById("setup-form").addEventListener("submit", open);
document.getElementById("forget").addEventListener("click", () => {
  sessionStorage.removeItem("admit.apiKey"); apiKey = ""; if (stream) stream.abort();
  document.getElementById("dashboard").hidden = true;
});
document.getElementById("allotment-form").addEventListener("submit", saveAllotment);
document.getElementById("export").addEventListener("click", exportCsv);
window.addEventListener("resize", drawChart);
document.getElementById("event-id").value = eventId;
if (apiKey && eventId) open();
