"use strict";
// Stream runs: scenarios, every stream against its baseline, one stream's history, external events.

// Stream runs: scenarios, applied after a confirmation.
async function refreshScenarios() {
  const run = $("#run").value;
  if (!run) return;
  const answer = await api(`/api/v1/runs/${run}/scenarios`);
  if (!answer.ok) return;
  const state = answer.body;
  $("#run-clock").textContent = state.sim_now_ms ? "simulated now: " + new Date(state.sim_now_ms).toISOString() : "";
  const phase = {};
  for (const r of state.runs) if (r.phase !== "settled") phase[r.scenario] = r.phase;
  $("#scenarios tbody").innerHTML = state.scenarios.map((s) =>
    `<tr id="scenario-${text(s.id)}" data-id="${text(s.id)}"><td>${text(s.name)}</td><td class="muted">${text(s.description)}</td>` +
    `<td class="phase phase-${phase[s.id] || "none"}">${phase[s.id] || ""}</td><td><button class="apply">Apply</button></td></tr>`).join("");
  for (const row of document.querySelectorAll("#scenarios tbody tr")) {
    row.querySelector(".apply").addEventListener("click", () =>
      confirmThen(`Apply ${row.dataset.id} to ${run}? Its streams bend at once on every agent.`,
        () => api(`/api/v1/runs/${run}/scenarios/${row.dataset.id}/apply`, { method: "POST" })));
  }
  const live = await api(`/api/v1/campaigns/${run}/live`);
  if (live.ok) $("#stream-events").textContent = live.body.stream_events;
}
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
  }
  const events = await api(`/api/v1/runs/${run}/events`);
  if (events.ok) {
    runEvents = events.body.events;
    $("#event-timeline").innerHTML = events.body.events.map((e) =>
      `<li class="${e.at_ms > events.body.now_ms ? "future" : ""}">${new Date(e.at_ms).toISOString().slice(0, 16)} ` +
      `${text(e.icon)} <b>${text(e.title)}</b> (${text(e.category)}, ${text(e.severity)}${e.injected ? ", injected" : ""})</li>`).join("");
  }
}
// One stream's last three simulated days in hours: under the run's scenarios
// and injections, against its baseline, external events marked where they
// fell.
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
  const HOUR = 3600000;
  const until = clock.body.sim_now_ms - clock.body.sim_now_ms % HOUR;
  const from = until - 72 * HOUR;
  const answer = await api(`/api/v1/runs/${run}/history?from=${new Date(from).toISOString()}&until=${new Date(until).toISOString()}` +
    `&block_seconds=3600&patterns=${encodeURIComponent(stream)}`);
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
  $("#stream-history-window").textContent = `simulated time, ${new Date(from).toISOString().slice(0, 16)} to ${new Date(until).toISOString().slice(0, 16)} UTC, ` +
    `events per hour; ${marked} external event${marked === 1 ? "" : "s"} in the window`;
  const element = $("#chart-stream");
  element.dataset.points = x.length;
  element.dataset.bent = series.counts.filter((c, i) => c !== series.baseline[i]).length;
  chartOf("stream", [
    { label: "baseline", color: "#98a2b3", extra: { dash: [6, 4] } },
    { label: "with scenarios and events", color: "#175cd3", extra: { width: 2 } },
    { label: "external event", color: "#b42318",
      extra: { width: 0, paths: () => null, points: { show: true, size: 9, fill: "#b42318" }, value: (u, v) => v == null ? "-" : "here" } },
  ], "events per hour", { label: "simulated time (UTC)", tz: "Etc/UTC" }).setData([x, series.baseline, series.counts, marks]);
}
$("#stream-history-close").addEventListener("click", () => { $("#stream-history").hidden = true; shownStream = null; });

$("#stop-scenarios").addEventListener("click", () => confirmThen("Stop the active scenarios (they start settling)?",
  () => api(`/api/v1/runs/${$("#run").value}/scenarios/stop`, { method: "POST" })));
$("#reset-scenarios").addEventListener("click", () => confirmThen("Reset every scenario: straight back to baseline?",
  () => api(`/api/v1/runs/${$("#run").value}/scenarios/reset`, { method: "POST" })));

