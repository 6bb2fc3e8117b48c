#!/usr/bin/env bash
# The dashboard benchmark: `sutradhar serve` over a history of 10,000 runs.
#   - the runs page (/, first page) and a run page (/runs/ID): median and p99 over ROUNDS
#     requests each (target p99 under 50 ms), from a Python client on the same machine;
#   - the server's RSS after warm-up and every 100 requests up to 2*ROUNDS (it should be flat);
#   - CLIENTS followers of one live run over server-sent events (Python threads reading the
#     stream, not browsers): all must see every stage pass; delivery latency and server RSS/CPU.
# See Benchmarks/dashboard-benchmark.py for exactly what is timed.
#
#   Benchmarks/dashboard-benchmark.sh
#   RUNS=1000 ROUNDS=100 CLIENTS=10 Benchmarks/dashboard-benchmark.sh        (a quick check)
#
# Settings (environment):
#   RUNS=10000       runs in the history, written through the library's HistoryRecorder by
#                    sutradhar-history-generator (Benchmarks/HistoryGenerator), not by hand
#   ROUNDS=500       timed requests of each page
#   CLIENTS=50       SSE followers of the live run
#   STAGES=8 INTERVAL_MS=500   the live run: its stages, one finishing every INTERVAL_MS
#   LOG_MB=100 READERS=8       a run with a LOG_MB MB log, downloaded by READERS slow readers
#                    at once (LOG_MB=0 skips it)
#   SUTRADHAR=PATH   the binary to measure; default: the release build, as the other benchmarks
#   GENERATOR=PATH   the history generator; default: the release build beside it
#   PYTHON=python3   any Python 3 (standard library only)
#   WORK_PARENT=/tmp where the temporary cache goes
# Needs no daemon and no nix: the history is generated.
set -euo pipefail
BENCHMARK=dashboard-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUNS="${RUNS:-10000}"
ROUNDS="${ROUNDS:-500}"
CLIENTS="${CLIENTS:-50}"
STAGES="${STAGES:-8}"
INTERVAL_MS="${INTERVAL_MS:-500}"
LOG_MB="${LOG_MB:-100}"
READERS="${READERS:-8}"
PYTHON="${PYTHON:-python3}"
use_release_binary
use_release_product GENERATOR sutradhar-history-generator

work="$(mktemp -d "${WORK_PARENT:-/tmp}/sutradhar-dashboard-bench.XXXXXX")"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
say "writing $RUNS runs into $work/cache with the library's recorder"
"$GENERATOR" history "$RUNS" --cache-dir "$work/cache" >&2

port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$SUTRADHAR" serve --listen "127.0.0.1:$port" --cache-dir "$work/cache" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; die "sutradhar serve exited"; }
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { cat "$work/serve.log" >&2; die "sutradhar serve did not answer within 30 s"; }

say "server $server on 127.0.0.1:$port; $ROUNDS requests of each page, then $CLIENTS live followers"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
"$PYTHON" "$REPO/Benchmarks/dashboard-benchmark.py" "http://127.0.0.1:$port" "$server" "$work/cache" "$GENERATOR" \
    "$ROUNDS" "$CLIENTS" "$STAGES" "$INTERVAL_MS" "$LOG_MB" "$READERS"
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "command: RUNS=$RUNS ROUNDS=$ROUNDS CLIENTS=$CLIENTS STAGES=$STAGES INTERVAL_MS=$INTERVAL_MS LOG_MB=$LOG_MB READERS=$READERS Benchmarks/dashboard-benchmark.sh"
