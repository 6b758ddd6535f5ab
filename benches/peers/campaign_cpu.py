"""Runs one campaign on a running `throng up` and prints, as JSON, the CPU
seconds the whole process spent from the campaign's start to its end (user +
sys of every thread, from /proc), the wall seconds, the requests and
failed requests the agents counted, and whether the agent said it was
generator-limited while the campaign ran and in its result.

    python3 campaign_cpu.py PID HTTP_ADDRESS SPEC_FILE
"""
import json
import os
import sys
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    # utime and stime are fields 14 and 15, counted after the command's
    # closing parenthesis (the command may hold spaces).
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def call(http, method, path, body=None):
    request = urllib.request.Request(f"http://{http}{path}", data=body, method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def main():
    pid, http, spec = sys.argv[1:4]
    document = open(spec, "rb").read()
    # The agent's judgement of whether it keeps up holds 5 s: let the
    # campaign before this one's pass, so each is judged on its own.
    time.sleep(6)
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    campaign = call(http, "POST", "/api/v1/campaigns?start=true", document)
    ident = campaign["id"]
    deadline = started + 600
    flagged = False
    polls = 0
    while True:
        state = call(http, "GET", f"/api/v1/campaigns/{ident}")["state"]
        if state not in ("created", "running", "paused"):
            break
        if time.monotonic() > deadline:
            sys.exit(f"{ident} still {state} after 600 s")
        polls += 1
        if polls % 10 == 0:
            flagged = flagged or bool(call(http, "GET", f"/api/v1/campaigns/{ident}/live")["limited_agents"])
        time.sleep(0.05)
    wall = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    # The agents' last reports arrive within a second of the end.
    live = call(http, "GET", f"/api/v1/campaigns/{ident}/live")
    for _ in range(40):
        if live["sessions_completed"] + live["sessions_failed"] >= live["sessions_started"] > 0:
            break
        time.sleep(0.1)
        live = call(http, "GET", f"/api/v1/campaigns/{ident}/live")
    print(json.dumps({
        "campaign": ident,
        "state": state,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "sessions": live["sessions_completed"] + live["sessions_failed"],
        "requests": live["requests"],
        "request_errors": live["request_errors"],
        "p50_ms": live["p50_ms"],
        "p99_ms": live["p99_ms"],
        "generator_errors": live["generator_errors"],
        "start_lag_p99_ms": live["start_lag_p99_ms"],
        "flagged_while_running": flagged,
        "ran_generator_limited": live["ran_generator_limited"],
    }))


if __name__ == "__main__":
    main()
