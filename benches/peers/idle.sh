#!/usr/bin/env bash
# Memory per idle concurrent visitor, each with its own keep-alive connection
# and 10 s think time, in one sitting: Throng (connections: per_visitor),
# Goose and Locust (FastHttpUser), against a local nginx.
# Per-visitor memory = (resident memory with N visitors − with 1) / N.
#   bash benches/peers/idle.sh [VISITORS]   (default 15000; open files limit this)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-15000}
source benches/peers/setup.sh
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log crit;
worker_rlimit_nofile $(ulimit -Hn);
events { worker_connections $(( $(ulimit -Hn) - 100 )); }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location /track { return 204; } }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
ulimit -n "$(ulimit -Hn)"

throng=$(target/release/idle_visitors "http://127.0.0.1:$port" "$N" 30 5 per_visitor)
peak() { python3 benches/peers/measure.py "$dir/m.json" -- "$@" >/dev/null; python3 -c "import json; print(json.load(open('$dir/m.json'))['peak_rss_mb'])"; }
goose() { GOOSE_THINK_SECS=10 peak target/goose/release/goose-peer --host "http://127.0.0.1:$port/" --users "$1" \
  --increase-rate 5000 --run-time 15s --no-print-metrics --quiet; }
locust() { peak target/locust-venv/bin/locust -f benches/peers/locustfile_idle.py --headless -u "$1" -r 2000 \
  -t 20s --host "http://127.0.0.1:$port" --only-summary; }
goose_1=$(goose 1); goose_n=$(goose "$N")
locust_1=$(locust 1); locust_n=$(locust "$N")
python3 - "$N" "$throng" "$goose_1" "$goose_n" "$locust_1" "$locust_n" <<'PY'
import json, sys
n = int(sys.argv[1]); t = json.loads(sys.argv[2])
g1, gn, l1, ln = map(float, sys.argv[3:])
rows = [("throng", t["bytes_per_idle_visitor"]),
        ("goose", (gn - g1) * 1024 * 1024 / n),
        ("locust fasthttp", (ln - l1) * 1024 * 1024 / n)]
print(f"{n} idle visitors, each with its own connection, 10 s think time")
print(f"{'tool':<16} {'bytes per visitor':>18} {'x throng':>9}")
for name, b in rows:
    print(f"{name:<16} {b:>18.0f} {b / rows[0][1]:>9.1f}")
PY
