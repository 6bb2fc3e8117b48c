"""The start-up benchmark's timer (Benchmarks/startup-benchmark.sh builds and passes the binaries).

    startup_benchmark.py ROUNDS WORKDIR NAME=BINARY [NAME=BINARY ...]

For each binary, times `--version` and `validate example` (run in WORKDIR, which holds
pipelines/example.yaml) and, when RERUN_PIPELINE and RERUN_CACHE are set, a cached rerun
(`run RERUN_PIPELINE --json --cache-dir RERUN_CACHE`, warmed first): ROUNDS processes of each,
the binaries taken in turns so that the machine's drifting load weighs on each alike. Per process: wall time (from spawn to reaped),
CPU time (user + system, from wait4) and peak resident set (ru_maxrss). Prints the medians and
the 90th percentiles, then one JSON object with them.
"""

import json
import os
import statistics
import sys
import time

rounds, workdir = int(sys.argv[1]), sys.argv[2]
binaries = [argument.split("=", 1) for argument in sys.argv[3:]]
commands = {"--version": ["--version"], "validate example": ["validate", "example"]}
if os.environ.get("RERUN_PIPELINE"):
    commands["cached rerun"] = ["run", os.environ["RERUN_PIPELINE"], "--json", "--cache-dir", os.environ["RERUN_CACHE"]]


def measure(binary, arguments):
    devnull = os.open(os.devnull, os.O_WRONLY)
    began = time.perf_counter()
    pid = os.posix_spawn(binary, [binary] + arguments, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - began
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} {' '.join(arguments)} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


os.chdir(workdir)
samples = {(name, command): [] for name, _ in binaries for command in commands}
for name, binary in binaries:  # warm the page cache
    for arguments in commands.values():
        measure(binary, arguments)
for _ in range(rounds):
    for command, arguments in commands.items():
        for name, binary in binaries:
            samples[(name, command)].append(measure(binary, arguments))


def p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


results = {}
for (name, command), measured in samples.items():
    walls, cpus, rss = ([sample[index] for sample in measured] for index in range(3))
    figures = {"wall_ms": round(statistics.median(walls) * 1000, 2), "wall_p90_ms": round(p90(walls) * 1000, 2),
               "cpu_ms": round(statistics.median(cpus) * 1000, 2), "rss_mib": round(statistics.median(rss), 1)}
    results.setdefault(name, {})[command] = figures
    print(f"  {name:<10} {command:<18} wall median {figures['wall_ms']:6.2f} ms (p90 {figures['wall_p90_ms']:6.2f})"
          f"   cpu {figures['cpu_ms']:6.2f} ms   peak RSS {figures['rss_mib']:5.1f} MiB   ({len(measured)})")
print(json.dumps(results, sort_keys=True))
