"use strict";
// The tables a campaign is shown with, as HTML rows: on the console and in
// reports alike.

// KPI cards of a report's totals.
function kpiCards(totals) {
  const d = totals.detection;
  return KPIS.map(([key, label, show]) =>
    `<div class="kpi" data-kpi="${key}" data-value="${kpiValue(key, totals)}"><span>${label}</span><b>${show(totals)}</b></div>`).join("") +
    (!d ? "" : DETECTION_KPIS.map(([key, label, show]) =>
      `<div class="kpi detection" data-kpi="${key}" data-value="${d[key]}"><span>${label}</span><b>${show(d)}</b></div>`).join(""));
}

// What a campaign's stored sessions say of its generator: over 1% of them
// started more than 250 ms late, and the agents, not the target, limited
// the run. Empty when they kept up.
function generatorNote(totals) {
  if (!totals.generator_limited) return "";
  return `<b>Generator-limited run</b>: ${number.format(totals.late_sessions)} of ${number.format(totals.sessions)} sessions ` +
    `(${percent(totals.late_sessions / totals.sessions)}) started more than 250 ms after their intended start. ` +
    `The agents, not the target, limited this run, and its latencies include their delay.`;
}

const BREAKDOWN_HEAD = `<th class="num">sessions</th><th class="num">page views</th><th class="num">pages/session</th>` +
  `<th class="num">bounce</th><th class="num">conversions</th><th class="num">revenue</th><th class="num">error rate</th>` +
  `<th class="num">p50 (ms)</th><th class="num">p90 (ms)</th><th class="num">p99 (ms)</th>`;

// One row per group of a breakdown (persona, journey, target or agent).
function breakdownRows(groups) {
  return (groups || []).map((g) =>
    `<tr data-key="${text(g.key)}"><td>${text(g.key)}</td><td class="num">${number.format(g.sessions)}</td><td class="num">${number.format(g.page_views)}</td>` +
    `<td class="num">${g.pages_per_session.toFixed(2)}</td><td class="num">${percent(g.bounce_rate)}</td><td class="num">${number.format(g.conversions)}</td>` +
    `<td class="num">${g.revenue.toFixed(2)}</td><td class="num">${percent(g.error_rate)}</td>` +
    `<td class="num">${g.latency_ms.p50.toFixed(2)}</td><td class="num">${g.latency_ms.p90.toFixed(2)}</td><td class="num">${g.latency_ms.p99.toFixed(2)}</td></tr>`).join("");
}

const REQUESTS_HEAD = `<tr><th>name</th><th class="num">requests</th><th class="num">failures</th><th class="num">error rate</th>` +
  `<th class="num">p50 (ms)</th><th class="num">p90 (ms)</th><th class="num">p99 (ms)</th><th class="num">p99.9 (ms)</th><th class="num">requests/s</th></tr>`;

// One row per request name (`journey.step`), as load testers list them;
// `seconds` is the run's length, for the average rate.
function requestRows(groups, seconds) {
  return (groups || []).map((g) =>
    `<tr data-key="${text(g.key)}" data-requests="${g.requests}"><td>${text(g.key)}</td><td class="num">${number.format(g.requests)}</td>` +
    `<td class="num">${number.format(Math.round(g.requests * g.error_rate))}</td><td class="num">${percent(g.error_rate)}</td>` +
    `<td class="num">${g.latency_ms.p50.toFixed(2)}</td><td class="num">${g.latency_ms.p90.toFixed(2)}</td>` +
    `<td class="num">${g.latency_ms.p99.toFixed(2)}</td><td class="num">${g.latency_ms.p999.toFixed(2)}</td>` +
    `<td class="num">${(g.requests / Math.max(1, seconds)).toFixed(2)}</td></tr>`).join("") ||
    `<tr><td colspan="9" class="muted">No requests yet.</td></tr>`;
}

const ERRORS_HEAD = `<th>class</th><th>message</th><th class="num">requests</th><th>first</th><th>last</th><th>example</th>`;

// One row per group of failed requests.
function errorRows(groups) {
  return groups.map((g) =>
    `<tr><td>${text(g.class)}</td><td>${text(g.message)}</td><td class="num">${number.format(g.requests)}</td>` +
    `<td>${time(g.first_ms)}</td><td>${time(g.last_ms)}</td>` +
    `<td>${text(g.example_path)}${g.example_status ? " → " + g.example_status : ""}` +
    `${g.example_excerpt ? `<div class="muted">${text(g.example_excerpt)}</div>` : ""}</td></tr>`).join("");
}

function errorSummary(report) {
  if (report.failed_requests === 0) return "No failed requests.";
  const groups = report.groups.length;
  return `${number.format(report.failed_requests)} failed requests in ${groups} group${groups === 1 ? "" : "s"}` +
    (report.other_requests ? `, ${number.format(report.other_requests)} more beyond the first 1,000 groups` : "");
}

// Campaigns side by side: a column each, a row per KPI.
function comparisonTable(reports) {
  return `<thead><tr><th></th>${reports.map((r) => `<th class="num">${text(r.name)}<div class="muted">${text(r.campaign_id)}</div></th>`).join("")}</tr></thead>` +
    `<tbody>${KPIS.map(([key, label, show]) => `<tr data-kpi="${key}"><td>${label}</td>` +
      reports.map((r) => `<td class="num" data-value="${kpiValue(key, r.totals)}">${show(r.totals)}</td>`).join("") + "</tr>").join("")}</tbody>`;
}

// Campaigns compared into `element`: the table, then requests/s and p99 of
// each overlaid (charts PREFIX-requests and PREFIX-p99).
function renderComparison(element, reports, resolution, prefix) {
  dropChart(prefix + "requests");
  dropChart(prefix + "p99");
  element.innerHTML = `<div class="table-scroll"><table class="compare" data-export="comparison">${comparisonTable(reports)}</table></div>` +
    `<div class="charts"><figure><figcaption>Requests per second</figcaption><div id="chart-${prefix}requests" class="chart"></div></figure>` +
    `<figure><figcaption>Latency p99 from each request's intended start (ms)</figcaption><div id="chart-${prefix}p99" class="chart"></div></figure></div>`;
  drawOverlaidCharts(reports, resolution, prefix);
  addTableExports(element);
}
