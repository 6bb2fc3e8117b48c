#!/usr/bin/env bash
# The MCP round-trip benchmark: `get_run` and `list_runs` (limit 20) over stdio against
# `sutradhar mcp`, with 10,000 runs in the run history; prints median and p99 of each.
# Target: p99 under 20 ms.
#
#   Benchmarks/mcp-benchmark.sh
#   RUNS=1000 ROUNDS=100 Benchmarks/mcp-benchmark.sh        (a quick check)
#
# Settings (environment):
#   RUNS=10000       runs in the history (seeded through sqlite3: see mcp-benchmark.py)
#   ROUNDS=500       timed calls of each tool
#   SUTRADHAR=PATH   the binary to measure; default: the release build, as the other benchmarks
#   PYTHON           a Python with the mcp package; default the set-up script's venv
#   WORK_PARENT=/tmp where the temporary cache goes
# Needs no daemon and no nix: only the history is read.
set -euo pipefail
BENCHMARK=mcp-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUNS="${RUNS:-10000}"
ROUNDS="${ROUNDS:-500}"
PYTHON="${PYTHON:-${SUTRADHAR_VENV:-/opt/sutradhar-venv}/bin/python3}"
"$PYTHON" -c 'import mcp' 2>/dev/null || die "no Python with the mcp package at $PYTHON; run scripts/setup.sh or set PYTHON"
use_release_binary

work="$(mktemp -d "${WORK_PARENT:-/tmp}/sutradhar-mcp-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "seeding $RUNS runs into $work/cache, then $ROUNDS timed calls of each tool"
"$PYTHON" "$REPO/Benchmarks/mcp-benchmark.py" "$SUTRADHAR" "$work/cache" "$RUNS" "$ROUNDS"
echo "command: RUNS=$RUNS ROUNDS=$ROUNDS SUTRADHAR=$SUTRADHAR Benchmarks/mcp-benchmark.sh"
