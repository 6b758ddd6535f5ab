#!/usr/bin/env bash
# Throng's HTTP engine next to `wrk -t1`, in one sitting, against one local
# nginx worker pinned to core 0, each generator pinned to core 1.
# Prints requests/s, requests per generator CPU-second, and ratios to wrk.
#   bash benches/peers/http_vs_wrk.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
for tool in nginx wrk taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nginx wrk util-linux)"; exit 1; }
done
cargo build --release --quiet -p throng-benches --bin http_blast

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
trap 'kill $nginx_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/track"

# wrk: requests/s from its report, CPU from the shell's accounting of the child.
TIMEFORMAT='%U %S'
{ time taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "$url" > "$dir/wrk.out"; } 2> "$dir/wrk.time"
wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.out")
wrk_cpu=$(awk '{print $1 + $2}' "$dir/wrk.time")

throng_json=$(taskset -c 1 target/release/http_blast "$url" "$CONNECTIONS" "$SECONDS_PER_RUN")
throng_rps=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests_per_second'])" "$throng_json")
throng_cpu=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['cpu_seconds'])" "$throng_json")

python3 - "$wrk_rps" "$wrk_cpu" "$throng_rps" "$throng_cpu" "$SECONDS_PER_RUN" <<'PY'
import sys
wrk_rps, wrk_cpu, th_rps, th_cpu, secs = map(float, sys.argv[1:])
wrk_per_cpu = wrk_rps * secs / max(wrk_cpu, 0.01)
th_per_cpu = th_rps * secs / max(th_cpu, 0.01)
print(f"{'tool':<10} {'req/s':>10} {'cpu s':>7} {'req/cpu-s':>11} {'ratio req/s':>12} {'ratio req/cpu-s':>16}")
print(f"{'wrk -t1':<10} {wrk_rps:>10.0f} {wrk_cpu:>7.2f} {wrk_per_cpu:>11.0f} {1.0:>12.2f} {1.0:>16.2f}")
print(f"{'throng':<10} {th_rps:>10.0f} {th_cpu:>7.2f} {th_per_cpu:>11.0f} {th_rps / wrk_rps:>12.2f} {th_per_cpu / wrk_per_cpu:>16.2f}")
PY
