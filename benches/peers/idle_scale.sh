#!/usr/bin/env bash
# Memory per idle visitor at scale: VISITORS idle visitors (default 100,000),
# each with its own keep-alive connection and 10 s think time, split over
# PROCESSES generator processes (default 6) as agents on one machine would be,
# against one nginx with a worker and a port per process. The split is needed
# only because one process may hold 20,000 open files on the reference machine.
#   bash benches/peers/idle_scale.sh [VISITORS] [PROCESSES]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
P=${2:-6}
command -v nginx >/dev/null || { SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"; $SUDO apt-get install -y -qq nginx >/dev/null; }
cargo build --release --quiet -p throng-benches --bin idle_visitors
limit=$(ulimit -Hn)
per=$(( (N + P - 1) / P ))
[ "$per" -lt $(( limit - 100 )) ] || { echo "$per visitors per process exceeds the open-file limit $limit; use more processes" >&2; exit 2; }
dir=$(mktemp -d)
ports=()
listen=""
for _ in $(seq "$P"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ports+=("$port")
  listen="$listen listen 127.0.0.1:$port reuseport backlog=4096;"
done
cat > "$dir/nginx.conf" <<CONF
worker_processes $P;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log crit;
worker_rlimit_nofile $limit;
events { worker_connections $(( limit - 100 )); }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  server { $listen location /track { return 204; } }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; rm -rf "$dir"' EXIT
for port in "${ports[@]}"; do
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
done
ulimit -n "$limit"
for i in $(seq 0 $(( P - 1 ))); do
  target/release/idle_visitors "http://127.0.0.1:${ports[$i]}" "$per" 30 10 per_visitor > "$dir/out.$i" &
done
wait $(jobs -p | grep -v "^$nginx_pid$") 2>/dev/null || true
python3 - "$dir" "$P" <<'PY'
import json, sys
runs = [json.load(open(f"{sys.argv[1]}/out.{i}")) for i in range(int(sys.argv[2]))]
visitors = sum(r["visitors"] for r in runs)
added = sum(r["idle_kib"] - r["baseline_kib"] for r in runs) * 1024
sockets = sum(r["open_sockets"] for r in runs)
print(f"{visitors} idle visitors in {len(runs)} processes, holding {sockets} open sockets")
for i, r in enumerate(runs): print(f"  process {i}: {r['visitors']} visitors, {r['open_sockets']} sockets, {r['failed_visitors']} failed")
idle = visitors - sum(r["failed_visitors"] for r in runs)
print(f"resident memory added: {added / 2**20:.0f} MiB; bytes per idle visitor: {added / idle:.0f}")
PY
