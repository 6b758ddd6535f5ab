"use strict";
// Campaigns: the form, the list, and the page of the one selected.

// The campaign form: a template filled in by the fields (a volume preset or
// a rate, items from the library), beside the YAML it makes; validated by
// the server, each problem shown beside its field.
let presets = [];
const picked = (select) => [...$(select).selectedOptions].map((o) => o.value);
function fillSpec() {
  const preset = presets.find((p) => p.name === $("#preset").value);
  if (!preset) return;
  const volume = $("#volume").value;
  $("#rate").disabled = Boolean(volume);
  let spec = preset.document
    .replace(/^name: .*$/m, "name: " + $("#name").value)
    .replace("{target}", $("#target").value)
    .replace("rate: {rate}", volume ? "preset: " + volume : "rate: " + $("#rate").value)
    .replace("{sessions}", $("#sessions").value);
  const personas = picked("#library-personas");
  const journeys = picked("#library-journeys");
  if (personas.length || journeys.length) {
    // The library's personas (and visitors walking the picked journeys)
    // take the place of the template's own.
    spec = spec.replace(/^personas:\n(?:[ \t].*\n)*/m, "");
    const list = personas.map((name) => `{ use: ${name} }`);
    if (journeys.length) list.push(`{ name: visitor, journeys: { ${journeys.map((j) => j + ": 1").join(", ")} } }`);
    spec += `personas: [${list.join(", ")}]\n`;
    if (journeys.length) spec += `journeys: [${journeys.map((j) => `{ use: ${j} }`).join(", ")}]\n`;
  }
  if ($("#library-site").value) spec += `site: { use: ${$("#library-site").value} }\n`;
  $("#spec").value = spec;
}
for (const id of ["#preset", "#name", "#target", "#volume", "#rate", "#sessions", "#library-personas", "#library-journeys", "#library-site"]) {
  $(id).addEventListener(id.startsWith("#library") || id === "#preset" || id === "#volume" ? "change" : "input", fillSpec);
}

// The library's items, offered in the form.
async function loadLibrary() {
  const answer = await api("/api/v1/library");
  if (!answer.ok) return;
  const names = (kind) => answer.body.items.filter((i) => i.kind === kind).map((i) => i.name);
  const options = (list) => list.map((n) => `<option value="${text(n)}">${text(n)}</option>`).join("");
  $("#library-personas").innerHTML = options(names("persona"));
  $("#library-journeys").innerHTML = options(names("journey"));
  $("#library-site").innerHTML = `<option value="">none</option>` + options(names("site"));
  const count = answer.body.items.length;
  $("#library-hint").textContent = count ? `${count} library items (throng persona|journey|site apply)`
    : "The library is empty: throng persona apply -f examples/library/personas.yaml adds some.";
}

// Which field a problem's path belongs beside; the rest are listed.
function fieldOf(path) {
  const exact = { "name": "name", "target": "target", "target.url": "target", "load.rate": "rate", "load.sessions": "sessions", "load.preset": "volume", "load": "rate" };
  if (exact[path]) return exact[path];
  for (const [prefix, field] of [["personas", "personas"], ["journeys", "journeys"], ["site", "site"]]) {
    if (path === prefix || path.startsWith(prefix + ".") || path.startsWith(prefix + "[")) return field;
  }
  return null;
}
const FORM_FIELDS = ["name", "target", "volume", "rate", "sessions", "personas", "journeys", "site"];
function showErrors(errors) {
  for (const field of FORM_FIELDS) $("#error-" + field).textContent = "";
  $("#errors").innerHTML = "";
  for (const error of errors) {
    const field = fieldOf(error.path);
    if (field) {
      $("#error-" + field).textContent = ($("#error-" + field).textContent + " " + error.message).trim();
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
    : plan ? `valid: ${plan.sessions ? number.format(plan.sessions) : "open-ended"} sessions in ${plan.shards} shards at ` +
      `${rate(plan.sessions_per_second)} sessions/s, about ${span(plan.expected_duration_seconds)}`
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

// Editing a campaign that has not started: its stored spec (JSON, which is
// YAML too) in the form, saved as a new revision.
let editing = null;
function edit(campaign) {
  editing = campaign.id;
  showErrors([]);
  // The fields make new specs; an edit changes the stored one directly.
  $("#form-fields").disabled = true;
  $("#form-title").textContent = `Edit ${campaign.id}`;
  $("#spec").value = JSON.stringify(campaign.spec, null, 2);
  $("#create").hidden = true;
  $("#save-edit").hidden = false;
  $("#cancel-edit").hidden = false;
  $("#form-status").textContent = "editing: change the spec, then save a new revision";
  $("#spec").focus();
}
function stopEditing(status) {
  editing = null;
  showErrors([]);
  $("#form-fields").disabled = false;
  $("#form-title").textContent = "New campaign";
  $("#create").hidden = false;
  $("#save-edit").hidden = true;
  $("#cancel-edit").hidden = true;
  $("#form-status").textContent = status;
  fillSpec();
}
$("#cancel-edit").addEventListener("click", () => stopEditing(""));
$("#save-edit").addEventListener("click", async () => {
  if (!editing || !(await validate())) return;
  const id = editing;
  const answer = await api(`/api/v1/campaigns/${encodeURIComponent(id)}`, { method: "PUT", body: $("#spec").value });
  if (!answer.ok) {
    $("#form-status").textContent = answer.body.detail || "";
    showErrors(answer.body.errors || []);
    return;
  }
  stopEditing(`saved ${id} revision ${answer.body.revision}`);
  refreshCampaigns();
});

// Campaigns, and the page of the one selected: its numbers, charts over the
// whole run and breakdowns, from the analytics API.
let selected = null;
let report = null;
// The selected campaign's requests by name.
let requestStats = null;
function select(id) {
  selected = id;
  history.replaceState(null, "", "#campaign/" + encodeURIComponent(id));
  report = null;
  requestStats = null;
  $("#live").hidden = false;
  $("#live-title").textContent = id;
  dropChart("throughput");
  dropChart("latency");
  dropChart("active");
  dropChart("breakdown-sessions");
  dropChart("breakdown-p99");
  $("#session").hidden = true;
  sessionCursors = [""];
  refreshCampaign();
  refreshErrors();
  showSessions(0);
}

// What can be done to a campaign in each state; stop and delete ask first.
const ACTIONS = {
  created: ["start", "edit", "delete"],
  running: ["pause", "stop", "rate"],
  paused: ["resume", "stop"],
  stopped: ["clone", "delete"],
  completed: ["clone", "delete"],
};
const comparePicks = new Set();

function actionButtons(c) {
  return (ACTIONS[c.state] || []).map((a) => a === "rate"
    ? `<input class="rate" size="5" inputmode="decimal" aria-label="new sessions per second for ${text(c.id)}" value="${c.rate}"> <button class="act" data-action="rate">set rate</button>`
    : `<button class="act" data-action="${a}">${a}</button>`).join(" ");
}

async function act(id, action, row) {
  const base = `/api/v1/campaigns/${encodeURIComponent(id)}`;
  if (action === "stop") return confirmThen(`Stop ${id}? Its sessions end where they are; it cannot be resumed.`, () => api(base + "/stop", { method: "POST" }));
  if (action === "delete") return confirmThen(`Delete ${id}? Its spec and checkpoints go; its telemetry stays.`, async () => {
    await api(base, { method: "DELETE" });
    if (selected === id) { selected = null; $("#live").hidden = true; $("#session").hidden = true; }
  });
  if (action === "rate") {
    const rate = Number(row.querySelector(".rate").value);
    const answer = await api(base + "/rate", { method: "POST", body: JSON.stringify({ rate }) });
    $("#list-status").textContent = answer.ok ? `${id} now starts ${rate} sessions/s` : `rate: ${answer.body.detail || "refused"}`;
    return;
  }
  if (action === "edit") {
    const campaign = campaigns.find((c) => c.id === id);
    if (campaign) edit(campaign);
    return;
  }
  if (action === "clone") {
    const answer = await api(base + "/clone?start=false", { method: "POST" });
    $("#list-status").textContent = answer.ok ? `cloned into ${answer.body.id} (created; start it when ready)` : "";
    return;
  }
  await api(`${base}/${action}`, { method: "POST" });
}

async function refreshCampaigns() {
  const answer = await api("/api/v1/campaigns");
  if (!answer.ok) return;
  const rows = [];
  const runs = [];
  for (const c of answer.body.campaigns) {
    if (c.spec && c.spec.kind === "streams") { runs.push(c); continue; }
    rows.push(`<tr data-id="${text(c.id)}" data-state="${text(c.state)}"><td><input type="checkbox" class="compare-pick" aria-label="compare ${text(c.id)}"${comparePicks.has(c.id) ? " checked" : ""}></td>` +
      `<td><a href="#" class="pick">${text(c.id)}</a></td><td class="state">${text(c.state)}</td>` +
      `<td class="num">${number.format(c.sessions_checkpointed)}</td><td class="actions">${actionButtons(c)}</td></tr>`);
  }
  campaigns = answer.body.campaigns;
  // A rate being typed is not thrown away by the refresh.
  const typing = document.activeElement && document.activeElement.classList.contains("rate");
  if (typing) return;
  $("#campaign-list tbody").innerHTML = rows.join("");
  for (const row of document.querySelectorAll("#campaign-list tbody tr")) {
    const id = row.dataset.id;
    row.querySelector(".pick").addEventListener("click", (e) => { e.preventDefault(); select(id); });
    row.querySelector(".compare-pick").addEventListener("change", (e) => {
      if (e.target.checked) comparePicks.add(id); else comparePicks.delete(id);
      $("#compare-picked").disabled = comparePicks.size < 2 || comparePicks.size > 4;
    });
    for (const b of row.querySelectorAll(".act")) {
      b.addEventListener("click", async () => { await act(id, b.dataset.action, row); refreshCampaigns(); });
    }
  }
  const current = $("#run").value;
  $("#run").innerHTML = runs.map((r) => `<option value="${text(r.id)}">${text(r.id)} (${text(r.state)})</option>`).join("");
  if (current) $("#run").value = current;
}
let campaigns = [];

async function refreshCampaign() {
  if (!selected) return;
  const id = selected;
  const campaign = campaigns.find((c) => c.id === id);
  const started = campaign ? campaign.created_at_ms : Date.now();
  const ended = campaign && campaign.ended_at_ms ? campaign.ended_at_ms : Date.now();
  const by = $("#breakdown-by").value;
  // The coordinator sizes the buckets (about 150 over the run), as it does
  // when it reads the campaign ahead of this page.
  const answer = await api(`/api/v1/analytics?campaigns=${encodeURIComponent(id)}&by=${by}&resolution_ms=auto`);
  if (!answer.ok || !answer.body[0] || selected !== id) return;
  report = answer.body[0];
  const resolution = report.resolution_ms;
  const t = report.totals;
  $("#live-title").textContent = `${report.name} (${id})`;
  $("#live-state").textContent = campaign ? campaign.state : "";
  $("#live-window").textContent = `from ${new Date(started).toLocaleString()}` +
    (campaign && campaign.ended_at_ms ? ` to ${new Date(ended).toLocaleString()}` : ", running") +
    `; charts in buckets of ${resolution / 1000} s; latency counts from each request's intended start`;
  $("#kpis").innerHTML = kpiCards(t);
  showDailyCap(campaign, report.series || []);
  showGenerator(id, t);
  drawCampaignCharts(buckets(report.series || [], resolution), resolution);
  $("#breakdown thead").innerHTML = `<tr><th>${text(by)}</th>${BREAKDOWN_HEAD}</tr>`;
  $("#breakdown tbody").innerHTML = breakdownRows(report.groups);
  drawBreakdownCharts(report.groups, by);
  // The same reading, cut by request name.
  const names = await api(`/api/v1/analytics?campaigns=${encodeURIComponent(id)}&by=request&resolution_ms=${resolution}`);
  if (!names.ok || !names.body[0] || selected !== id) return;
  requestStats = names.body[0];
  $("#request-stats thead").innerHTML = REQUESTS_HEAD;
  $("#request-stats tbody").innerHTML = requestRows(requestStats.groups, (ended - started) / 1000);
}

// Whether the agents, not the target, limit the campaign now (their last
// reports) or limited it (its stored sessions, `totals`), and the failures
// that were theirs: said above the figures they colour.
async function showGenerator(id, totals) {
  const answer = await api(`/api/v1/campaigns/${encodeURIComponent(id)}/live`);
  const line = $("#generator");
  if (!answer.ok || selected !== id) return;
  const g = answer.body;
  const said = [];
  if (g.limited_agents.length > 0) {
    said.push(`<b>Generator-limited now</b>: ${text(g.limited_agents.join(", "))} cannot keep up with this campaign's arrivals ` +
      `(p99 of its sessions started ${number.format(Math.round(g.start_lag_p99_ms))} ms after their intended start). ` +
      `The agents, not the target, limit the traffic, and its latencies include their delay: add agents or lower the rate.`);
  } else if (totals.generator_limited) {
    said.push(generatorNote(totals));
  }
  if (g.generator_errors > 0) {
    said.push(`${number.format(g.generator_errors)} of ${number.format(g.request_errors)} failed requests were the generator's own ` +
      `(they waited for one of its connection slots until their time ran out), not the target's.`);
  }
  line.hidden = said.length === 0;
  line.innerHTML = said.join(" ");
}

// A daily cap's day: sessions started in it so far (from the series'
// buckets that began in it) and the time to its reset.
function showDailyCap(campaign, series) {
  const cap = campaign && campaign.daily_cap;
  const line = $("#daily-cap");
  line.hidden = !cap;
  if (!cap) return;
  const today = series.filter((p) => p.start_ms >= cap.window_start_ms).reduce((sum, p) => sum + p.sessions, 0);
  const left = Math.max(0, cap.resets_at_ms - Date.now()) / 1000;
  line.dataset.today = today;
  line.dataset.cap = cap.sessions;
  line.innerHTML = `<b>Daily cap</b>: ${number.format(today)} of ${number.format(cap.sessions)} sessions this day ` +
    `(${percent(today / cap.sessions)}, since ${time(cap.window_start_ms)}); resets in ${span(left)} ` +
    `at ${new Date(cap.resets_at_ms).toLocaleString()}`;
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
  for (const g of (requestStats && requestStats.campaign_id === r.campaign_id ? requestStats.groups : [])) lines.push(row("request", g.key, g));
  return lines.join("\n") + "\n";
}
$("#download-json").addEventListener("click", () => report && download(report.campaign_id + ".json", "application/json", JSON.stringify(report, null, 2)));
$("#download-csv").addEventListener("click", () => report && download(report.campaign_id + ".csv", "text/csv", reportCsv(report)));


// Two to four campaigns side by side, their charts overlaid.
async function showComparison() {
  const ids = [...comparePicks];
  const answer = await api(`/api/v1/analytics?campaigns=${ids.map(encodeURIComponent).join(",")}&resolution_ms=auto`);
  if (!answer.ok || !answer.body[0]) return;
  const resolution = answer.body[0].resolution_ms;
  $("#compare").hidden = false;
  $("#compare-title").textContent = "Compared: " + answer.body.map((r) => r.name).join(", ");
  renderComparison($("#compare-body"), answer.body, resolution, "compare-");
}
$("#compare-picked").addEventListener("click", showComparison);
$("#compare-close").addEventListener("click", () => { $("#compare").hidden = true; });

// Asks the spec's targets whether they answer, before anything is created.
$("#test-target").addEventListener("click", async () => {
  $("#form-status").textContent = "asking the targets…";
  const answer = await api("/api/v1/campaigns/test", { method: "POST", body: $("#spec").value });
  if (!answer.ok) { $("#form-status").textContent = ""; showErrors(answer.body.errors || []); return; }
  $("#form-status").textContent = answer.body.targets.map((t) => t.ok
    ? `${t.url} answers (${t.status}, ${t.latency_ms.toFixed(0)} ms)` : `${t.url} does not answer: ${t.diagnosis}`).join("; ");
  $("#form-status").dataset.ok = answer.body.ok;
});

// The shareable report of these campaigns (`throng report`): fetched with
// the token, then saved.
async function downloadReport(ids, status) {
  const headers = tokenInput.value ? { Authorization: "Bearer " + tokenInput.value } : {};
  status.textContent = "making the report…";
  try {
    const response = await fetch(`/api/v1/report?campaigns=${ids.map(encodeURIComponent).join(",")}`, { headers });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      status.textContent = "report: " + (problem.detail || response.statusText);
      return;
    }
    download(`throng-report-${ids.join("-")}.html`, "text/html", await response.text());
    status.textContent = "report saved";
  } catch (error) {
    status.textContent = "report: " + error.message;
  }
}
$("#download-report").addEventListener("click", () => selected && downloadReport([selected], $("#report-status")));
$("#compare-report").addEventListener("click", () => downloadReport([...comparePicks], $("#list-status")));
