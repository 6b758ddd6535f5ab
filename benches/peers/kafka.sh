#!/usr/bin/env bash
# Events per CPU-second into Kafka: a stream run's backfill through a real
# agent with a Kafka sink (the path a user runs: generation, the sink's
# batching and librdkafka), next to librdkafka producing the same messages
# from a file (benches/src/bin/kafka_producer.rs, as `kcat -P` does), into
# the same broker (tansu, SQLite storage), in one sitting. CPU is that of
# the producing process: the agent, or the standard producer.
# Needs etcd and tansu (bash .ci/run installs both).
#   bash benches/peers/kafka.sh [DAYS]
set -euo pipefail
cd "$(dirname "$0")/../.."
DAYS=${1:-2}
cargo build --release --quiet -p throng-ops --bin throng -p throng-benches --bin kafka_producer
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
kafka=$(free_port)
mkdir -p "$dir/kafka"
(cd "$dir/kafka" && exec tansu broker --listener-url "tcp://127.0.0.1:$kafka" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka" --storage-engine sqlite://tansu.db) > "$dir/tansu.log" 2>&1 &
pids="$pids $!"
grpc=$(free_port)
"$bin" coordinator --etcd "127.0.0.1:$client" --grpc "127.0.0.1:$grpc" > "$dir/coordinator.log" 2>&1 &
pids="$pids $!"
${AGENT_ENV:-} "$bin" agent --etcd "127.0.0.1:$client" --grpc "127.0.0.1:$(free_port)" > "$dir/agent.log" 2>&1 &
agent=$!
pids="$pids $agent"
export THRONG_ENDPOINT="http://127.0.0.1:$grpc"
for _ in $(seq 150); do
  [ "$("$bin" cluster status --output json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["agents"]))' 2>/dev/null)" = "1" ] && break
  sleep 0.2
done
until=$(python3 -c "import datetime; print((datetime.datetime(2026,2,2)+datetime.timedelta(days=$DAYS)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
run() { # name, sinks
  cat > "$dir/$1.yaml" <<SPEC
kind: streams
name: $1
scale: 0.05
clock: { mode: backfill, from: "2026-02-02T00:00:00Z", until: "$until" }
sinks: [$2]
SPEC
  [ -n "$2" ] || sed -i '/^sinks: \[\]$/d' "$dir/$1.yaml"
  "$bin" campaign apply --start --file "$dir/$1.yaml"
}
# Waits until run $1 has completed.
wait_completed() {
  for _ in $(seq 3000); do
    [ "$("$bin" campaign get "$1" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = completed ] && return
    sleep 0.2
  done
  echo "run $1 did not finish" >&2; exit 1
}
# Waits until every sink of run $1 has written all the run generated (at
# least $2 events, when given) and is not retrying; prints the events written.
wait_written() {
  for _ in $(seq 3000); do
    written=$("$bin" cluster status --output json | python3 -c "
import json, sys
sinks = [s for a in json.load(sys.stdin)['agents'] for s in a['sinks'] if s['run_id'] == '$1']
done = sinks and all(s['queued'] == 0 and not s['error'] for s in sinks)
state = '$("$bin" campaign get "$1" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')'
written = sum(s['written'] + s['replayed'] for s in sinks)
print(written if done and state == 'completed' and written >= ${2:-0} else '')")
    [ -n "$written" ] && { echo "$written"; return; }
    sleep 0.2
  done
  echo "run $1 did not finish" >&2; exit 1
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# The messages, as files: a files sink writes every event as the Kafka
# sink would send it.
before=$(ticks "$agent")
files_run=$(run files "{ kind: files, path: \"$dir/files\" }")
expected=$(wait_written "$files_run")
files_cpu=$(python3 -c "print(($(ticks "$agent") - $before) / $hz)")

# The same run without sinks: what generating and storing it costs the
# agent, so the Kafka sink's own share can be told apart.
before=$(ticks "$agent")
bare_run=$(run bare "")
wait_completed "$bare_run"
bare_cpu=$(python3 -c "print(($(ticks "$agent") - $before) / $hz)")

# Throng: the same run's events into Kafka, through the agent.
thread_ticks() {
  for task in /proc/"$agent"/task/*; do
    printf '%s\t%s\t%s\n' "${task##*/}" "$(cat "$task/comm")" "$(awk '{ print $14 + $15 }' "$task/stat")"
  done
}
threads_before=$(thread_ticks)
before=$(ticks "$agent"); start=$(date +%s.%N)
# PROFILE=file: a perf profile of the whole machine while the agent sends
# (librdkafka starts its threads when the sink opens; `perf report --pid`);
# PROFILE_HZ and PROFILE_CALLS change perf's rate and call graphs.
if [ -n "${PROFILE:-}" ]; then echo "profiling; the agent is process $agent" >&2; perf record -F ${PROFILE_HZ:-499} ${PROFILE_CALLS:---call-graph dwarf,16384} -a -o "$PROFILE" > /dev/null 2>&1 & pids="$pids $!"; fi
kafka_run=$(run kafka "{ kind: kafka, brokers: \"127.0.0.1:$kafka\", topic: throng-bench }")
events=$(wait_written "$kafka_run" "$expected")
end=$(date +%s.%N); after=$(ticks "$agent")
# The agent's own idle cost over the same span is part of it: not removed.
throng_cpu=$(python3 -c "print(($after - $before) / $hz)")
throng_seconds=$(python3 -c "print($end - $start)")

# Where the agent's CPU went while it sent to Kafka, by thread name
# (librdkafka's are rdk:*; the runtime's tokio-rt-worker).
threads_after=$(thread_ticks)
python3 - "$hz" "$threads_before" "$threads_after" <<'PY'
import sys
hz = float(sys.argv[1])
def parse(text):
    ticks = {}
    for line in text.splitlines():
        tid, name, t = line.split("\t")
        ticks[tid] = (name, int(t))
    return ticks
before, after = parse(sys.argv[2]), parse(sys.argv[3])
by_name = {}
for tid, (name, t) in after.items():
    by_name[name] = by_name.get(name, 0) + t - before.get(tid, (name, 0))[1]
for name, t in sorted(by_name.items(), key=lambda kv: -kv[1])[:4]:
    print(f"  agent threads {name:<18} {t / hz:5.2f} CPU-s of the Kafka run")
PY

# The agent idle for 3 s after the run, its sink still open.
idle_before=$(thread_ticks); sleep 3; idle_after=$(thread_ticks)
python3 - "$hz" "$idle_before" "$idle_after" <<'PY'
import sys
hz = float(sys.argv[1])
parse = lambda text: {l.split("\t")[0]: (l.split("\t")[1], int(l.split("\t")[2])) for l in text.splitlines()}
before, after = parse(sys.argv[2]), parse(sys.argv[3])
by_name = {}
for tid, (name, t) in after.items():
    by_name[name] = by_name.get(name, 0) + t - before.get(tid, (name, 0))[1]
print("  agent idle 3 s after the run: " + ", ".join(f"{n} {t / hz:.2f} CPU-s" for n, t in sorted(by_name.items(), key=lambda kv: -kv[1])[:3]))
PY

# Anything the agent complained of while it ran (a fence, a restart).
grep -E "WARN|ERROR" "$dir/agent.log" | head -5 || true

# The standard producer: librdkafka, the same messages from the files.
standard=$(target/release/kafka_producer "127.0.0.1:$kafka" standard-bench $(find "$dir/files" -name '*.jsonl' | sort))

python3 - "$events" "$throng_seconds" "$throng_cpu" "$standard" "$bare_cpu" "$files_cpu" <<'PY'
import json, sys
events, seconds, cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
standard, bare, files = json.loads(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
throng_rate = events / cpu
standard_rate = standard["messages"] / standard["cpu_seconds"]
print(f"Throng stream run into Kafka: {events:,} events in {seconds:.1f} s, agent {cpu:.2f} CPU-s: {throng_rate:,.0f} events per CPU-second ({events / seconds:,.0f}/s)")
print(f"librdkafka from a file:       {standard['messages']:,} messages in {standard['seconds']:.1f} s, {standard['cpu_seconds']:.2f} CPU-s: {standard_rate:,.0f} per CPU-second ({standard['messages'] / standard['seconds']:,.0f}/s)")
print(f"ratio (events per CPU-second): {throng_rate / standard_rate:.2f}x")
sink = max(cpu - bare, 1e-9)
print(f"of the agent's CPU: the run without sinks {bare:.2f} CPU-s (generation and the telemetry store); "
      f"the run into hour files {files:.2f} CPU-s;")
print(f"  the Kafka sink's share {sink:.2f} CPU-s: {events / sink:,.0f} events per CPU-second, "
      f"{events / sink / standard_rate:.2f}x librdkafka from a file (a piece, not the path)")
PY
