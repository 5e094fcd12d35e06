// Calls admit's HTTP/JSON API (same origin) and turns its errors
// (google.rpc.Status as JSON) into something a page can show.
"use strict";

class ApiError extends Error {
  constructor(httpStatus, body, retryAfter) {
    super((body && body.message) || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.body = body || {};
    this.retryAfter = retryAfter;  // seconds, or null
  }
  detail(typeSuffix) {
    return (this.body.details || []).find((d) => (d["@type"] || "").endsWith(typeSuffix));
  }
  get reason() {
    const info = this.detail("google.rpc.ErrorInfo");
    return info ? info.reason : "";
  }
  // [{field: "attendee.email", description: "..."}]
  get fieldViolations() {
    const bad = this.detail("google.rpc.BadRequest");
    return bad ? bad.fieldViolations || [] : [];
  }
  // Seconds to wait: Retry-After, else RetryInfo.
  get retrySeconds() {
    if (this.retryAfter) return this.retryAfter;
    const info = this.detail("google.rpc.RetryInfo");
    return info ? Math.ceil(parseFloat(info.retryDelay)) : null;
  }
}

async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({}, headers || {}) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { message: "The server cannot be reached. Check your connection and try again." }, null);
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = { message: text }; }
  if (!response.ok) {
    const ra = parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, parsed, Number.isFinite(ra) ? ra : null);
  }
  return parsed;
}

function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function formatTime(rfc3339, timeZone) {
  if (!rfc3339) return "";
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: timeZone || undefined })
      .format(new Date(rfc3339));
  } catch (e) {
    return new Date(rfc3339).toLocaleString();
  }
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function showStatus(container, kind, ...children) {
  container.replaceChildren(el("div", { class: `status ${kind}`, role: kind === "err" ? "alert" : "status" }, ...children));
  container.hidden = false;
}
