#!/usr/bin/env bash
# Every peer comparison in one sitting, one after another:
#   0. campaigns through a real agent versus wrk, Goose and Locust running the
#      same 5-page session (campaign.sh);
#   1. HTTP engine versus wrk, Goose and Locust, and latency accuracy against
#      a stalling target (run.sh);
#   2. memory per idle concurrent visitor, Throng versus Goose and Locust
#      (idle.sh);
#   3. stream events per second into ClickHouse, Throng versus
#      clickhouse-client inserting the same rows (stream_blast clickhouse).
# Installs what it needs on the way (nginx, wrk, Goose, Locust, and
# ClickHouse from Debian for part 3). About a quarter of an hour on two cores.
#   bash benches/peers/all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== 0. campaigns through a real agent"
bash benches/peers/campaign.sh
echo
echo "== 1. HTTP engine and latency accuracy"
bash benches/peers/run.sh
echo
echo "== 2. memory per idle visitor"
bash benches/peers/idle.sh
echo
echo "== 3. stream events into ClickHouse"
if ! command -v clickhouse-server >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi
target/release/stream_blast clickhouse 72
