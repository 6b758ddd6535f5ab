#!/usr/bin/env bash
# Peer comparison in one sitting: one nginx worker pinned to core 0 answers
# 204 on /track; wrk -t1, Throng's HTTP engine, Goose and Locust (FastHttpUser)
# each run pinned to core 1 for the same time with the same connections.
# Prints requests/s, requests per generator CPU-second (user+sys: one nginx
# worker saturates before the fastest generators do), peak memory, and every
# ratio to wrk. Installs what it needs (Debian: nginx wrk; PyPI: locust;
# crates.io: goose), then runs.
#   bash benches/peers/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
source benches/peers/setup.sh

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
    location /track { return 204; }
  }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/track"
measure() { python3 benches/peers/measure.py "$dir/$1.json" -- taskset -c 1 "${@:2}"; }

measure wrk wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "$url"
measure throng target/release/http_blast "$url" "$CONNECTIONS" "$SECONDS_PER_RUN" pooled
measure throng_own target/release/http_blast "$url" "$CONNECTIONS" "$SECONDS_PER_RUN" per_visitor
measure goose target/goose/release/goose-peer --host "http://127.0.0.1:$port/" --users "$CONNECTIONS" \
  --increase-rate "$CONNECTIONS" --run-time "${SECONDS_PER_RUN}s" --no-reset-metrics --no-error-summary
measure locust target/locust-venv/bin/locust -f benches/peers/locustfile.py --headless \
  -u "$CONNECTIONS" -r "$CONNECTIONS" -t "${SECONDS_PER_RUN}s" --host "http://127.0.0.1:$port" \
  --csv "$dir/locust" --only-summary

python3 - "$dir" <<'PY'
import csv, json, re, sys
d = sys.argv[1]
def m(name): return json.load(open(f"{d}/{name}.json"))
def log(name): return open(f"{d}/{name}.json.log").read()
def number(text): return float(text.replace(",", ""))
rows = {}  # tool: (requests/s as the tool reports it, total requests, measurement)
wrk = log("wrk")
rows["wrk -t1"] = (number(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)),
                   number(re.search(r"(\d+) requests in", wrk).group(1)), m("wrk"))
blast = json.loads(log("throng").strip().splitlines()[-1])
rows["throng pooled"] = (blast["requests_per_second"], blast["requests"], m("throng"))
blast = json.loads(log("throng_own").strip().splitlines()[-1])
rows["throng own conn"] = (blast["requests_per_second"], blast["requests"], m("throng_own"))
goose = re.search(r"GET track\s*\|\s*([\d,]+)\s*\|[^|]*\|\s*([\d.,]+)", log("goose"))
rows["goose"] = (number(goose.group(2)), number(goose.group(1)), m("goose"))
with open(f"{d}/locust_stats.csv") as f:
    agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
rows["locust fasthttp"] = (float(agg["Requests/s"]), float(agg["Request Count"]), m("locust"))
wrk_rps, wrk_total, wrk_m = rows["wrk -t1"]
wrk_per_cpu = wrk_total / max(wrk_m["cpu_seconds"], 0.01)
print(f"{'tool':<16} {'req/s':>9} {'cpu s':>6} {'req/cpu-s':>10} {'peak MB':>8} {'x wrk req/s':>11} {'x wrk req/cpu-s':>15}")
for name, (rps, total, meas) in rows.items():
    per_cpu = total / max(meas["cpu_seconds"], 0.01)
    print(f"{name:<16} {rps:>9.0f} {meas['cpu_seconds']:>6.2f} {per_cpu:>10.0f} {meas['peak_rss_mb']:>8.1f} "
          f"{rps / wrk_rps:>11.2f} {per_cpu / wrk_per_cpu:>15.2f}")
PY
