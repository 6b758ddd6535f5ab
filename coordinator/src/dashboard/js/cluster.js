"use strict";
// The cluster: leader, agents, whether they keep up, their telemetry
// writers and health, the stream runs' sinks, and each node's recent log
// lines.

// Whether an agent keeps up with its shards' schedules: the sessions it
// started in its last second, how late the latest of them started, and its
// runtime's timer lag; or why it, not the target, limits the traffic now.
function keepsUp(g) {
  if (!g) return `<td class="generator muted">no report yet</td>`;
  const starts = g.sessions_started === 0 ? "no session started"
    : `${g.sessions_started} sessions started, the latest ${g.max_start_lag_ms.toFixed(0)} ms late`;
  const lags = `${starts}; runtime lag ${g.runtime_lag_ms.toFixed(0)} ms`;
  return g.limited
    ? `<td class="generator limited" title="${text(lags)}">generator-limited: ${text(g.reason)}</td>`
    : `<td class="generator">ok (${text(lags)})</td>`;
}

async function refreshCluster() {
  const answer = await api("/api/v1/cluster");
  if (!answer.ok) return;
  $("#leader").textContent = answer.body.leader;
  $("#agents tbody").innerHTML = answer.body.agents.map((a) => {
    // No telemetry yet: the agent has not sent its first stats report.
    const w = a.telemetry || {};
    const writer = a.telemetry
      ? `${text(w.store || "-")}, queue ${w.queue_depth}, written ${w.rows_written}, spilled ${w.rows_spilled}`
      : "-";
    // Agents report every second: a report older than 10 s means trouble.
    const health = w.error ? "writer: " + w.error
      : a.report_age_seconds === null ? "no report yet"
      : a.report_age_seconds > 10 ? `no report for ${a.report_age_seconds.toFixed(0)} s` : "ok";
    return `<tr data-agent="${text(a.id)}"><td>${text(a.id)}</td><td>${text(a.address)}</td><td>${a.capacity}</td><td>${a.shards}</td>` +
      `${keepsUp(a.generator)}<td class="writer">${writer}</td><td class="health health-${health === "ok" ? "ok" : "bad"}">${text(health)}</td></tr>`;
  }).join("");
  const runs = answer.body.stream_runs || [];
  $("#generation tbody").innerHTML = runs.length === 0
    ? `<tr><td colspan="6" class="muted">No stream run is generating.</td></tr>`
    : runs.map((r) => `<tr data-run="${text(r.id)}"><td>${text(r.id)}</td><td>${text(r.name)}</td><td>${text(r.mode)}</td>` +
      `<td>${text(r.state)}</td><td class="cadence">${r.emulated ? text(clockSaid(r).replace("emulated clock: ", "")) : "-"}</td>` +
      `<td>${r.scale.toPrecision(3)}</td></tr>`).join("");
  // Each sink of each stream run, per agent that delivers to it.
  const sinks = answer.body.agents.flatMap((a) => (a.sinks || []).map((s) => ({ ...s, agent: a.id })));
  const count = (n) => n.toLocaleString();
  $("#sinks tbody").innerHTML = sinks.length === 0
    ? `<tr><td colspan="10" class="muted">No stream run has sinks on the agents now.</td></tr>`
    : sinks.map((s) => `<tr data-sink="${text(s.sink)}"><td>${text(s.sink)}</td><td>${text(s.run_id)}</td><td>${text(s.agent)}</td>` +
      `<td>${text(s.kind)}</td><td class="num">${count(s.queued)}</td><td class="num">${count(s.written)}</td>` +
      `<td class="num">${count(s.spilled)}</td><td class="num">${count(s.replayed)}</td><td class="num">${count(s.rejected)}</td>` +
      `<td class="health health-${s.error ? "bad" : "ok"}">${s.error ? text(s.error) : "ok"}</td></tr>`).join("");
  const node = $("#log-node").value;
  $("#log-node").innerHTML = `<option value="">the coordinator</option>` +
    answer.body.agents.map((a) => `<option value="${text(a.id)}">${text(a.id)}</option>`).join("");
  $("#log-node").value = node;
}

// The newest 200 lines that pass the filters, newest first.
async function refreshLogs() {
  if (!$("#cluster").classList.contains("on")) return;
  const query = new URLSearchParams({ level: $("#log-level").value, limit: "200" });
  if ($("#log-node").value) query.set("node", $("#log-node").value);
  if ($("#log-grep").value.trim()) query.set("grep", $("#log-grep").value.trim());
  const answer = await api(`/api/v1/logs?${query}`);
  if (!answer.ok) return;
  const lines = answer.body.lines.slice().reverse();
  $("#log-summary").textContent = lines.length === 0 ? `no lines from ${answer.body.node} pass these filters`
    : `${lines.length} newest lines from ${answer.body.node}, newest first`;
  $("#logs").hidden = lines.length === 0;
  $("#logs tbody").innerHTML = lines.map((l) =>
    `<tr class="level-${text(l.level)}" data-seq="${l.seq}"><td>${new Date(l.at_ms).toLocaleTimeString()}</td><td>${text(l.node)}</td>` +
    `<td>${text(l.level)}</td><td>${text(l.target)}</td><td>${text(l.text)}</td></tr>`).join("");
}
$("#log-filters").addEventListener("submit", (event) => { event.preventDefault(); refreshLogs(); });
for (const id of ["#log-node", "#log-level", "#log-grep"]) $(id).addEventListener("change", refreshLogs);
$("#log-grep").addEventListener("input", refreshLogs);

