"use strict";
// Time charts drawn with uPlot (vendored, see ../vendor/README.md), shared by the console and its reports.

// The charts on the page by name (their box is #chart-NAME).
const charts = {};

// Buckets of a size that shows the whole run in about 150 points.
const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
function resolutionFor(spanMs) {
  return 1000 * (STEPS_S.find((s) => spanMs / 1000 / s <= 150) || 86400);
}

// Every bucket from the first to the last, empty ones included, so a pause
// shows as a gap in traffic rather than a line across it.
function buckets(series, resolution) {
  if (!series.length) return [];
  const at = new Map(series.map((p) => [p.start_ms, p]));
  const out = [];
  for (let t = series[0].start_ms; t <= series[series.length - 1].start_ms; t += resolution) out.push([t, at.get(t) || null]);
  return out;
}

function chartOf(name, seriesDefs, unit) {
  const element = $("#chart-" + name);
  if (!charts[name]) {
    charts[name] = new uPlot({
      width: element.clientWidth || 480, height: 240,
      scales: { x: { time: true } },
      series: [{ label: "time" }].concat(seriesDefs.map((d) => ({
        label: d.label, stroke: d.color, width: 1.5, spanGaps: false,
        value: (u, v) => v == null ? "-" : v.toFixed(d.digits) + " " + unit,
      }))),
      axes: [{ label: "time (your clock)" }, { label: unit, size: 60 }],
    }, [[]].concat(seriesDefs.map(() => [])), element);
  }
  return charts[name];
}

function drawCharts(points, resolution) {
  const seconds = resolution / 1000;
  const x = points.map(([t]) => t / 1000);
  const rate = (f) => points.map(([, p]) => (p ? f(p) : 0) / seconds);
  const latency = (q) => points.map(([, p]) => (p && p.requests ? p.latency_ms[q] : null));
  const throughput = [rate((p) => p.requests), rate((p) => p.sessions), rate((p) => p.requests * p.error_rate)];
  chartOf("throughput", [
    { label: "requests/s", color: "#175cd3", digits: 1 },
    { label: "sessions/s", color: "#12b76a", digits: 2 },
    { label: "errors/s", color: "#b42318", digits: 2 },
  ], "per second").setData([x].concat(throughput));
  chartOf("latency", [
    { label: "p50", color: "#12b76a", digits: 2 },
    { label: "p90", color: "#f79009", digits: 2 },
    { label: "p99", color: "#b42318", digits: 2 },
  ], "ms").setData([x, latency("p50"), latency("p90"), latency("p99")]);
  // What the charts hold, for scripts and tests.
  const element = $("#chart-throughput");
  element.dataset.points = points.length;
  element.dataset.sessions = points.reduce((sum, [, p]) => sum + (p ? p.sessions : 0), 0);
  element.dataset.requests = points.reduce((sum, [, p]) => sum + (p ? p.requests : 0), 0);
  element.dataset.lastRequestsPerSecond = throughput[0].length ? throughput[0][throughput[0].length - 1].toFixed(3) : "0";
}
// A chart follows its box's width: a window resized, or a tab shown again
// after the window changed while it was hidden.
const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = entry.target.id === "chart-stream" ? streamChart : charts[entry.target.id.replace("chart-", "")];
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && width !== chart.width) chart.setSize({ width, height: 240 });
  }
});
for (const element of document.querySelectorAll(".chart")) resized.observe(element);

