#!/usr/bin/env bash
# The path a user runs, against its peers, in one sitting: one nginx worker
# pinned to core 0 answers 204 on every path; on core 1, in turn:
#   - wrk -t1 on one path (the ceiling of one core's HTTP client);
#   - `throng up --agents 1 --no-demo` (coordinator, agent and embedded
#     store in one process) running campaigns of 5-page sessions without
#     think time: `http` targets at a rate one core keeps up with and at one
#     it cannot, then `matomo` and `ga4` targets (a Tracking API hit or a
#     Measurement Protocol event per page);
#   - Goose and Locust (FastHttpUser) running the same 5-request session in
#     a loop with as many users as wrk has connections;
#   - Goose again, held to the request rate of Throng's first campaign
#     (--throttle-requests): the same paced load from a closed-loop tool.
# Prints requests per CPU-second of the whole generator process (user+sys;
# for Throng from the campaign's start to its completion, read from
# /proc), requests per second, and each ratio to wrk; for Throng, whether
# the agent said it was generator-limited. Installs what it needs
# (see setup.sh), then runs; about three minutes.
#   bash benches/peers/campaign.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
source benches/peers/setup.sh
cargo build --release --quiet -p throng-ops --bin throng

dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location / { return 204; }
  }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
up_pid=""
trap 'kill $nginx_pid $up_pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
site="http://127.0.0.1:$port"
measure() { python3 benches/peers/measure.py "$dir/$1.json" -- taskset -c 1 "${@:2}"; }

measure wrk wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$site/"

# Throng: one process, pinned; each campaign's CPU from its start to its end.
grpc=$(free_port); http=$(free_port); demo=$(free_port)
taskset -c 1 target/release/throng up --agents 1 --no-demo --grpc "127.0.0.1:$grpc" \
  --http "127.0.0.1:$http" --demo "127.0.0.1:$demo" --no-browsers > "$dir/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$http/api/v1/health" >/dev/null && break; sleep 0.1; done
campaign() {  # NAME TARGET-YAML RATE SESSIONS
  cat > "$dir/$1.yaml" <<SPEC
name: $1
seed: 1
targets: [$2]
pages: ["/", "/p1", "/p2", "/p3", "/p4"]
session: { pages: { min: 5, max: 5 }, think_time: { min: 0s, max: 0s } }
load: { rate: $3, sessions: $4 }
request_timeout: 10s
SPEC
  python3 benches/peers/campaign_cpu.py "$up_pid" "127.0.0.1:$http" "$dir/$1.yaml" > "$dir/$1.json"
}
campaign throng_http "{ url: \"$site\" }" 3000 $((3000 * SECONDS_PER_RUN))
campaign throng_http_saturated "{ url: \"$site\" }" 20000 $((20000 * SECONDS_PER_RUN / 2))
campaign throng_matomo "{ url: \"$site/matomo.php\", kind: matomo, site_id: 1 }" 2000 $((2000 * SECONDS_PER_RUN))
campaign throng_ga4 "{ url: \"$site/mp/collect\", kind: ga4, measurement_id: G-BENCH, api_secret: s }" 2000 $((2000 * SECONDS_PER_RUN))
kill $up_pid; wait $up_pid 2>/dev/null || true; up_pid=""

GOOSE_SESSION_PAGES=5 measure goose target/goose/release/goose-peer --host "$site/" --users "$CONNECTIONS" \
  --increase-rate "$CONNECTIONS" --run-time "${SECONDS_PER_RUN}s" --no-reset-metrics --no-error-summary
GOOSE_SESSION_PAGES=5 measure goose_paced target/goose/release/goose-peer --host "$site/" --users "$CONNECTIONS" \
  --increase-rate "$CONNECTIONS" --run-time "${SECONDS_PER_RUN}s" --no-reset-metrics --no-error-summary \
  --throttle-requests $((3000 * 5))
measure locust target/locust-venv/bin/locust -f benches/peers/locustfile_session.py --headless \
  -u "$CONNECTIONS" -r "$CONNECTIONS" -t "${SECONDS_PER_RUN}s" --host "$site" \
  --csv "$dir/locust" --only-summary

python3 - "$dir" <<'PY'
import csv, json, re, sys
d = sys.argv[1]
def m(name): return json.load(open(f"{d}/{name}.json"))
def log(name): return open(f"{d}/{name}.json.log").read()
rows = []  # (label, requests, cpu seconds, wall seconds, note)
wrk = log("wrk")
rows.append(("wrk -t1 (one path)", float(re.search(r"(\d+) requests in", wrk).group(1)),
             m("wrk")["cpu_seconds"], m("wrk")["wall_seconds"], ""))
for name, label in [("throng_http", "throng campaign, http, 3,000 sessions/s"),
                    ("throng_http_saturated", "throng campaign, http, asked 20,000 sessions/s"),
                    ("throng_matomo", "throng campaign, matomo, 2,000 sessions/s"),
                    ("throng_ga4", "throng campaign, ga4, 2,000 sessions/s")]:
    r = m(name)
    notes = []
    if r["request_errors"]:
        notes.append(f"{r['request_errors']} failed ({r['generator_errors']} the generator's own)")
    if r["flagged_while_running"] or r["ran_generator_limited"]:
        notes.append(f"generator-limited (said while running: {'yes' if r['flagged_while_running'] else 'no'}; "
                     f"session start lag p99 {r['start_lag_p99_ms']:.0f} ms)")
    note = "; ".join(notes)
    rows.append((label, r["requests"], r["cpu_seconds"], r["wall_seconds"], note))
for name, label in [("goose", "goose, 5-page session loop"),
                    ("goose_paced", "goose, held to 15,000 requests/s")]:
    total = re.search(r"Aggregated\s*\|\s*([\d,]+)", log(name))
    rows.append((label, float(total.group(1).replace(",", "")) if total else 0.0,
                 m(name)["cpu_seconds"], m(name)["wall_seconds"], ""))
with open(f"{d}/locust_stats.csv") as f:
    agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
rows.append(("locust, 5-page session loop", float(agg["Request Count"]), m("locust")["cpu_seconds"],
             m("locust")["wall_seconds"], ""))
base = rows[0][1] / rows[0][2]
print(f"{'generator':48} {'requests':>10} {'req/s':>9} {'req/CPU-s':>10} {'x wrk':>6}")
for label, requests, cpu, wall, note in rows:
    per_cpu = requests / cpu if cpu else 0.0
    print(f"{label:48} {requests:10.0f} {requests / wall:9.0f} {per_cpu:10.0f} {per_cpu / base:6.2f} {note}")
paced = {label: requests / cpu for label, requests, cpu, _, _ in rows if cpu}
throng, goose = paced["throng campaign, http, 3,000 sessions/s"], paced["goose, held to 15,000 requests/s"]
print(f"at the same 15,000 requests/s: throng {throng:.0f} and goose {goose:.0f} requests per CPU-second ({throng / goose:.2f}x)")
PY
