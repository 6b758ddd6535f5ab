"use strict";
// A report file (`throng report`, the console's report download): the data
// it carries, drawn with the console's own tables and charts.

(function drawReport() {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const root = document.getElementById("report");
  const names = data.analytics.map((r) => r.name).join(", ");
  document.getElementById("report-title").textContent = "Throng report: " + names;
  document.getElementById("report-generated").textContent = `generated ${new Date(data.generated_at_ms).toLocaleString()}; ` +
    `charts in buckets of ${data.resolution_ms / 1000} s; latency counts from each request's intended start`;
  const sections = [];
  if (data.analytics.length > 1) {
    sections.push(`<section class="card" id="side-by-side"><h2>Side by side</h2><div id="comparison"></div></section>`);
  }
  data.analytics.forEach((r, i) => {
    const campaign = data.campaigns[i] || {};
    const ended = campaign.ended_at_ms ? ` to ${new Date(campaign.ended_at_ms).toLocaleString()}` : " (still running when the report was made)";
    const errors = data.errors[i] || { failed_requests: 0, groups: [], other_requests: 0 };
    sections.push(`<section class="card campaign" data-campaign="${text(r.campaign_id)}">` +
      `<h2>${text(r.name)} <span class="muted">${text(r.campaign_id)}, ${text(campaign.state || "")}</span></h2>` +
      `<p class="muted">from ${new Date(campaign.created_at_ms).toLocaleString()}${ended}</p>` +
      (r.totals.generator_limited ? `<p class="notice generator">${generatorNote(r.totals)}</p>` : "") +
      `<div class="kpis">${kpiCards(r.totals)}</div>` +
      `<div class="charts"><figure><figcaption>Throughput (per second)</figcaption><div id="chart-c${i}-throughput" class="chart"></div></figure>` +
      `<figure><figcaption>Latency percentiles over time (ms)</figcaption><div id="chart-c${i}-latency" class="chart"></div></figure>` +
      `<figure><figcaption>Active sessions (average over each bucket)</figcaption><div id="chart-c${i}-active" class="chart"></div></figure></div>` +
      `<h3>Requests by name</h3><div class="table-scroll"><table class="requests" data-export="${text(r.campaign_id)}-requests-by-name"><thead>${REQUESTS_HEAD}</thead>` +
      `<tbody>${requestRows((data.requests || [])[i] || [], ((campaign.ended_at_ms || data.generated_at_ms) - campaign.created_at_ms) / 1000)}</tbody></table></div>` +
      `<h3>By persona</h3><div class="table-scroll"><table class="breakdown" data-export="${text(r.campaign_id)}-by-persona"><thead><tr><th>persona</th>${BREAKDOWN_HEAD}</tr></thead>` +
      `<tbody>${breakdownRows(r.groups)}</tbody></table></div>` +
      `<div class="charts"><figure><figcaption id="caption-c${i}-breakdown-sessions"></figcaption><div id="chart-c${i}-breakdown-sessions" class="chart"></div></figure>` +
      `<figure><figcaption id="caption-c${i}-breakdown-p99"></figcaption><div id="chart-c${i}-breakdown-p99" class="chart"></div></figure></div>` +
      `<h3>Errors</h3><p class="muted">${errorSummary(errors)}</p>` +
      (errors.groups.length ? `<div class="table-scroll"><table class="errors" data-export="${text(r.campaign_id)}-errors"><thead><tr>${ERRORS_HEAD}</tr></thead><tbody>${errorRows(errors.groups)}</tbody></table></div>` : "") +
      `</section>`);
  });
  root.innerHTML = sections.join("");
  addTableExports(root);
  if (data.analytics.length > 1) renderComparison(document.getElementById("comparison"), data.analytics, data.resolution_ms, "compare-");
  data.analytics.forEach((r, i) => {
    drawCampaignCharts(buckets(r.series || [], data.resolution_ms), data.resolution_ms, `c${i}-`);
    drawBreakdownCharts(r.groups, "persona", `c${i}-`);
  });
  document.body.dataset.ready = "true";
})();
