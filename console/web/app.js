// A+ operator console: the web application (no framework, no build step). It speaks only to
// the console's JSON API (docs/console-api.md) with the session cookie; every POST carries the
// session's CSRF token in X-CSRF-Token. Text from the server is always put in the page with
// textContent, never as HTML. 64-bit numbers arrive as strings (protobuf's JSON): Number().
"use strict";

const state = { csrf: "", person: "", view: "overview", alerts: new Map(), stream: null, cursor: "0" };
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#000091", "#c9191e", "#18753c", "#b34000", "#6a6af4", "#009081", "#a558a0", "#716043"];

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function say(text) { $("status").textContent = text || ""; }

function when(ms) {
  const n = Number(ms);
  if (!n) return "–";
  return new Date(n).toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short" });
}

function age(ms) {
  const s = Math.round(Number(ms) / 1000);
  if (!s) return "–";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}

function rate(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(2); }

const STATES = {
  SUBMITTED: "transmis", DELIVERED: "remis au partenaire", ACKNOWLEDGED: "pris en charge", ANSWERED: "répondu",
  CLOSED: "clos", CANCELLED: "annulé", INFO_REQUESTED: "question posée", TRANSFERRED: "transféré",
};
const KINDS = { WARNING: "approche", BREACH: "dépassement", DEAD_LETTER: "lettre morte" };

// --- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || "HTTP " + status);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (method === "POST") {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = state.csrf;
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/session") signedOut();
    throw new ApiError(response.status, json);
  }
  return json;
}

function failed(error, where) {
  const text = error instanceof ApiError ? error.message + " (" + error.status + ")" : String(error);
  if (where) where.textContent = text; else say(text);
}

// --- sign-in -------------------------------------------------------------------------------

function signedIn(answer) {
  state.csrf = answer.csrf_token;
  state.person = answer.person;
  $("whoami").textContent = answer.name + " (" + answer.person + ")";
  $("who").hidden = false;
  $("nav").hidden = false;
  $("view-signin").hidden = true;
  startStream();
  show(state.view);
}

function signedOut() {
  state.csrf = "";
  if (state.stream) { state.stream.close(); state.stream = null; }
  $("who").hidden = true;
  $("nav").hidden = true;
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== "view-signin";
  $("signin-token").focus();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    const answer = await api("POST", "/api/session", { token: $("signin-token").value.trim() });
    $("signin-token").value = "";
    signedIn(answer);
  } catch (error) {
    $("signin-error").textContent = error.status === 401
      ? "Jeton inconnu, ou personne absente de la configuration du réseau."
      : error.message;
  }
});

$("signout-button").addEventListener("click", async () => {
  try { await api("POST", "/api/session/end"); } catch (e) { /* signed out either way */ }
  signedOut();
});

// --- views ---------------------------------------------------------------------------------

const LOADERS = {
  overview: loadOverview, queues: loadQueues, sla: loadSla, alerts: loadAlerts,
  case: () => {}, audit: () => {}, reports: loadReports,
};

function show(view) {
  state.view = view;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  say("");
  LOADERS[view]();
}

for (const button of document.querySelectorAll("#nav button")) {
  button.addEventListener("click", () => show(button.dataset.view));
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// The pair of brokers (docs/AVAILABILITY.md) as one line: leader, epoch, mode, state, standby
// and how far it has applied the leader's log.
const PAIR_STATES = { "paired": "appairé (chaque réponse attend la copie du secours)",
  "alone": "seul (mode dégradé : réponses depuis son seul disque)",
  "waiting for a standby": "en attente d'un secours (mode strict : rien n'est accusé)" };
function pairLine(p) {
  const standby = p.standby
    ? "secours " + p.standby + " à la séquence " + p.standby_applied_sequence + " sur " + p.committed_sequence
    : "aucun secours attaché (séquence " + p.committed_sequence + ")";
  return "Paire de courtiers : meneur " + p.node + " (époque " + p.epoch + "), mode " + p.mode +
    ", " + (PAIR_STATES[p.state] || p.state) + ", " + standby;
}

async function loadOverview() {
  try {
    const o = await api("GET", "/api/overview");
    $("ov-rate-in").textContent = rate(o.rates_per_second.submitted);
    $("ov-rate-out").textContent = rate(o.rates_per_second.answered);
    $("ov-rate-delivered").textContent = rate(o.rates_per_second.delivered);
    $("ov-backlog").textContent = String(o.backlog);
    $("ov-commits").textContent = o.stats.batches_committed + " (" + o.stats.messages_committed + " messages)";
    $("ov-broker").textContent = Number(o.broker.started_at_ms)
      ? "en service depuis " + when(o.broker.started_at_ms) : "joignable";
    $("ov-pair").hidden = !o.pair;
    $("ov-pair").textContent = o.pair ? pairLine(o.pair) : "";
    const roles = Object.entries(o.stats.sessions_by_role || {});
    fillRows($("ov-sessions").tBodies[0], roles.map(([role, n]) => el("tr", {}, el("td", {}, role), el("td", { class: "num" }, n))));
    const states = Object.entries(o.stats.cases_by_state || {});
    fillRows($("ov-states").tBodies[0], states.map(([s, n]) => el("tr", {}, el("td", {}, STATES[s] || s), el("td", { class: "num" }, n))));
  } catch (error) {
    $("ov-broker").textContent = error.status === 503 ? "injoignable" : "erreur";
    failed(error);
  }
}
$("overview-refresh").addEventListener("click", loadOverview);

async function loadQueues() {
  try {
    const [q, d] = await Promise.all([api("GET", "/api/queues"), api("GET", "/api/dead-letters")]);
    fillRows($("queues-table").tBodies[0], q.queues.map((row) => el("tr", {},
      el("td", {}, row.partner || row.queue), el("td", {}, row.territory || "–"),
      el("td", { class: "num" }, row.ready), el("td", { class: "num" }, row.unacked),
      el("td", { class: "num" }, age(row.oldest_age_ms)), el("td", { class: "num" }, row.dead_lettered))));
    const items = d.items || [];
    $("dead-letters-empty").hidden = items.length > 0;
    fillRows($("dead-letters-table").tBodies[0], items.map((item) => {
      const button = el("button", { type: "button", class: "requeue-button secondary", id: "requeue-" + item.case_id,
        "data-case-id": item.case_id }, "Remettre en file");
      button.setAttribute("aria-label", "Remettre en file le dossier " + item.case_id);
      button.addEventListener("click", () => requeue(item.case_id, button));
      return el("tr", { "data-case-id": item.case_id }, el("td", {}, item.case_id), el("td", {}, item.queue),
        el("td", {}, item.kind), el("td", { class: "num" }, item.attempts), el("td", {}, when(item.dead_lettered_at_ms)),
        el("td", {}, button));
    }));
  } catch (error) { failed(error); }
}

async function requeue(caseId, button) {
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/dead-letters/requeue", { case_id: caseId });
    say("Dossier " + caseId + " remis en file (" + answer.items + " élément(s)).");
    await loadQueues();
  } catch (error) { button.disabled = false; failed(error); }
}

const CASE_HEAD = ["Dossier", "Partenaire", "Point de contact", "État", "Échéance"];
function caseRows(table, cases) {
  table.tHead.replaceChildren(el("tr", {}, ...CASE_HEAD.map((h) => el("th", { scope: "col" }, h))));
  const rows = (cases || []).map((c) => {
    const link = el("button", { type: "button", class: "secondary case-link" }, c.case_id);
    link.addEventListener("click", () => openCase(c.case_id));
    return el("tr", { "data-case-id": c.case_id }, el("td", {}, link), el("td", {}, c.partner + (c.territory ? " (" + c.territory + ")" : "")),
      el("td", {}, c.contact_point), el("td", {}, STATES[c.state] || c.state), el("td", {}, when(c.deadline_ms)));
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "Aucun dossier.")));
  fillRows(table.tBodies[0], rows);
}

async function loadSla(event) {
  if (event) event.preventDefault();
  const select = $("sla-partner");
  try {
    if (select.options.length === 1) {
      const q = await api("GET", "/api/queues");
      for (const partner of [...new Set(q.queues.map((row) => row.partner).filter(Boolean))]) {
        select.append(el("option", { value: partner }, partner));
      }
    }
    const params = new URLSearchParams({ partner: select.value, horizon_hours: $("sla-horizon").value || "0" });
    const board = await api("GET", "/api/sla-board?" + params);
    caseRows($("sla-due"), board.due_soon);
    caseRows($("sla-at-risk"), board.at_risk);
    caseRows($("sla-breached"), board.breached);
  } catch (error) { failed(error); }
}
$("sla-form").addEventListener("submit", loadSla);

// --- alerts, live --------------------------------------------------------------------------

function alertRow(alert) {
  const acked = alert.acked_by !== "";
  const button = el("button", { type: "button", class: "ack-button secondary", "data-alert-id": alert.alert_id },
    acked ? "Prise" : "Je la prends");
  button.disabled = acked;
  button.setAttribute("aria-label", "Prendre l'alerte " + alert.alert_id);
  button.addEventListener("click", () => ackAlert(alert.alert_id, button));
  const row = el("tr", { "data-alert-id": alert.alert_id, class: acked ? "acked" : "" },
    el("td", { class: "kind-" + alert.kind }, KINDS[alert.kind] || alert.kind),
    el("td", {}, alert.case_id), el("td", {}, alert.partner + (alert.territory ? " (" + alert.territory + ")" : "")),
    el("td", {}, alert.contact_point), el("td", {}, when(alert.deadline_ms)), el("td", {}, when(alert.raised_at_ms)),
    el("td", { class: "acked-by" }, acked ? alert.acked_by : "–"), el("td", {}, button));
  return row;
}

function renderAlerts() {
  const alerts = [...state.alerts.values()].sort((a, b) => Number(a.sequence) - Number(b.sequence));
  fillRows($("alerts-table").tBodies[0], alerts.map(alertRow));
  $("alerts-empty").hidden = alerts.length > 0;
  const open = alerts.filter((a) => a.acked_by === "").length;
  $("alerts-count").textContent = open ? String(open) : "";
}

async function loadAlerts() {
  try {
    const list = await api("GET", "/api/alerts");
    state.alerts = new Map((list.alerts || []).map((a) => [a.alert_id, a]));
    renderAlerts();
  } catch (error) { failed(error); }
}

async function ackAlert(alertId, button) {
  button.disabled = true;
  try {
    const answer = await api("POST", "/api/alerts/ack", { alert_id: alertId });
    state.alerts.set(alertId, answer.alert);
    renderAlerts();
    say("Alerte prise par " + answer.alert.acked_by + ".");
  } catch (error) { button.disabled = false; failed(error); }
}

// The stream is a series of short responses (the console answers each after news or ~20 s);
// EventSource reconnects by itself after `retry` and sends the last id it saw.
async function startStream() {
  if (state.stream || !window.EventSource) return;
  try {
    const list = await api("GET", "/api/alerts");
    state.alerts = new Map((list.alerts || []).map((a) => [a.alert_id, a]));
    state.cursor = list.scanned_to_sequence || "0";
    renderAlerts();
  } catch (error) { /* the stream still starts */ }
  const stream = new EventSource("/api/alerts/stream?after=" + encodeURIComponent(state.cursor));
  state.stream = stream;
  const live = $("alerts-live");
  stream.onopen = () => { live.className = "live on"; live.textContent = "flux en direct : connecté"; };
  stream.onerror = () => {
    // A response ending is normal here (EventSource reconnects); only a closed stream is down.
    if (stream.readyState === EventSource.CLOSED) { live.className = "live off"; live.textContent = "flux en direct : déconnecté"; state.stream = null; }
  };
  stream.addEventListener("alert", (event) => {
    try {
      const alert = JSON.parse(event.data);
      // An alert is taken once and for good: a copy sent before it was taken (events race
      // with the click) must not make it look open again.
      const known = state.alerts.get(alert.alert_id);
      if (known && known.acked_by && !alert.acked_by) return;
      state.alerts.set(alert.alert_id, alert);
      renderAlerts();
    } catch (e) { /* a malformed event is skipped */ }
  });
}

// --- a case and its audit ------------------------------------------------------------------

function meta(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function openCase(caseId) {
  $("case-id").value = caseId;
  show("case");
  await lookUpCase();
}

async function lookUpCase(event) {
  if (event) event.preventDefault();
  const id = $("case-id").value.trim().toUpperCase();
  $("case-error").textContent = "";
  $("case-result").hidden = true;
  try {
    const view = await api("GET", "/api/cases/" + encodeURIComponent(id));
    const s = view.summary;
    meta($("case-meta"), [["Dossier", s.case_id], ["État", STATES[s.state] || s.state], ["Partenaire", s.partner + (s.territory ? " (" + s.territory + ")" : "")],
      ["Point de contact", s.contact_point], ["Catégorie", s.category || "–"], ["Saisi le", when(s.submitted_at_ms)], ["Échéance", when(s.deadline_ms)]]);
    // Personal data is in the answer only when the broker allowed it (administrators).
    const personal = Boolean(view.citizen_name || view.body || s.subject || view.reply_text);
    $("case-personal").hidden = !personal;
    $("case-no-personal").hidden = personal;
    $("case-citizen").textContent = view.citizen_name || "–";
    $("case-subject").textContent = s.subject || "–";
    $("case-body").textContent = view.body || "–";
    $("case-reply").textContent = view.reply_text || "–";
    fillRows($("case-timeline").tBodies[0], (view.timeline || []).map((e) => el("tr", {},
      el("td", { class: "num" }, e.sequence), el("td", {}, when(e.at_ms)), el("td", {}, e.kind), el("td", {}, e.actor))));
    $("case-result").hidden = false;
  } catch (error) {
    failed(error, $("case-error"));
  }
}
$("case-form").addEventListener("submit", lookUpCase);
$("case-audit-button").addEventListener("click", () => {
  $("audit-case-id").value = $("case-id").value.trim().toUpperCase();
  show("audit");
  loadAudit();
});

async function loadAudit(event) {
  if (event) event.preventDefault();
  $("audit-error").textContent = "";
  const id = $("audit-case-id").value.trim().toUpperCase();
  try {
    const log = await api("GET", "/api/cases/" + encodeURIComponent(id) + "/audit");
    fillRows($("audit-table").tBodies[0], (log.entries || []).map((e) => el("tr", {},
      el("td", { class: "num" }, e.sequence), el("td", {}, when(e.at_ms)), el("td", { class: "principal" }, e.principal),
      el("td", {}, e.action), el("td", {}, e.detail))));
  } catch (error) { failed(error, $("audit-error")); }
}
$("audit-form").addEventListener("submit", loadAudit);

// --- reports, drawn as SVG -----------------------------------------------------------------

function dayInput(ms) { return new Date(ms).toISOString().slice(0, 10); }

async function loadReports(event) {
  if (event) event.preventDefault();
  $("reports-error").textContent = "";
  const day = 86400000;
  if (!$("reports-to").value) $("reports-to").value = dayInput(Date.now());
  if (!$("reports-from").value) $("reports-from").value = dayInput(Date.now() - 56 * day);
  const from = Date.parse($("reports-from").value + "T00:00:00Z");
  const to = Date.parse($("reports-to").value + "T00:00:00Z") + day;
  try {
    const r = await api("GET", "/api/reports?" + new URLSearchParams({ from: String(from), to: String(to) }));
    drawWeekly($("report-weekly"), r.weeks);
    drawReplyTimes($("report-reply-times"), r.period.partners || []);
    fillRows($("report-partners").tBodies[0], (r.period.partners || []).map((p) => el("tr", {},
      el("td", {}, p.partner), el("td", { class: "num" }, p.received), el("td", { class: "num" }, p.answered),
      el("td", { class: "num" }, Number(p.on_time_percent).toFixed(1) + " %"),
      el("td", { class: "num" }, Number(p.median_reply).toFixed(1) + " " + p.reply_unit),
      el("td", { class: "num" }, p.at_risk), el("td", { class: "num" }, p.breached))));
    fillRows($("report-contact-points").tBodies[0], (r.by_contact_point.partners || []).map((p) => el("tr", {},
      el("td", {}, p.contact_point), el("td", { class: "num" }, p.received), el("td", { class: "num" }, p.answered),
      el("td", { class: "num" }, Number(p.on_time_percent).toFixed(1) + " %"))));
  } catch (error) { failed(error, $("reports-error")); }
}
$("reports-form").addEventListener("submit", loadReports);

// Lines: one per partner, x = week, y = on-time share (0-100 %) of the cases answered that week.
function drawWeekly(figure, weeks) {
  const W = 760, H = 300, L = 50, R = 170, T = 15, B = 40;
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Part des réponses dans les délais par semaine" });
  const x = (i) => L + (weeks.length <= 1 ? 0 : (i * (W - L - R)) / (weeks.length - 1));
  const y = (pct) => T + ((100 - pct) * (H - T - B)) / 100;
  for (const pct of [0, 25, 50, 75, 100]) {
    plot.append(svg("line", { x1: L, x2: W - R, y1: y(pct), y2: y(pct), stroke: "#ddd" }));
    plot.append(svg("text", { x: L - 8, y: y(pct) + 4, "text-anchor": "end", "font-size": 12, fill: "#3a3a3a" }, pct + " %"));
  }
  weeks.forEach((w, i) => {
    plot.append(svg("text", { x: x(i), y: H - B + 18, "text-anchor": "middle", "font-size": 11, fill: "#3a3a3a" },
      new Date(Number(w.from_ms)).toLocaleDateString("fr-FR", { day: "2-digit", month: "2-digit" })));
  });
  const partners = [...new Set(weeks.flatMap((w) => (w.partners || []).map((p) => p.partner)))].sort();
  partners.forEach((partner, n) => {
    const color = COLORS[n % COLORS.length];
    const points = [];
    weeks.forEach((w, i) => {
      const p = (w.partners || []).find((q) => q.partner === partner);
      if (p && Number(p.answered) > 0) points.push([x(i), y(Number(p.on_time_percent))]);
    });
    if (points.length > 1) plot.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: color, "stroke-width": 2.5 }));
    for (const [px, py] of points) plot.append(svg("circle", { cx: px, cy: py, r: 3.5, fill: color }));
    plot.append(svg("rect", { x: W - R + 15, y: T + n * 20, width: 18, height: 4, fill: color }));
    plot.append(svg("text", { x: W - R + 40, y: T + n * 20 + 6, "font-size": 12, fill: "#161616" }, partner));
  });
  const caption = el("figcaption", {}, partners.length ? "Semaines sans réponse : pas de point." : "Aucune réponse sur la période.");
  figure.replaceChildren(plot, caption);
}

// Bars: reply-time buckets summed over partners sharing a unit (the first unit found).
function drawReplyTimes(figure, partners) {
  const W = 760, H = 260, L = 50, R = 20, T = 15, B = 45;
  const unit = (partners.find((p) => (p.reply_times || []).length) || {}).reply_unit || "";
  const buckets = new Map();
  for (const p of partners) {
    if (p.reply_unit !== unit) continue;
    for (const b of p.reply_times || []) {
      const key = Number(b.up_to);
      buckets.set(key, (buckets.get(key) || 0) + Number(b.count));
    }
  }
  const keys = [...buckets.keys()].sort((a, b) => (a === 0) - (b === 0) || a - b);
  const max = Math.max(1, ...buckets.values());
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Distribution des délais de réponse" });
  const slot = keys.length ? (W - L - R) / keys.length : 0;
  plot.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#3a3a3a" }));
  keys.forEach((key, i) => {
    const count = buckets.get(key);
    const h = (count * (H - T - B)) / max;
    plot.append(svg("rect", { x: L + i * slot + slot * 0.15, y: H - B - h, width: slot * 0.7, height: h, fill: "#000091" }));
    plot.append(svg("text", { x: L + i * slot + slot / 2, y: H - B - h - 4, "text-anchor": "middle", "font-size": 12, fill: "#161616" }, count));
    plot.append(svg("text", { x: L + i * slot + slot / 2, y: H - B + 16, "text-anchor": "middle", "font-size": 11, fill: "#3a3a3a" },
      key === 0 ? "plus" : "≤ " + key));
  });
  const caption = el("figcaption", {}, keys.length ? "Délais en " + unit + " (réponses de la période)." : "Aucune réponse sur la période.");
  figure.replaceChildren(plot, caption);
}

// --- start ---------------------------------------------------------------------------------

(async function start() {
  try {
    signedIn(await api("GET", "/api/session"));
  } catch (error) {
    signedOut();
  }
})();
