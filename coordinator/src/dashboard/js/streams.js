"use strict";
// Stream runs: scenarios, every stream against its baseline, one stream's history, external events.

// A simulated duration, as people say it.
function simulatedSpan(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

// A run's clock as people say it: its mode, and an emulated run's batches.
function clockSaid(run) {
  if (!run.emulated) return `${run.mode} clock`;
  const b = run.emulated.batch;
  return `emulated clock: a batch every ${run.emulated.interval_seconds} s of ${b.min} to ${b.max} events`;
}

// The run's scenarios: what each bends, its phase and how long it has left.
// One scenario at a time unless composing; applying asks first.
async function refreshScenarios() {
  const run = $("#run").value;
  if (!run) return;
  const answer = await api(`/api/v1/runs/${run}/scenarios`);
  if (!answer.ok) return;
  const state = answer.body;
  const now = state.sim_now_ms;
  const simulated = now ? "simulated now: " + new Date(now).toISOString().slice(0, 16) + " UTC" : "a backfill: no live clock";
  const generation = await api("/api/v1/cluster");
  const how = generation.ok ? (generation.body.stream_runs || []).find((r) => r.id === run) : null;
  $("#run-clock").textContent = (how ? clockSaid(how) + " · " : "") + simulated;
  const current = {};
  for (const r of state.runs) if (r.phase !== "settled") current[r.scenario] = r;
  const busy = Object.values(current).some((r) => r.phase === "active" || r.phase === "scheduled");
  const composing = $("#compose").checked;
  $("#scenarios tbody").innerHTML = state.scenarios.map((s) => {
    const r = current[s.id];
    const left = !r || !now ? "" : r.phase === "active" ? simulatedSpan(r.ends_ms - now) + " to settling"
      : r.phase === "settling" ? simulatedSpan(r.settled_ms - now) + " to baseline"
      : r.phase === "scheduled" ? "starts in " + simulatedSpan(r.started_ms - now) : "";
    const streams = s.streams.length <= 3 ? s.streams.join(", ") : `${s.streams.slice(0, 3).join(", ")} and ${s.streams.length - 3} more`;
    const blocked = busy && !composing && !r;
    return `<tr id="scenario-${text(s.id)}" data-id="${text(s.id)}"><td>${text(s.name)}</td><td class="muted">${text(s.description)}</td>` +
      `<td title="${text(s.streams.join(", "))}">${text(streams)}</td>` +
      `<td class="phase phase-${r ? r.phase : "none"}">${r ? r.phase : ""}</td><td class="left">${text(left)}</td>` +
      `<td><button class="apply"${blocked ? ` disabled title="another scenario is active: tick compose to add this one"` : ""}>Apply</button></td></tr>`;
  }).join("");
  for (const row of document.querySelectorAll("#scenarios tbody tr")) {
    row.querySelector(".apply").addEventListener("click", () =>
      confirmThen(`Apply ${row.dataset.id} to ${run}${composing ? " on top of the active scenario" : ""}? Its streams bend at once on every agent.`,
        () => api(`/api/v1/runs/${run}/scenarios/${row.dataset.id}/apply${composing ? "?compose=true" : ""}`, { method: "POST" })));
  }
  const live = await api(`/api/v1/campaigns/${run}/live`);
  if (live.ok) $("#stream-events").textContent = number.format(live.body.stream_events);
}
$("#compose").addEventListener("change", refreshScenarios);

// A new stream run of the built-in catalog, and stopping the one shown.
$("#new-run").addEventListener("submit", async (event) => {
  event.preventDefault();
  const hour = new Date();
  hour.setUTCMinutes(0, 0, 0);
  const clock = $("#run-mode").value === "emulated"
    ? `{ mode: emulated, interval: ${$("#run-interval").value}s, batch: { min: ${$("#run-batch-min").value}, max: ${$("#run-batch-max").value} } }`
    : `{ mode: accelerated, factor: ${$("#run-speed").value}, from: "${hour.toISOString()}" }`;
  const spec = `kind: streams\nname: ${$("#run-name").value}\ncatalog: builtin\nseed: ${$("#run-seed").value}\nclock: ${clock}\n`;
  const answer = await api("/api/v1/campaigns?start=true", { method: "POST", body: spec });
  $("#run-errors").innerHTML = (answer.body.errors || []).map((e) => `<li>${text(e.path)}: ${text(e.message)}</li>`).join("");
  $("#run-status").textContent = answer.ok ? `started ${answer.body.id}` : (answer.body.errors ? "" : answer.body.detail || "");
  if (answer.ok) {
    await refreshCampaigns();
    $("#run").value = answer.body.id;
    refreshScenarios();
    refreshStreams();
  }
});
$("#run-mode").addEventListener("change", () => {
  const emulated = $("#run-mode").value === "emulated";
  for (const label of document.querySelectorAll("#new-run .emulated-only")) label.hidden = !emulated;
  for (const label of document.querySelectorAll("#new-run .accelerated-only")) label.hidden = emulated;
});
$("#stop-run").addEventListener("click", () => {
  const run = $("#run").value;
  if (run) confirmThen(`Stop the stream run ${run}? Its streams stop where they are.`, () => api(`/api/v1/campaigns/${run}/stop`, { method: "POST" }));
});

$("#run").addEventListener("change", () => { refreshScenarios(); refreshStreams(); });

async function refreshStreams() {
  const run = $("#run").value;
  if (!run || !$("#streams").classList.contains("on")) return;
  const values = await api(`/api/v1/runs/${run}/streams`);
  if (values.ok) {
    $("#stream-values tbody").innerHTML = values.body.streams.map((s) => {
      return `<tr class="flag-${text(s.flag)}" data-stream="${text(s.stream)}" data-flag="${text(s.flag)}" ` +
        `data-at-baseline="${s.count === s.baseline}"><td><button type="button" class="link chart-stream">${text(s.stream)}</button></td><td>${s.count}</td><td>${s.baseline}</td>` +
        `<td>${s.normalised.toFixed(2)}</td><td>±${s.spread.toFixed(1)}</td><td>${s.score.toFixed(0)}</td><td>${text(s.flag)}</td></tr>`;
    }).join("");
    for (const b of document.querySelectorAll("#stream-values .chart-stream")) b.addEventListener("click", () => showStreamHistory(b.textContent));
    streamNames = values.body.streams.map((s) => s.stream).sort();
    if (!document.querySelector("#own-impacts .impact")) addImpactRow();
    for (const select of document.querySelectorAll("#own-impacts .own-stream")) fillStreams(select);
  }
  const events = await api(`/api/v1/runs/${run}/events`);
  if (events.ok) {
    runEvents = events.body.events;
    const template = $("#inject-template").value;
    $("#inject-template").innerHTML = events.body.templates.map((t) =>
      `<option value="${text(t.id)}">${text(t.icon)} ${text(t.title)} (${text(t.category)}, ${text(t.severity)})</option>`).join("") +
      `<option value="${OWN}">Your own event…</option>`;
    if (template) $("#inject-template").value = template;
    $("#event-timeline tbody").innerHTML = events.body.events.slice().reverse().map((e) => {
      const moved = e.movements.filter((m) => m.moved);
      const shown = moved.length === 0 ? (e.at_ms > events.body.now_ms ? "not yet" : e.real ? "nothing beyond the usual" : "nothing (a red herring)")
        : moved.map((m) => `${text(m.stream)} ${m.count} vs ${m.usual.toFixed(0)} (${m.z >= 0 ? "+" : ""}${m.z.toFixed(1)} spreads)`).join("<br>");
      return `<tr class="${e.at_ms > events.body.now_ms ? "future" : ""}" data-event="${e.id}" data-moved="${moved.length}">` +
        `<td>${new Date(e.at_ms).toISOString().slice(0, 16)}</td><td>${text(e.icon)} <b>${text(e.title)}</b></td>` +
        `<td>${text(e.category)}, ${text(e.severity)}${e.injected ? ", injected" : ""}</td><td>${shown}</td></tr>`;
    }).join("");
  }
}

// Injects an event at a simulated instant (now when empty): a library
// template, or an event of the user's own described in the form. Each
// problem the coordinator names is shown and its field marked.
const OWN = "(own)";
let streamNames = [];

function fillStreams(select) {
  const chosen = select.value;
  select.innerHTML = streamNames.map((name) => `<option>${text(name)}</option>`).join("");
  if (chosen) select.value = chosen;
}

function addImpactRow() {
  const rows = $("#own-impacts");
  const j = rows.querySelectorAll(".impact").length;
  const path = `events[0].event.impact[${j}]`;
  const row = document.createElement("div");
  row.className = "row impact";
  row.innerHTML = `<label>Stream <select class="own-stream" data-path="${path}.stream"></select></label>` +
    `<label>Field (empty: its rate) <input class="own-field" size="10" data-path="${path}.field"></label>` +
    `<label>Multiply by <input class="own-multiply" size="5" value="2" inputmode="decimal" data-path="${path}.multiply"></label>` +
    `<label>After <input class="own-delay" size="5" placeholder="0s" data-path="${path}.delay"></label>` +
    `<label>For <input class="own-duration" size="5" value="6h" data-path="${path}.duration"></label>`;
  rows.append(row);
  fillStreams(row.querySelector(".own-stream"));
}
$("#own-add-impact").addEventListener("click", addImpactRow);
$("#inject-template").addEventListener("change", () => {
  $("#own-event").hidden = $("#inject-template").value !== OWN;
});

// The event of the form's own fields, in a library template's shape.
function ownEvent() {
  const event = { category: $("#own-category").value, severity: $("#own-severity").value, impact: [] };
  for (const [key, field] of [["title", "#own-title"], ["icon", "#own-icon"]]) {
    const value = $(field).value.trim();
    if (value) event[key] = value;
  }
  for (const row of document.querySelectorAll("#own-impacts .impact")) {
    const impact = { stream: row.querySelector(".own-stream").value };
    for (const key of ["field", "delay", "duration"]) {
      const value = row.querySelector(`.own-${key}`).value.trim();
      if (value) impact[key] = value;
    }
    // A number goes as one; anything else as typed, for the coordinator to name.
    const multiply = row.querySelector(".own-multiply").value.trim();
    if (multiply) impact.multiply = Number.isFinite(Number(multiply)) ? Number(multiply) : multiply;
    event.impact.push(impact);
  }
  return event;
}

$("#inject").addEventListener("submit", async (event) => {
  event.preventDefault();
  const run = $("#run").value;
  const at = $("#inject-at").value.trim();
  const template = $("#inject-template").value;
  const body = { events: [template === OWN ? { event: ownEvent(), at } : { template, at }] };
  for (const marked of document.querySelectorAll("#inject .invalid")) {
    marked.classList.remove("invalid");
    marked.removeAttribute("title");
  }
  const answer = await api(`/api/v1/runs/${run}/events`, { method: "POST", body: JSON.stringify(body) });
  const errors = answer.ok ? [] : answer.body.errors || [];
  $("#inject-status").textContent = answer.ok
    ? `injected ${answer.body.events.map((e) => e.title + " at " + new Date(e.at_ms).toISOString().slice(0, 16)).join(", ")}`
    : `not injected: ${errors.length ? `${errors.length} problem${errors.length === 1 ? "" : "s"}` : text(answer.body.detail)}`;
  $("#inject-errors").innerHTML = errors.map((e) => `<li><code>${text(e.path)}</code>: ${text(e.message)}</li>`).join("");
  for (const e of errors) {
    const field = document.querySelector(`#inject [data-path="${CSS.escape(e.path)}"]`);
    if (field) {
      field.classList.add("invalid");
      field.title = e.message;
    }
  }
  if (answer.ok) refreshStreams();
});

// One stream's last three simulated days by hour, or its last thirty by six
// hours: under the run's scenarios and injections, against its baseline,
// external events marked where they fell. The coordinator keeps a window
// it generated until the run's scenarios or events change.
let runEvents = [];
let shownStream = null;
async function showStreamHistory(stream) {
  const run = $("#run").value;
  shownStream = stream;
  $("#stream-history").hidden = false;
  $("#stream-history-title").textContent = stream;
  $("#stream-history-window").textContent = "generating…";
  const clock = await api(`/api/v1/runs/${run}/scenarios`);
  if (!clock.ok || !clock.body.sim_now_ms) return;
  const days = Number($("#stream-history-span").value);
  const block = (days > 3 ? 6 : 1) * 3600000;
  const until = clock.body.sim_now_ms - clock.body.sim_now_ms % block;
  const from = until - days * 86400000;
  const answer = await api(`/api/v1/runs/${run}/history?from=${new Date(from).toISOString()}&until=${new Date(until).toISOString()}` +
    `&block_seconds=${block / 1000}&patterns=${encodeURIComponent(stream)}`);
  if (!answer.ok || shownStream !== stream) return;
  const series = answer.body.series.find((s) => s.stream === stream);
  if (!series) return;
  const x = series.counts.map((_, i) => (answer.body.from_ms + i * answer.body.block_ms) / 1000);
  const marks = series.counts.map(() => null);
  let marked = 0;
  for (const e of runEvents) {
    const block = Math.floor((e.at_ms - answer.body.from_ms) / answer.body.block_ms);
    if (block >= 0 && block < marks.length) { marks[block] = series.counts[block]; marked += 1; }
  }
  const unit = block > 3600000 ? "6 hours" : "hour";
  $("#stream-history-window").textContent = `simulated time, ${new Date(from).toISOString().slice(0, 16)} to ${new Date(until).toISOString().slice(0, 16)} UTC, ` +
    `events per ${unit}; ${marked} external event${marked === 1 ? "" : "s"} in the window`;
  const element = $("#chart-stream");
  element.dataset.points = x.length;
  element.dataset.bent = series.counts.filter((c, i) => c !== series.baseline[i]).length;
  chartOf("stream", [
    { label: "baseline", color: "#98a2b3", extra: { dash: [6, 4] } },
    { label: "with scenarios and events", color: "#175cd3", extra: { width: 2 } },
    { label: "external event", color: "#b42318",
      extra: { width: 0, paths: () => null, points: { show: true, size: 9, fill: "#b42318" }, value: (u, v) => v == null ? "-" : "here" } },
  ], "events per " + unit, { label: "simulated time (UTC)", tz: "Etc/UTC" }).setData([x, series.baseline, series.counts, marks]);
}
$("#stream-history-span").addEventListener("change", () => { if (shownStream) { dropChart("stream"); showStreamHistory(shownStream); } });
$("#stream-history-close").addEventListener("click", () => { $("#stream-history").hidden = true; shownStream = null; });

$("#stop-scenarios").addEventListener("click", () => confirmThen("Stop the active scenarios (they start settling)?",
  () => api(`/api/v1/runs/${$("#run").value}/scenarios/stop`, { method: "POST" })));
$("#reset-scenarios").addEventListener("click", () => confirmThen("Reset every scenario: straight back to baseline?",
  () => api(`/api/v1/runs/${$("#run").value}/scenarios/reset`, { method: "POST" })));

