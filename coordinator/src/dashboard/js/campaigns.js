"use strict";
// Campaigns: the form, the list, and the page of the one selected.

// The campaign form: a preset filled in by the fields, validated by the server.
let presets = [];
function fillSpec() {
  const preset = presets.find((p) => p.name === $("#preset").value);
  if (!preset) return;
  $("#spec").value = preset.document
    .replace(/^name: .*$/m, "name: " + $("#name").value)
    .replace("{target}", $("#target").value)
    .replace("{rate}", $("#rate").value)
    .replace("{sessions}", $("#sessions").value);
}
for (const id of ["#preset", "#name", "#target", "#rate", "#sessions"]) $(id).addEventListener("input", fillSpec);

const FIELD_OF = { "name": "name", "target": "target", "target.url": "target", "load.rate": "rate", "load.sessions": "sessions", "load": "rate" };
function showErrors(errors) {
  for (const field of ["name", "target", "rate", "sessions"]) $("#error-" + field).textContent = "";
  $("#errors").innerHTML = "";
  for (const error of errors) {
    const field = FIELD_OF[error.path];
    if (field) {
      $("#error-" + field).textContent = error.message;
    } else {
      const item = document.createElement("li");
      item.textContent = error.path + ": " + error.message;
      $("#errors").appendChild(item);
    }
  }
}

async function validate() {
  const answer = await api("/api/v1/campaigns/validate", { method: "POST", body: $("#spec").value });
  showErrors(answer.body.errors || []);
  const plan = answer.body.plan;
  $("#form-status").textContent = !answer.body.valid ? ""
    : plan ? `valid: ${plan.sessions || "open-ended"} sessions in ${plan.shards} shards at ${plan.sessions_per_second} sessions/s, about ${Math.round(plan.expected_duration_seconds)} s`
    : "valid";
  return answer.body.valid === true;
}
$("#validate").addEventListener("click", validate);
$("#new-campaign").addEventListener("submit", (event) => event.preventDefault());
$("#create").addEventListener("click", async () => {
  if (!(await validate())) return;
  const answer = await api("/api/v1/campaigns?start=true", { method: "POST", body: $("#spec").value });
  if (answer.ok) {
    $("#form-status").textContent = "created " + answer.body.id;
    await refreshCampaigns();
    select(answer.body.id);
    refreshCampaigns();
  } else {
    $("#form-status").textContent = answer.body.detail || "";
    showErrors(answer.body.errors || []);
  }
});

// Campaigns, and the page of the one selected: its numbers, charts over the
// whole run and breakdowns, from the analytics API.
let selected = null;
let report = null;
function select(id) {
  selected = id;
  report = null;
  $("#live").hidden = false;
  $("#live-title").textContent = id;
  for (const name of Object.keys(charts)) { charts[name].destroy(); delete charts[name]; }
  $("#session").hidden = true;
  sessionCursors = [""];
  refreshCampaign();
  refreshErrors();
  showSessions(0);
}

async function refreshCampaigns() {
  const answer = await api("/api/v1/campaigns");
  if (!answer.ok) return;
  const rows = [];
  const runs = [];
  for (const c of answer.body.campaigns) {
    if (c.spec && c.spec.kind === "streams") { runs.push(c); continue; }
    rows.push(`<tr data-id="${text(c.id)}"><td><a href="#" class="pick">${text(c.id)}</a></td><td class="state">${text(c.state)}</td>` +
      `<td class="num">${c.sessions_checkpointed}</td><td>` +
      ["start", "pause", "resume", "stop"].map((a) => `<button class="act" data-action="${a}">${a}</button>`).join(" ") + "</td></tr>");
  }
  campaigns = answer.body.campaigns;
  $("#campaign-list tbody").innerHTML = rows.join("");
  for (const row of document.querySelectorAll("#campaign-list tbody tr")) {
    row.querySelector(".pick").addEventListener("click", (e) => { e.preventDefault(); select(row.dataset.id); });
    for (const b of row.querySelectorAll(".act")) {
      b.addEventListener("click", async () => { await api(`/api/v1/campaigns/${row.dataset.id}/${b.dataset.action}`, { method: "POST" }); refreshCampaigns(); });
    }
  }
  const current = $("#run").value;
  $("#run").innerHTML = runs.map((r) => `<option value="${text(r.id)}">${text(r.id)} (${text(r.state)})</option>`).join("");
  if (current) $("#run").value = current;
}
let campaigns = [];

const number = new Intl.NumberFormat("en");
const percent = (v) => (v * 100).toFixed(v < 0.1 ? 2 : 1) + " %";
const ms = (v) => v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + " ms";
const KPIS = [
  ["sessions", "sessions", (t) => number.format(t.sessions)],
  ["page_views", "page views", (t) => number.format(t.page_views)],
  ["pages_per_session", "pages / session", (t) => t.pages_per_session.toFixed(2)],
  ["bounce_rate", "bounce", (t) => percent(t.bounce_rate)],
  ["conversions", "conversions", (t) => number.format(t.conversions)],
  ["revenue", "revenue", (t) => number.format(Math.round(t.revenue * 100) / 100)],
  ["requests", "requests", (t) => number.format(t.requests)],
  ["error_rate", "error rate", (t) => percent(t.error_rate)],
  ["p50", "latency p50", (t) => ms(t.latency_ms.p50)],
  ["p90", "latency p90", (t) => ms(t.latency_ms.p90)],
  ["p99", "latency p99", (t) => ms(t.latency_ms.p99)],
];
const RAW = { p50: (t) => t.latency_ms.p50, p90: (t) => t.latency_ms.p90, p99: (t) => t.latency_ms.p99 };

async function refreshCampaign() {
  if (!selected) return;
  const id = selected;
  const campaign = campaigns.find((c) => c.id === id);
  const started = campaign ? campaign.created_at_ms : Date.now();
  const ended = campaign && campaign.ended_at_ms ? campaign.ended_at_ms : Date.now();
  const resolution = resolutionFor(Math.max(1000, ended - started));
  const by = $("#breakdown-by").value;
  const answer = await api(`/api/v1/analytics?campaigns=${encodeURIComponent(id)}&by=${by}&resolution_ms=${resolution}`);
  if (!answer.ok || !answer.body[0] || selected !== id) return;
  report = answer.body[0];
  const t = report.totals;
  $("#live-title").textContent = `${report.name} (${id})`;
  $("#live-state").textContent = campaign ? campaign.state : "";
  $("#live-window").textContent = `from ${new Date(started).toLocaleString()}` +
    (campaign && campaign.ended_at_ms ? ` to ${new Date(ended).toLocaleString()}` : ", running") +
    `; charts in buckets of ${resolution / 1000} s; latency counts from each request's intended start`;
  $("#kpis").innerHTML = KPIS.map(([key, label, show]) =>
    `<div class="kpi" data-kpi="${key}" data-value="${RAW[key] ? RAW[key](t) : t[key]}"><span>${label}</span><b>${show(t)}</b></div>`).join("");
  drawCharts(buckets(report.series || [], resolution), resolution);
  $("#breakdown-key").textContent = by;
  $("#breakdown tbody").innerHTML = (report.groups || []).map((g) => {
    const s = g;
    return `<tr data-key="${text(g.key)}"><td>${text(g.key)}</td><td class="num">${number.format(s.sessions)}</td><td class="num">${number.format(s.page_views)}</td>` +
      `<td class="num">${s.pages_per_session.toFixed(2)}</td><td class="num">${percent(s.bounce_rate)}</td><td class="num">${number.format(s.conversions)}</td>` +
      `<td class="num">${s.revenue.toFixed(2)}</td><td class="num">${percent(s.error_rate)}</td>` +
      `<td class="num">${s.latency_ms.p50.toFixed(2)}</td><td class="num">${s.latency_ms.p99.toFixed(2)}</td></tr>`;
  }).join("");
}
$("#breakdown-by").addEventListener("change", refreshCampaign);

function reportCsv(r) {
  const header = ["campaign_id", "name", "scope", "key", "sessions", "failed_sessions", "page_views", "pages_per_session", "avg_session_ms",
    "bounce_rate", "conversions", "conversion_rate", "revenue", "requests", "error_rate", "p50_ms", "p90_ms", "p99_ms", "p999_ms"];
  const row = (scope, key, s) => csvRow([r.campaign_id, r.name, scope, key, s.sessions, s.failed_sessions, s.page_views, s.pages_per_session,
    s.avg_session_ms, s.bounce_rate, s.conversions, s.conversion_rate, s.revenue, s.requests, s.error_rate,
    s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.p999]);
  const lines = [csvRow(header), row("total", "", r.totals)];
  for (const g of r.groups || []) lines.push(row(r.by, g.key, g));
  for (const p of r.series || []) lines.push(row("series", new Date(p.start_ms).toISOString(), p));
  return lines.join("\n") + "\n";
}
$("#download-json").addEventListener("click", () => report && download(report.campaign_id + ".json", "application/json", JSON.stringify(report, null, 2)));
$("#download-csv").addEventListener("click", () => report && download(report.campaign_id + ".csv", "text/csv", reportCsv(report)));

