#!/usr/bin/env python3
"""Draws how the control plane grows with agents, from `many_agents` results.

    plot_many_agents.py RESULTS.jsonl OUT.svg

RESULTS.jsonl holds one `many_agents` JSON line per run. Four panels share the
x axis (agents): the leading coordinator's CPU (running, and with the watchers
on), its memory, the time until every shard runs (placed, and again after a
tenth of the agents vanished), and its reconcile round and API latency. Plain SVG, no
plotting library needed.
"""

import json
import sys

WIDTH, HEIGHT = 1040, 640
PANEL_W, PANEL_H = 400, 200
LEFT, TOP = 90, 60
GAP_X, GAP_Y = 90, 100
COLOURS = ["#1f6feb", "#d9480f", "#2f9e44"]


def nice_max(value):
    """A round number at or above `value` for an axis's top."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    for mult in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= mult * step:
            return mult * step
    return 10 * step


def number(value):
    return f"{value:g}" if value < 10_000 else f"{value:,.0f}"


def panel(x0, y0, title, unit, runs, series):
    """One panel: `series` is a list of (label, function of a run)."""
    agents = [r["agents"] for r in runs]
    x_max = nice_max(max(agents))
    values = [[f(r) for r in runs] for _, f in series]
    y_max = nice_max(max(max(v) for v in values))
    out = [f'<text x="{x0}" y="{y0 - 14}" font-size="15" font-weight="600">{title}</text>']
    # Axes, gridlines and ticks.
    for i in range(6):
        y_value = y_max * i / 5
        y = y0 + PANEL_H - PANEL_H * i / 5
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + PANEL_W}" y2="{y}" stroke="#e5e7eb"/>')
        out.append(
            f'<text x="{x0 - 8}" y="{y + 4}" font-size="11" text-anchor="end">{number(y_value)}</text>'
        )
    for a in sorted(set(agents)):
        x = x0 + PANEL_W * a / x_max
        out.append(f'<line x1="{x}" y1="{y0 + PANEL_H}" x2="{x}" y2="{y0 + PANEL_H + 5}" stroke="#374151"/>')
        out.append(
            f'<text x="{x}" y="{y0 + PANEL_H + 18}" font-size="11" text-anchor="middle">{a:,}</text>'
        )
    out.append(
        f'<line x1="{x0}" y1="{y0 + PANEL_H}" x2="{x0 + PANEL_W}" y2="{y0 + PANEL_H}" stroke="#374151"/>'
    )
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + PANEL_H}" stroke="#374151"/>')
    out.append(
        f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 36}" font-size="12" '
        f'text-anchor="middle">agents</text>'
    )
    out.append(
        f'<text x="{x0 - 58}" y="{y0 + PANEL_H / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 {x0 - 58} {y0 + PANEL_H / 2})">{unit}</text>'
    )
    # Lines, points and the legend.
    for k, ((label, _), ys) in enumerate(zip(series, values)):
        colour = COLOURS[k % len(COLOURS)]
        points = [
            (x0 + PANEL_W * a / x_max, y0 + PANEL_H - PANEL_H * v / y_max)
            for a, v in sorted(zip(agents, ys))
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
        lx, ly = x0 + 12, y0 + 14 + 16 * k
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly - 4}" font-size="11">{label}</text>')
    return out


def main():
    results, target = sys.argv[1], sys.argv[2]
    with open(results) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    runs.sort(key=lambda r: r["agents"])
    shards = sorted({r["shards"] for r in runs})
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" fill="#111827">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT - 60}" y="28" font-size="17" font-weight="700">The control plane as agents grow '
        f'({", ".join(f"{s:,}" for s in shards)} shards; one sitting, 2 cores)</text>',
    ]
    at = [(LEFT, TOP + 20), (LEFT + PANEL_W + GAP_X, TOP + 20)]
    at += [(x, y + PANEL_H + GAP_Y) for x, y in at]
    body += panel(
        *at[0],
        "Leading coordinator's CPU",
        "% of one core",
        runs,
        [
            ("running", lambda r: r["leader"]["cpu_running_pct"]),
            (
                f"with {runs[0]['watchers']['count']} watchers",
                lambda r: r["watchers"]["leader_cpu_pct"],
            ),
        ],
    )
    body += panel(
        *at[1],
        "Leading coordinator's memory",
        "resident MB",
        runs,
        [
            ("running", lambda r: r["leader"]["running_mb"]),
            ("idle, before the campaigns", lambda r: r["leader"]["idle_mb"]),
        ],
    )
    body += panel(
        *at[2],
        "Until every shard runs",
        "seconds",
        runs,
        [
            ("placed from nothing", lambda r: r["placed_all_s"]),
            ("again, after 10 % of agents vanished", lambda r: r["all_running_again_s"]),
        ],
    )
    body += panel(
        *at[3],
        "Reconcile round and API",
        "milliseconds",
        runs,
        [
            ("reconcile round, mean", lambda r: r["leader"]["reconcile_round_ms"]),
            ("API answer, p99", lambda r: r["api_ms"]["p99"]),
        ],
    )
    body.append("</svg>")
    with open(target, "w") as f:
        f.write("\n".join(body) + "\n")


if __name__ == "__main__":
    main()
