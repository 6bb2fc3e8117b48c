#!/usr/bin/env bash
# The growth benchmark: what the commands, pages and tools that read the run history and the
# build cache cost as both grow. For each history size in SIZES it writes a fresh cache with
# that many runs and ENTRIES build-cache entries (sutradhar-history-generator, through the
# library's own recorder and BuildCache), then Benchmarks/growth_benchmark.py times `runs ls`,
# `runs show`, `cache du`, the dashboard's runs and run pages, MCP `list_runs`/`get_run`, a
# cached rerun of a one-stage nix-build pipeline (warmed once in that cache, so each timed rerun
# reads and adds to the big history) and a `cache gc` that evicts nearly every entry. A table of
# p99s by size comes last, and the figures as one JSON object (what growth_plot.py draws).
#
#   Benchmarks/growth-benchmark.sh                                  # 1,000 / 10,000 / 100,000 runs
#   SIZES="1000 10000" ROUNDS=100 Benchmarks/growth-benchmark.sh    # a quick check
#
# Settings (environment):
#   SIZES="1000 10000 100000"   history sizes (runs); add 100 for the cached rerun's baseline
#   ENTRIES=10000    build-cache entries in every cache
#   ROUNDS=300       timed requests / tool calls of each kind
#   CLI_ROUNDS=20    timed processes of each CLI command
#   RERUN_ROUNDS=15  timed cached reruns (0: none; they need nix, as scripts/setup.sh installs it)
#   FIGURES=PATH     also write the figures there as JSON (growth_plot.py makes the SVG from it)
#   SUTRADHAR=PATH   the binary to measure; default: the release build, as the other benchmarks
#   GENERATOR=PATH   the history generator; default: the release build beside it
#   PYTHON           a Python with the mcp package; default the set-up script's venv
#   WORK_PARENT=/tmp where the caches go (100,000 runs take about 1 GB)
# Targets: page and tool p99 under 50 ms at 100,000 runs; gc of 10,000 entries under 2 s.
set -euo pipefail
BENCHMARK=growth-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIZES="${SIZES:-1000 10000 100000}"
ENTRIES="${ENTRIES:-10000}"
ROUNDS="${ROUNDS:-300}"
CLI_ROUNDS="${CLI_ROUNDS:-20}"
RERUN_ROUNDS="${RERUN_ROUNDS:-15}"
PYTHON="${PYTHON:-${SUTRADHAR_VENV:-/opt/sutradhar-venv}/bin/python3}"
"$PYTHON" -c 'import mcp' 2>/dev/null || die "no Python with the mcp package at $PYTHON; run scripts/setup.sh or set PYTHON"
use_release_binary
use_release_product GENERATOR sutradhar-history-generator

work="$(mktemp -d "${WORK_PARENT:-/tmp}/sutradhar-growth-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The cached rerun's pipeline (one nix-build stage over a one-commit flake: see common.sh).
pipeline=""
if [ "$RERUN_ROUNDS" -gt 0 ]; then
    pipeline="$(one_stage_nix_pipeline "$work" growth)"
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
for size in $SIZES; do
    cache="$work/cache-$size"
    say "$size runs and $ENTRIES cache entries into $cache"
    began=$EPOCHREALTIME
    "$GENERATOR" history "$size" --cache-dir "$cache" >/dev/null
    "$GENERATOR" cache-entries "$ENTRIES" --cache-dir "$cache" >/dev/null
    say "written in $(echo "$EPOCHREALTIME - $began" | bc) s; timing"
    echo "history of $size runs, $ENTRIES cache entries:"
    "$PYTHON" "$REPO/Benchmarks/growth_benchmark.py" "$SUTRADHAR" "$cache" "$ROUNDS" "$CLI_ROUNDS" "$RERUN_ROUNDS" "$pipeline" \
        | tee "$work/figures-$size"
    rm -rf "$cache"
done
echo
echo "p99 in ms by history size (cache gc: seconds for $ENTRIES entries):"
"$PYTHON" - "$work" "${FIGURES:-}" $SIZES <<'PY'
import json, sys
work, figures, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {size: json.loads(open(f"{work}/figures-{size}").read().splitlines()[-1]) for size in sizes}
names = [name for name in rows[sizes[0]] if name != "cache gc"]
print("| | " + " | ".join(f"{int(size):,} runs" for size in sizes) + " |")
print("|---|" + "---|" * len(sizes))
for name in names:
    print(f"| {name} | " + " | ".join(f"{rows[size][name]['p99_ms']:.1f}" for size in sizes) + " |")
print("| cache gc (s) | " + " | ".join(f"{rows[size]['cache gc']['seconds']:.2f}" for size in sizes) + " |")
if figures:
    with open(figures, "w") as out:
        json.dump(rows, out, sort_keys=True)
PY
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "command: SIZES=\"$SIZES\" ENTRIES=$ENTRIES ROUNDS=$ROUNDS CLI_ROUNDS=$CLI_ROUNDS RERUN_ROUNDS=$RERUN_ROUNDS Benchmarks/growth-benchmark.sh"
