#!/usr/bin/env bash
# The control plane as agents grow: `many_agents` (two coordinators as
# processes, a real etcd, AGENTS real agents in one process) at each
# AGENTS:SHARDS size given, one after another in one sitting. Each run's
# JSON goes to target/many-agents.jsonl (under CARGO_TARGET_DIR when set); the growth plot to
# docs/images/many-agents.svg.
#   bash benches/cluster/many_agents.sh [AGENTS:SHARDS ...]   (default 100:10000 300:10000 1000:10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/scripts/install.sh
install_packages protobuf-compiler etcd-server etcd-client
cargo build --release --quiet -p throng-ops --bin throng -p throng-benches --bin many_agents
# A thousand agents hold several thousand sockets in this one process.
ulimit -n "$(ulimit -Hn)"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100:10000 300:10000 1000:10000)
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
results=$target/many-agents.jsonl
: > "$results"
for size in "${sizes[@]}"; do
  echo "== ${size%%:*} agents, ${size##*:} shards" >&2
  "$target/release/many_agents" "${size%%:*}" "${size##*:}" | tee -a "$results"
done
python3 benches/cluster/plot_many_agents.py "$results" docs/images/many-agents.svg
echo "plot: docs/images/many-agents.svg" >&2
