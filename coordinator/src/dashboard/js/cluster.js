"use strict";
// The cluster: leader, agents, their telemetry writers and health.

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
      `<td class="writer">${writer}</td><td class="health health-${health === "ok" ? "ok" : "bad"}">${text(health)}</td></tr>`;
  }).join("");
}

