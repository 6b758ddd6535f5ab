"use strict";
// Time charts drawn with uPlot (vendored, see ../vendor/README.md), shared
// by the console and its reports. A chart lives in the box #chart-NAME.

const charts = {};

// Every bucket from `first` to `last` (ms), each with the series' point
// there or null, so a pause shows as a gap in traffic rather than a line
// across it.
function bucketsBetween(series, resolution, first, last) {
  const at = new Map(series.map((p) => [p.start_ms, p]));
  const out = [];
  for (let t = first; t <= last; t += resolution) out.push([t, at.get(t) || null]);
  return out;
}
function buckets(series, resolution) {
  if (!series.length) return [];
  return bucketsBetween(series, resolution, series[0].start_ms, series[series.length - 1].start_ms);
}

// A chart follows its box's width: a window resized, or a tab shown again
// after the window changed while it was hidden.
const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = charts[entry.target.id.replace("chart-", "")];
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && width !== chart.width) chart.setSize({ width, height: 240 });
  }
});

function dropChart(name) {
  if (charts[name]) charts[name].destroy();
  delete charts[name];
}

// The chart `name` with these series (made anew when they change). `time`
// says whose clock the x axis shows; `tz` draws it in that IANA zone.
function chartOf(name, seriesDefs, unit, time = { label: "time (your clock)" }) {
  const element = document.getElementById("chart-" + name);
  const labels = seriesDefs.map((d) => d.label).join("\n");
  if (charts[name] && charts[name].labels !== labels) dropChart(name);
  if (!charts[name]) {
    const options = {
      width: element.clientWidth || 480, height: 240,
      scales: { x: { time: true } },
      series: [{ label: time.label.replace(/ \(.*\)$/, "") }].concat(seriesDefs.map((d) => Object.assign({
        label: d.label, stroke: d.color, width: 1.5, spanGaps: false,
        value: (u, v) => v == null ? "-" : v.toFixed(d.digits || 0) + " " + unit,
      }, d.extra || {}))),
      axes: [{ label: time.label }, { label: unit, size: 60 }],
    };
    if (time.tz) options.tzDate = (seconds) => uPlot.tzDate(new Date(seconds * 1000), time.tz);
    charts[name] = new uPlot(options, [[]].concat(seriesDefs.map(() => [])), element);
    charts[name].labels = labels;
    resized.observe(element);
  }
  return charts[name];
}

const rateOf = (points, seconds, f) => points.map(([, p]) => (p ? f(p) : 0) / seconds);
const latencyOf = (points, q) => points.map(([, p]) => (p && p.requests ? p.latency_ms[q] : null));

// One campaign's throughput and latency percentiles over its run, into the
// charts PREFIX-throughput and PREFIX-latency (no prefix: the console's).
function drawCampaignCharts(points, resolution, prefix = "") {
  const seconds = resolution / 1000;
  const x = points.map(([t]) => t / 1000);
  const throughput = [rateOf(points, seconds, (p) => p.requests), rateOf(points, seconds, (p) => p.sessions),
    rateOf(points, seconds, (p) => p.requests * p.error_rate)];
  chartOf(prefix + "throughput", [
    { label: "requests/s", color: "#175cd3", digits: 1 },
    { label: "sessions/s", color: "#12b76a", digits: 2 },
    { label: "errors/s", color: "#b42318", digits: 2 },
  ], "per second").setData([x].concat(throughput));
  chartOf(prefix + "latency", [
    { label: "p50", color: "#12b76a", digits: 2 },
    { label: "p90", color: "#f79009", digits: 2 },
    { label: "p99", color: "#b42318", digits: 2 },
  ], "ms").setData([x, latencyOf(points, "p50"), latencyOf(points, "p90"), latencyOf(points, "p99")]);
  chartOf(prefix + "active", [
    { label: "active sessions", color: "#7a5af8", digits: 1 },
  ], "sessions").setData([x, points.map(([, p]) => (p ? p.active_sessions : 0))]);
  // What the charts hold, for scripts and tests.
  const element = document.getElementById("chart-" + prefix + "throughput");
  element.dataset.points = points.length;
  element.dataset.sessions = points.reduce((sum, [, p]) => sum + (p ? p.sessions : 0), 0);
  element.dataset.requests = points.reduce((sum, [, p]) => sum + (p ? p.requests : 0), 0);
}

// Several campaigns overlaid on one time axis: requests/s and p99 of each,
// into PREFIX-requests and PREFIX-p99.
const PALETTE = ["#175cd3", "#b42318", "#12b76a", "#f79009"];
function drawOverlaidCharts(reports, resolution, prefix) {
  const starts = reports.flatMap((r) => (r.series || []).map((p) => p.start_ms));
  const first = starts.length ? Math.min(...starts) : 0;
  const last = starts.length ? Math.max(...starts) : -1;
  const each = reports.map((r) => bucketsBetween(r.series || [], resolution, first, last));
  const x = (each[0] || []).map(([t]) => t / 1000);
  const defs = reports.map((r, i) => ({ label: r.name + " (" + r.campaign_id + ")", color: PALETTE[i % PALETTE.length], digits: 1 }));
  chartOf(prefix + "requests", defs, "requests/s").setData([x].concat(each.map((points) => rateOf(points, resolution / 1000, (p) => p.requests))));
  chartOf(prefix + "p99", defs.map((d) => Object.assign({}, d, { digits: 2 })), "ms p99").setData([x].concat(each.map((points) => latencyOf(points, "p99"))));
  document.getElementById("chart-" + prefix + "requests").dataset.series = reports.length;
}

// A breakdown's groups as bars, one per group named on the x axis, into the
// chart NAME (made anew when the groups change, else given new values).
function barChartOf(name, labels, values, unit, color, digits = 0) {
  const element = document.getElementById("chart-" + name);
  const key = labels.join("\n");
  if (charts[name] && charts[name].labels !== key) dropChart(name);
  if (!charts[name]) {
    const options = {
      width: element.clientWidth || 480, height: 240,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
      series: [
        { label: "group", value: (u, i) => (i == null ? "-" : labels[i]) },
        { label: unit, stroke: color, fill: color + "99", width: 1, points: { show: false },
          paths: uPlot.paths.bars({ size: [0.6, 80] }),
          value: (u, v) => (v == null ? "-" : v.toFixed(digits) + " " + unit) },
      ],
      axes: [
        { splits: () => labels.map((_, i) => i), values: (u, splits) => splits.map((i) => labels[i] || "") },
        { label: unit, size: 60 },
      ],
      legend: { show: false },
    };
    charts[name] = new uPlot(options, [labels.map((_, i) => i), values], element);
    charts[name].labels = key;
    resized.observe(element);
  } else {
    charts[name].setData([labels.map((_, i) => i), values]);
  }
  element.dataset.groups = labels.length;
  return charts[name];
}

// A breakdown by `by`: sessions and p99 latency per group, into the charts
// PREFIX-breakdown-sessions and PREFIX-breakdown-p99.
function drawBreakdownCharts(groups, by, prefix = "") {
  const labels = (groups || []).map((g) => g.key);
  barChartOf(prefix + "breakdown-sessions", labels, (groups || []).map((g) => g.sessions), "sessions", "#175cd3");
  barChartOf(prefix + "breakdown-p99", labels, (groups || []).map((g) => g.latency_ms.p99), "ms p99", "#b42318", 2);
  for (const [id, what] of [["sessions", "Sessions"], ["p99", "Latency p99 (ms)"]]) {
    const caption = document.getElementById(`caption-${prefix}breakdown-${id}`);
    if (caption) caption.textContent = `${what} by ${by}`;
  }
}
