#!/usr/bin/env bash
# The start-up benchmark: what a process costs before it does anything — `sutradhar --version`
# and `sutradhar validate example` (parse, read and check pipelines/example.yaml) — and a cached
# rerun of a one-stage nix-build pipeline (a flake whose builder writes one line; warmed once, so
# every timed run is start-up, a checkout lookup, a cache hit and the history's commit), as wall
# time, CPU time and peak resident set, ROUNDS processes each (Benchmarks/startup_benchmark.py).
#
#   Benchmarks/startup-benchmark.sh                                   # the release build
#   BEFORE=/path/to/older/sutradhar Benchmarks/startup-benchmark.sh   # and an older binary, in turns
#
# Settings (environment):
#   ROUNDS=40        processes of each command per binary
#   SUTRADHAR=PATH   the binary to measure; default: the release build, stripped, as the other
#                    benchmarks (statically linked Swift runtime: see common.sh)
#   BEFORE=PATH      a second binary to compare with (e.g. a build of an older commit)
#   RERUN=0          leave the cached rerun out (it needs nix, as scripts/setup.sh installs it)
# Target: `--version` under 10 ms wall.
set -euo pipefail
BENCHMARK=startup-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${ROUNDS:-40}"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "ROUNDS must be a positive whole number (got '$ROUNDS')"
use_release_binary
binaries=("after=$SUTRADHAR")
if [ -n "${BEFORE:-}" ]; then
    [ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not an executable"
    binaries=("before=$BEFORE" "${binaries[@]}")
fi
for binary in "${binaries[@]}"; do
    echo "${binary%%=*}: ${binary#*=} ($(stat -c %s "${binary#*=}") bytes; $(ldd "${binary#*=}" | grep -c '=>') shared libraries)"
done

work="$(mktemp -d "${WORK_PARENT:-/tmp}/sutradhar-startup-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ "${RERUN:-1}" != 0 ]; then
    RERUN_PIPELINE="$(one_stage_nix_pipeline "$work" startup-rerun)"
    export RERUN_PIPELINE RERUN_CACHE="$work/cache"
    "$SUTRADHAR" run "$RERUN_PIPELINE" --cache-dir "$RERUN_CACHE" --json >/dev/null || die "the cached rerun's first run failed"
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
python3 "$REPO/Benchmarks/startup_benchmark.py" "$ROUNDS" "$REPO" "${binaries[@]}"
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "command: ROUNDS=$ROUNDS${BEFORE:+ BEFORE=$BEFORE} SUTRADHAR=$SUTRADHAR Benchmarks/startup-benchmark.sh"
