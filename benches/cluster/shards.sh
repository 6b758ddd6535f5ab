#!/usr/bin/env bash
# The coordinator's cost per shard: one etcd, one coordinator and AGENTS real
# agent processes on this machine, then a campaign of SHARDS shards at a
# trickle of traffic (50 sessions/s in all, against a local stub). Prints the
# coordinator's resident memory and CPU idle, while the shards are placed and
# once they run. Needs etcd (ops/scripts/install.sh installs it).
#   bash benches/cluster/shards.sh [SHARDS] [AGENTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARDS=${1:-2000}
AGENTS=${2:-4}
cargo build --release --quiet -p throng-ops --bin throng
bin=target/release/throng
dir=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port); peer=$(free_port)
etcd --name bench --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" > "$dir/etcd.log" 2>&1 &
pids="$!"
grpc=$(free_port); http=$(free_port)
"$bin" coordinator --etcd "127.0.0.1:$client" --grpc "127.0.0.1:$grpc" --http "127.0.0.1:$http" > "$dir/coordinator.log" 2>&1 &
coordinator=$!
pids="$pids $coordinator"
for i in $(seq "$AGENTS"); do
  "$bin" agent --etcd "127.0.0.1:$client" --grpc "127.0.0.1:$(free_port)" \
    --endpoint "http://127.0.0.1:$grpc" > "$dir/agent-$i.log" 2>&1 &
  pids="$pids $!"
done
stub=$(free_port)
python3 -c "
import http.server, socketserver
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self): self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
socketserver.ThreadingTCPServer(('127.0.0.1', $stub), Answer).serve_forever()" &
pids="$pids $!"
for _ in $(seq 150); do curl -sf "127.0.0.1:$http/api/v1/health" > /dev/null && break; sleep 0.2; done
export THRONG_ENDPOINT="http://127.0.0.1:$grpc"
for _ in $(seq 100); do
  [ "$("$bin" cluster status --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["agents"]))')" = "$AGENTS" ] && break
  sleep 0.2
done
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$coordinator/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$coordinator/stat"; }
hz=$(getconf CLK_TCK)
sleep 5
echo "coordinator idle with $AGENTS agents: $(rss_mb) MB"
cat > "$dir/campaign.yaml" <<SPEC
name: many-shards
seed: 1
targets: [{ url: "http://127.0.0.1:$stub" }]
pages: ["/"]
session: { pages: { min: 1, max: 3 }, think_time: { min: 0s, max: 0s } }
load: { rate: 50, duration: 10m, shards: $SHARDS }
SPEC
id=$("$bin" campaign apply --file "$dir/campaign.yaml")
"$bin" campaign start "$id" > /dev/null
for phase in "placing and starting" "running"; do
  ticks=$(cpu_ticks)
  sleep 20
  cpu=$(python3 -c "print(f'{($(cpu_ticks) - $ticks) / $hz / 20 * 100:.1f}')")
  echo "$phase $SHARDS shards, 20 s: $(rss_mb) MB, ${cpu} % of a core"
done
"$bin" cluster status | head -1
