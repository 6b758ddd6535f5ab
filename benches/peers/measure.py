"""Runs a command and prints, as JSON, its user+sys CPU seconds and peak RSS
(of the command and everything it started), so every generator in the peer
comparison is measured the same way.

    python3 measure.py OUTPUT_FILE -- COMMAND ARGS...
"""
import json
import resource
import subprocess
import sys
import time


def main():
    out_path = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1 :]
    started = time.monotonic()
    with open(out_path + ".log", "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "exit": code,
        "wall_seconds": time.monotonic() - started,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024.0,
    }
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
