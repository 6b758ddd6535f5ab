#!/usr/bin/env bash
# Peer comparison in one sitting: one nginx worker pinned to core 0 answers
# 204 on /track; wrk -t1, Throng's HTTP engine, Goose and Locust (FastHttpUser)
# each run pinned to core 1 for the same time with the same connections.
# Prints requests/s, requests per generator CPU-second (user+sys: one nginx
# worker saturates before the fastest generators do), p50 and p99 as each
# tool reports them, peak memory, and every ratio to wrk; then latency
# accuracy against a target with injected stalls. Installs what it needs
# (Debian: nginx wrk; PyPI: locust; crates.io: goose), then runs.
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

measure wrk wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$url"
measure throng target/release/http_blast "$url" "$CONNECTIONS" "$SECONDS_PER_RUN" pooled
measure throng_own target/release/http_blast "$url" "$CONNECTIONS" "$SECONDS_PER_RUN" per_visitor
measure goose target/goose/release/goose-peer --host "http://127.0.0.1:$port/" --users "$CONNECTIONS" \
  --increase-rate "$CONNECTIONS" --run-time "${SECONDS_PER_RUN}s" --no-reset-metrics --no-error-summary
measure locust target/locust-venv/bin/locust -f benches/peers/locustfile.py --headless \
  -u "$CONNECTIONS" -r "$CONNECTIONS" -t "${SECONDS_PER_RUN}s" --host "http://127.0.0.1:$port" \
  --csv "$dir/locust" --only-summary

# Latency accuracy: the same kind of target, stalled for the last 2 s of every
# 10 s. Closed-loop tools time each request from its send, so the stall costs
# them one slow request per connection; Throng's sessions time each request
# from when it was due, so every request the stall delayed shows it.
stall_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 python3 benches/peers/stall_target.py "$stall_port" 10 2 &
stall_pid=$!
trap 'kill $nginx_pid $stall_pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$stall_port) 2>/dev/null && break; sleep 0.1; done
stall_url="http://127.0.0.1:$stall_port/track"
measure stall_wrk wrk -t1 -c"$CONNECTIONS" -d10s --latency "$stall_url"
measure stall_throng_closed target/release/http_blast "$stall_url" "$CONNECTIONS" 10 pooled
measure stall_throng_open target/release/http_blast "$stall_url" 1000 10 open

python3 - "$dir" <<'PY'
import csv, json, re, sys
d = sys.argv[1]
def m(name): return json.load(open(f"{d}/{name}.json"))
def log(name): return open(f"{d}/{name}.json.log").read()
def number(text): return float(text.replace(",", ""))
def wrk_ms(text, percent):
    value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
def blast(name):
    return json.loads(log(name).strip().splitlines()[-1])
rows = {}  # tool: (requests/s as the tool reports it, total requests, p50 ms, p99 ms, measurement)
wrk = log("wrk")
rows["wrk -t1"] = (number(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)),
                   number(re.search(r"(\d+) requests in", wrk).group(1)),
                   wrk_ms(wrk, 50), wrk_ms(wrk, 99), m("wrk"))
for name, label in [("throng", "throng pooled"), ("throng_own", "throng own conn")]:
    b = blast(name)
    rows[label] = (b["requests_per_second"], b["requests"], b["p50_ms"], b["p99_ms"], m(name))
goose_log = log("goose")
goose = re.search(r"GET track\s*\|\s*([\d,]+)\s*\|[^|]*\|\s*([\d.,]+)", goose_log)
# Goose's percentile table: "GET track | 50% | 75% | 98% | 99% | ..." in ms.
tail = re.findall(r"GET track\s*\|\s*([\d.,]+)\s*\|\s*([\d.,]+)\s*\|\s*([\d.,]+)\s*\|\s*([\d.,]+)\s*\|", goose_log)
percentiles = tail[-1] if tail else ("nan",) * 4
rows["goose"] = (number(goose.group(2)), number(goose.group(1)),
                 number(percentiles[0]), number(percentiles[3]), m("goose"))
with open(f"{d}/locust_stats.csv") as f:
    agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
rows["locust fasthttp"] = (float(agg["Requests/s"]), float(agg["Request Count"]),
                           float(agg["50%"]), float(agg["99%"]), m("locust"))
wrk_rps, wrk_total, _, _, wrk_m = rows["wrk -t1"]
wrk_per_cpu = wrk_total / max(wrk_m["cpu_seconds"], 0.01)
print(f"{'tool':<16} {'req/s':>9} {'cpu s':>6} {'req/cpu-s':>10} {'p50 ms':>7} {'p99 ms':>7} {'peak MB':>8} {'x wrk req/s':>11} {'x wrk req/cpu-s':>15}")
for name, (rps, total, p50, p99, meas) in rows.items():
    per_cpu = total / max(meas["cpu_seconds"], 0.01)
    print(f"{name:<16} {rps:>9.0f} {meas['cpu_seconds']:>6.2f} {per_cpu:>10.0f} {p50:>7.2f} {p99:>7.2f} "
          f"{meas['peak_rss_mb']:>8.1f} {rps / wrk_rps:>11.2f} {per_cpu / wrk_per_cpu:>15.2f}")

print()
print("latency with a 2 s stall in every 10 s (20 % of the time); for arrivals at a constant rate")
print("the true p90 is 1000 ms and the true p99 1900 ms")
stall = log("stall_wrk")
b_closed, b_open = blast("stall_throng_closed"), blast("stall_throng_open")
print(f"{'tool':<36} {'requests':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
stall_requests = number(re.search(r"(\d+) requests in", stall).group(1))
print(f"{'wrk -t1 (closed loop, from send)':<36} {stall_requests:>9.0f} "
      f"{wrk_ms(stall, 50):>8.1f} {wrk_ms(stall, 90):>8.1f} {wrk_ms(stall, 99):>8.1f}")
for label, b in [("throng closed loop (from send)", b_closed), ("throng open, 1000/s (from due time)", b_open)]:
    print(f"{label:<36} {b['requests']:>9} {b['p50_ms']:>8.1f} {b['p90_ms']:>8.1f} {b['p99_ms']:>8.1f}")
PY
