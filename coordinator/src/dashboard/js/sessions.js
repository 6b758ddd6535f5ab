"use strict";
// A campaign's failed requests grouped, its sessions a filtered page at a
// time, and one session in full: a waterfall of its steps, and for a
// browser visit the detector's verdict and each page's Web Vitals.

async function refreshErrors() {
  if (!selected) return;
  const id = selected;
  const answer = await api(`/api/v1/campaigns/${encodeURIComponent(id)}/errors`);
  if (!answer.ok || selected !== id) return;
  const report = answer.body;
  $("#errors-summary").textContent = errorSummary(report);
  $("#error-groups").hidden = report.groups.length === 0;
  $("#error-groups tbody").innerHTML = errorRows(report.groups);
}

// The filters as the API takes them; the cursor of each page shown so far.
let sessionCursors = [""];
let sessionPage = 0;
function sessionQuery() {
  const query = new URLSearchParams({ limit: "25" });
  const fields = { outcome: "#session-outcome", persona: "#session-persona", journey: "#session-journey",
    agent: "#session-agent", error_class: "#session-error-class", min_duration_ms: "#session-min-duration" };
  for (const [name, selector] of Object.entries(fields)) {
    const value = $(selector).value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

async function showSessions(page) {
  if (!selected) return;
  const id = selected;
  const query = sessionQuery();
  if (sessionCursors[page]) query.set("cursor", sessionCursors[page]);
  const answer = await api(`/api/v1/campaigns/${encodeURIComponent(id)}/sessions?${query}`);
  if (selected !== id) return;
  $("#session-errors").innerHTML = "";
  if (!answer.ok) {
    // Each bad filter with its name, as the API said it.
    const problems = answer.body.errors || [{ path: "", message: answer.body.detail || "the sessions could not be listed" }];
    $("#session-errors").innerHTML = problems.map((e) => `<li>${text(e.path ? e.path + ": " : "")}${text(e.message)}</li>`).join("");
    return;
  }
  const sessions = answer.body.sessions;
  sessionPage = page;
  sessionCursors = sessionCursors.slice(0, page + 1);
  if (answer.body.next_cursor) sessionCursors.push(answer.body.next_cursor);
  $("#session-next").disabled = !answer.body.next_cursor;
  $("#session-next").dataset.page = page + 1;
  $("#session-page").textContent = sessions.length === 0 ? "no sessions match"
    : `page ${page + 1}: ${sessions.length} sessions, newest first` + (answer.body.next_cursor ? "; more follow" : "");
  $("#session-list tbody").innerHTML = sessions.map((s) =>
    `<tr data-session="${text(s.session_id)}" class="${s.ok ? "" : "failed"}"><td>${time(s.intended_ms)}</td>` +
    `<td><button type="button" class="link open-session">${text(s.session_id)}</button></td><td>${text(s.persona)}</td><td>${text(s.journey)}</td>` +
    `<td>${text(s.agent)}</td><td class="num">${number.format(s.duration_ms)}</td><td class="num">${s.requests}</td><td class="num">${s.failed_requests}</td>` +
    `<td>${s.ok ? "ok" : text("failed: " + (s.error_class || s.error))}</td></tr>`).join("");
  for (const b of document.querySelectorAll("#session-list .open-session")) b.addEventListener("click", () => showSession(b.textContent));
}
$("#session-filters").addEventListener("submit", (event) => { event.preventDefault(); sessionCursors = [""]; showSessions(0); });
// The first page follows a running campaign; later pages stay as they were.
function refreshSessions() {
  return sessionPage === 0 ? showSessions(0) : null;
}
$("#session-first").addEventListener("click", () => showSessions(0));
$("#session-next").addEventListener("click", () => showSessions(Number($("#session-next").dataset.page)));

async function showSession(sessionId) {
  const id = selected;
  const answer = await api(`/api/v1/campaigns/${encodeURIComponent(id)}/sessions/${sessionId}`);
  if (!answer.ok) return;
  const s = answer.body;
  $("#session").hidden = false;
  $("#session-title").textContent = `Session ${s.session_id}`;
  $("#session-outcome-badge").textContent = s.ok ? "ok" : "failed";
  const v = s.visit;
  $("#session-facts").textContent = `${s.persona} on ${s.journey}, agent ${s.agent}, shard ${s.shard}; visitor ${v.visitor_id} ` +
    `(visit ${v.visit_count}, ${v.device}, ${v.country}, from ${v.referrer}); meant to start ${new Date(s.intended_ms).toLocaleString()}, ` +
    `ran ${number.format(s.duration_ms)} ms` + (s.error ? `; ${s.error}` : "");
  // Each step's bar: where it started and how long it took, on the
  // session's own time line.
  const span = Math.max(1, ...s.steps.map((step) => step.offset_ms + step.latency_us / 1000));
  $("#waterfall tbody").innerHTML = s.steps.map((step) => {
    const failed = step.error || step.status === 0 || step.status >= 400;
    const left = (100 * step.offset_ms) / span;
    const width = Math.max(0.3, (100 * step.latency_us) / 1000 / span);
    return `<tr class="${failed ? "failed" : ""}"><td>${step.index}</td><td>${text(step.name)}</td><td>${text(step.action)}</td>` +
      `<td title="${text(step.path)}">${pathCell(step.path)}</td><td class="num">${step.status || "no answer"}</td><td class="num">${number.format(step.offset_ms)}</td>` +
      `<td class="num">${(step.latency_us / 1000).toFixed(2)}</td><td class="num">${number.format(step.bytes)}</td>` +
      `<td class="timeline"><div class="bar-track" title="${step.offset_ms} ms + ${(step.latency_us / 1000).toFixed(1)} ms">` +
      `<div class="bar${failed ? " failed" : ""}" data-left="${left.toFixed(2)}" data-width="${width.toFixed(2)}"></div></div></td>` +
      `<td>${text(step.error)}${step.excerpt ? `<div class="muted">${text(step.excerpt)}</div>` : ""}</td></tr>`;
  }).join("");
  // Set through the DOM: the page's policy admits no inline style attributes.
  for (const bar of document.querySelectorAll("#waterfall .bar")) {
    bar.style.left = bar.dataset.left + "%";
    bar.style.width = bar.dataset.width + "%";
  }
  const b = s.browser;
  $("#session-browser").innerHTML = !b ? "" :
    `<h3>Browser visit</h3><p>${b.risk ? `The detector judged it <b data-risk="${text(b.risk)}">${text(b.risk)}</b> (score ${b.score.toFixed(2)}, ` +
    `confidence ${b.confidence.toFixed(2)})` : "The detector did not judge it (it judges visits that ran to the end)"}; ${b.bot_persona ? "a bot persona" : "a human persona"}, ${b.attempts} attempt${b.attempts === 1 ? "" : "s"}, ` +
    `${b.js_errors} script errors.</p>` +
    (b.reasons.length ? `<ul>${b.reasons.map((r) => `<li>${text(r)}</li>`).join("")}</ul>` : "") +
    (!b.pages.length ? `<p class="muted" id="session-no-vitals">No page's vitals were read: the visit ended before its pages reported them.</p>` :
    `<div class="table-scroll"><table><thead><tr><th>page</th><th class="num">status</th><th class="num">TTFB (ms)</th><th class="num">load (ms)</th>` +
    `<th class="num">LCP (ms)</th><th class="num">CLS</th><th class="num">INP (ms)</th></tr></thead><tbody>` +
    b.pages.map((p) => `<tr class="vitals"><td>${text(p.url)}</td><td class="num">${p.status}</td><td class="num">${p.ttfb_ms.toFixed(0)}</td>` +
      `<td class="num">${p.load_ms.toFixed(0)}</td><td class="num">${p.lcp_ms.toFixed(0)}</td><td class="num">${p.cls.toFixed(3)}</td>` +
      `<td class="num">${p.inp_ms.toFixed(0)}</td></tr>`).join("") + "</tbody></table></div>") +
    (b.screenshot ? `<h3>Where the visit failed</h3><p class="muted" id="session-screenshot-note">The page as the browser last showed it ` +
      `(kept on agent ${text(s.agent)} at <code>${text(b.screenshot)}</code>).</p><img id="session-screenshot" alt="screenshot of the failed visit" hidden>` : "");
  if (b && b.screenshot) showScreenshot(id, sessionId);
  $("#session").scrollIntoView({ block: "start" });
}

// The failed visit's screenshot, fetched through the coordinator from the
// agent that took it (with the token, which an <img src> could not send).
async function showScreenshot(id, sessionId) {
  const headers = tokenInput.value ? { Authorization: "Bearer " + tokenInput.value } : {};
  const url = `/api/v1/campaigns/${encodeURIComponent(id)}/sessions/${sessionId}/screenshot`;
  const response = await fetch(url, { headers }).catch(() => null);
  const image = $("#session-screenshot");
  if (!image) return;
  if (response && response.ok) {
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(await response.blob());
    image.hidden = false;
  } else {
    const problem = response ? await response.json().catch(() => ({})) : {};
    $("#session-screenshot-note").textContent = `The screenshot cannot be shown: ${problem.detail || "the coordinator did not answer"}.`;
  }
}
$("#session-close").addEventListener("click", () => { $("#session").hidden = true; });

// What a Matomo tracking request recorded, read from its query: the page
// view, event, search, download or outlink, and a goal or order; empty for
// any other request.
function matomoHit(path) {
  const at = path.indexOf("?");
  if (at < 0 || !/[?&]idsite=/.test(path)) return "";
  const q = new URLSearchParams(path.slice(at + 1));
  const parts = [];
  if (q.get("e_c")) parts.push(`event ${q.get("e_c")} / ${q.get("e_a") || ""}${q.get("e_n") ? " / " + q.get("e_n") : ""}`);
  else if (q.has("search")) parts.push(`site search "${q.get("search")}"`);
  else if (q.get("download")) parts.push(`download ${q.get("download")}`);
  else if (q.get("link")) parts.push(`outlink ${q.get("link")}`);
  else parts.push(`page view "${q.get("action_name") || ""}" ${q.get("url") || ""}`);
  if (q.get("idgoal") === "0") parts.push(`order ${q.get("ec_id") || ""}, revenue ${q.get("revenue") || "?"}`);
  else if (q.get("idgoal")) parts.push(`goal ${q.get("idgoal")}`);
  return "Matomo: " + parts.join("; ");
}

// A request's path; a Matomo hit's as its endpoint and what it tracked.
function pathCell(path) {
  const hit = matomoHit(path);
  return hit ? `${text(path.split("?")[0])}<div class="muted hit">${text(hit)}</div>` : text(path);
}
