"""The growth benchmark's client (Benchmarks/growth-benchmark.sh makes the cache first).

    growth_benchmark.py SUTRADHAR CACHE_DIR ROUNDS CLI_ROUNDS [RERUN_ROUNDS PIPELINE]

Against one cache (its history of N runs and its build cache of M entries, both written by
sutradhar-history-generator through the library), times what grows with them:
  - the CLI: `runs ls`, `runs show ID` and `cache du`, CLI_ROUNDS processes each (wall time of the
    whole process, start-up included, as an agent pays it);
  - the dashboard (`sutradhar serve`): the runs page `/` and run pages `/runs/ID`, ROUNDS each on
    one keep-alive connection, from request to the body's last byte;
  - the MCP server (`sutradhar mcp`, the Python MCP SDK over stdio): `list_runs` (limit 20) and
    `get_run`, ROUNDS each, from the call to its parsed answer;
  - with a PIPELINE, `sutradhar run PIPELINE --json` once to warm the cache, then RERUN_ROUNDS
    cached reruns (each must say every stage cached), each a process, as an agent runs them;
  - `cache gc --max-size 1MiB` once, on a copy of the cache's entries (it evicts nearly all).
Prints one line per figure and, last, one JSON object with every p50/p99 (milliseconds).
"""

import http.client
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SUTRADHAR, CACHE, ROUNDS, CLI_ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
RERUN_ROUNDS, PIPELINE = (int(sys.argv[5]), sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else (0, None)
results = {}


def record(name, seconds):
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    results[name] = {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p99_ms": round(p99 * 1000, 2), "n": len(ordered)}
    print(f"  {name:<22} median {statistics.median(ordered) * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms   ({len(ordered)})", flush=True)


def timed_process(arguments):
    began = time.perf_counter()
    subprocess.run([SUTRADHAR] + arguments + ["--cache-dir", CACHE], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


listing = subprocess.run([SUTRADHAR, "runs", "ls", "--json", "--limit", "1000", "--cache-dir", CACHE],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
ids = [json.loads(line)["run"] for line in listing.splitlines() if line.strip()]
if not ids:
    sys.exit("the history lists no runs")

# --- the CLI ---------------------------------------------------------------------------------
for name, arguments in (("cli runs ls", lambda: ["runs", "ls"]), ("cli runs show", lambda: ["runs", "show", random.choice(ids)]),
                        ("cli cache du", lambda: ["cache", "du"])):
    timed_process(arguments())  # warm the page cache
    record(name, [timed_process(arguments()) for _ in range(CLI_ROUNDS)])

# --- a cached rerun ----------------------------------------------------------------------------
def rerun():
    began = time.perf_counter()
    run = subprocess.run([SUTRADHAR, "run", PIPELINE, "--json", "--cache-dir", CACHE], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    elapsed = time.perf_counter() - began
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    if summary.get("status") != "passed" or not all(stage.get("cached") for stage in summary.get("stages", [])):
        sys.exit(f"the rerun was not a passing, fully cached run: {run.stdout[-2000:]}")
    return elapsed


if PIPELINE:
    subprocess.run([SUTRADHAR, "run", PIPELINE, "--json", "--cache-dir", CACHE], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # builds once: what follows is cached
    rerun()  # the page cache
    record("cli cached rerun", [rerun() for _ in range(RERUN_ROUNDS)])

# --- the dashboard ---------------------------------------------------------------------------
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
server = subprocess.Popen([SUTRADHAR, "serve", "--listen", f"127.0.0.1:{port}", "--cache-dir", CACHE],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/")
            connection.getresponse().read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("sutradhar serve did not answer within 30 s")

    def get(path):
        began = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        return time.perf_counter() - began

    for _ in range(20):
        get("/")
        get(f"/runs/{random.choice(ids)}")
    record("dashboard /", [get("/") for _ in range(ROUNDS)])
    record("dashboard /runs/ID", [get(f"/runs/{random.choice(ids)}") for _ in range(ROUNDS)])
finally:
    server.terminate()
    server.wait(timeout=60)


# --- MCP ---------------------------------------------------------------------------------------
async def mcp_calls():
    parameters = StdioServerParameters(command=SUTRADHAR, args=["mcp", "--cache-dir", CACHE], cwd=CACHE)
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(20):
                await session.call_tool("list_runs", {"limit": 20})
                await session.call_tool("get_run", {"run": random.choice(ids)})
            listed, got = [], []
            for _ in range(ROUNDS):
                began = time.perf_counter()
                answer = await session.call_tool("list_runs", {"limit": 20})
                listed.append(time.perf_counter() - began)
                assert not answer.is_error, answer
                run = random.choice(ids)
                began = time.perf_counter()
                answer = await session.call_tool("get_run", {"run": run})
                got.append(time.perf_counter() - began)
                assert not answer.is_error and answer.structured_content["run"] == run, answer
            record("mcp list_runs", listed)
            record("mcp get_run", got)

anyio.run(mcp_calls)

# --- cache gc ----------------------------------------------------------------------------------
copy = CACHE.rstrip("/") + "-gc-copy"
shutil.rmtree(copy, ignore_errors=True)
shutil.copytree(CACHE, copy, symlinks=True)
began = time.perf_counter()
gc = subprocess.run([SUTRADHAR, "cache", "gc", "--max-size", "1MiB", "--json", "--cache-dir", copy],
                    check=True, stdout=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - began
evicted = len(json.loads(gc.stdout).get("evicted", []))
shutil.rmtree(copy, ignore_errors=True)
results["cache gc"] = {"seconds": round(elapsed, 3), "evicted": evicted}
print(f"  {'cli cache gc':<22} {elapsed:8.3f} s   ({evicted} entries evicted)")
print(json.dumps(results, sort_keys=True))
