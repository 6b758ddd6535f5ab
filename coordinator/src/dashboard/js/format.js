"use strict";
// How numbers read on the console and in reports, and the numbers a
// campaign is summed up by (the analytics report's totals).

const number = new Intl.NumberFormat("en");
const percent = (v) => (v * 100).toFixed(v < 0.1 ? 2 : 1) + " %";
// An instant as the reader's clock shows it.
const time = (ms) => new Date(ms).toLocaleTimeString();
// A span of seconds as people say it: 42 s, 3 min 20 s, 5 h 02 min, 2 d 4 h.
function span(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
// A rate to four significant digits.
const rate = (v) => Number(v.toPrecision(4)).toString();
const ms = (v) => v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + " ms";
// Each: its key (data-kpi), its label, and how its value reads.
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
// A share of judged visits, or that none was judged.
const judged = (share, of) => (of === 0 ? "none judged" : `${percent(share)} of ${number.format(of)}`);
// How the bot detector judged a browser campaign's visits (present only
// when it ran browser sessions).
const DETECTION_KPIS = [
  ["browser_sessions", "browser sessions", (d) => number.format(d.browser_sessions)],
  ["humans_judged_human", "people judged human", (d) => judged(d.humans_judged_human, d.human_sessions)],
  ["bots_judged_bot", "bots judged bots", (d) => judged(d.bots_judged_bot, d.bot_sessions)],
  ["retried_sessions", "visits run again", (d) => number.format(d.retried_sessions)],
];
// The raw value of the KPIs that are not a top-level field of the totals.
const RAW = { p50: (t) => t.latency_ms.p50, p90: (t) => t.latency_ms.p90, p99: (t) => t.latency_ms.p99 };
const kpiValue = (key, totals) => (RAW[key] ? RAW[key](totals) : totals[key]);

// Text as HTML, escaped.
function text(value) { const span = document.createElement("span"); span.textContent = value; return span.innerHTML; }
