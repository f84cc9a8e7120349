#!/usr/bin/env python3
"""Runs a command and measures its peak memory and wall time.

Usage: peak.py [--report FILE] COMMAND [ARG...]

Without --report, passes the command's stdout through with `"peak_mib": M` added to every line
that is a JSON object (bench/compare.sh). With --report FILE, passes stdout through unchanged
and writes `{"peak_mib": M, "wall_seconds": S}` to FILE (bench/labs.sh). M is the peak resident
memory of the command's process (its largest child included) in MiB, from
getrusage(RUSAGE_CHILDREN) after it exits: this Python holds no other child, so the figure is
the command's alone. S runs from just before the command starts to its exit. Exits with the
command's status.
"""
import json, resource, subprocess, sys, time

args = sys.argv[1:]
report = None
if args[:1] == ["--report"] and len(args) >= 2:
    report, args = args[1], args[2:]
if not args:
    sys.exit(__doc__.strip())
started = time.perf_counter()
done = subprocess.run(args, stdout=None if report else subprocess.PIPE, text=True)
wall_seconds = time.perf_counter() - started
peak_mib = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)  # Linux: KiB
if report:
    with open(report, "w") as f:
        json.dump({"peak_mib": peak_mib, "wall_seconds": round(wall_seconds, 3)}, f)
else:
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            record["peak_mib"] = peak_mib
            line = json.dumps(record)
        print(line)
sys.exit(done.returncode)
