"""The MCP round-trip benchmark: `get_run` and `list_runs` (limit 20) over stdio
against `sutradhar mcp`, with RUNS runs in the history. Driven by Benchmarks/mcp-benchmark.sh.

Usage: python mcp-benchmark.py SUTRADHAR CACHE_DIR RUNS ROUNDS

The history is made by `sutradhar runs ls` (which creates and migrates the database) and then
filled through sqlite3 with RUNS finished runs of 3 stages each, as the recorder writes them.
Each round trip is timed from the client's call to its parsed answer (Python's
time.perf_counter), after WARMUP untimed calls of each tool.
"""

import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SUTRADHAR, CACHE, RUNS, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
WARMUP = 20


def seed():
    subprocess.run([SUTRADHAR, "runs", "ls", "--cache-dir", CACHE], check=True, stdout=subprocess.DEVNULL)
    database = sqlite3.connect(f"{CACHE}/runs/history.sqlite")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = []
    runs, stages = [], []
    for index in range(RUNS):
        when = start + timedelta(minutes=index)
        run = when.strftime("%Y%m%d-%H%M%S") + f"-{index % 65536:04x}"
        ids.append(run)
        commit = f"{index:040x}"
        stage_results = [{"name": name, "kind": kind, "status": "passed", "cached": False, "duration_ms": 100, "outputs": {}}
                         for name, kind in (("checkout", "checkout"), ("image", "nix-build"), ("smoke", "smoke"))]
        summary = json.dumps({"event": "run-finished", "schema": 1, "time": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "run": run,
                              "pipeline": f"p{index % 5}", "commit": commit, "status": "passed", "duration_ms": 300,
                              "stages": stage_results, "warnings": []}, separators=(",", ":"))
        runs.append((run, f"p{index % 5}", "/src", "main", commit, "agent", "passed",
                     when.strftime("%Y-%m-%d %H:%M:%S.000"), 300, 1, summary))
        stages += [(run, s["name"], s["kind"], "passed", 0, 100, None) for s in stage_results]
    database.executemany("INSERT INTO run (id, pipeline, source, ref, commitSHA, trigger, status, startedAt, durationMilliseconds, pid, summary)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?)", runs)
    database.executemany("INSERT INTO stage (runID, name, kind, status, cached, durationMilliseconds, error) VALUES (?,?,?,?,?,?,?)", stages)
    database.commit()
    database.close()
    return ids


def figures(name, samples):
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(round(0.99 * len(samples))) - 1)]
    print(f"{name:<24} median {statistics.median(samples) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms   ({len(samples)} calls)")
    return p99


async def main(ids):
    parameters = StdioServerParameters(command=SUTRADHAR, args=["mcp", "--cache-dir", CACHE], cwd=CACHE)
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            for _ in range(WARMUP):
                await session.call_tool("get_run", {"run": random.choice(ids)})
                await session.call_tool("list_runs", {"limit": 20})
            get_run, list_runs = [], []
            for _ in range(ROUNDS):
                run = random.choice(ids)
                began = time.perf_counter()
                answer = await session.call_tool("get_run", {"run": run})
                get_run.append(time.perf_counter() - began)
                assert not answer.is_error and answer.structured_content["run"] == run, answer
                began = time.perf_counter()
                answer = await session.call_tool("list_runs", {"limit": 20})
                list_runs.append(time.perf_counter() - began)
                assert len(answer.structured_content["runs"]) == 20, answer
    print(f"{RUNS} runs in the history, {ROUNDS} rounds")
    worst = max(figures("get_run", get_run), figures("list_runs (limit 20)", list_runs))
    print(f"target: p99 under 20 ms: {'met' if worst < 0.020 else 'NOT met'}")


anyio.run(main, seed())
