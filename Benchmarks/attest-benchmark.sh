#!/usr/bin/env bash
# The attestation benchmark: what signing provenance, smoke verdicts and the SBOM adds to a run,
# and what reusing them adds to a cached rerun. pipelines/example.yaml (nix-build, docker-load,
# two smoke stages) is run ROUNDS times, each on a fresh cache, then rerun cached on it:
#   1. per fresh run: the sum of every stage's "signed … in X ms" log line (the attestor times its
#      own work: statement, SBOM, signature, writes, links), and apart from it the time it waited
#      for the nix closure ("after waiting Y ms for nix path-info");
#   2. per cached rerun: the sum of its "reused the attestation … in X ms" lines;
#   3. cached rerun wall time (`duration_ms` of run-finished) with attestations and with
#      --no-attest, interleaved on the same cache, to see that the cached-rerun figure holds.
# The nix closure is asked while docker-load works (`nix path-info -r`, ~25-30 ms on its own; the
# attestor waits for it only if the load finished first: here the daemon already has the example's
# image after the first round, so the load is a few ms and the wait is most of nix's time; a load
# that sends the image is longer than nix) and then kept per store path.
# Prints median and p90 of each (milliseconds); target: attesting adds under 5 ms to a run.
#
#   Benchmarks/attest-benchmark.sh                          (debug binary .build/debug/sutradhar)
#   RELEASE=1 Benchmarks/attest-benchmark.sh                (build and measure the release binary)
#   SUTRADHAR=.build-bench/installed/sutradhar Benchmarks/attest-benchmark.sh
#
# Settings (environment): ROUNDS=15; DOCKER_HOST (default: /tmp/setup.out's, else the rootless
# socket of SUTRADHAR_USER); WORK_PARENT=/tmp. The signing key is made in the work folder, removed at exit.
set -euo pipefail
BENCHMARK=attest
# shellcheck source=Benchmarks/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${ROUNDS:-15}"
if [ -z "${DOCKER_HOST:-}" ] && [ -r /tmp/setup.out ]; then eval "$(cat /tmp/setup.out)"; fi
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
export NIX_REMOTE="${NIX_REMOTE:-daemon}"
if [ "${RELEASE:-0}" = 1 ]; then
    use_release_binary
else
    SUTRADHAR="${SUTRADHAR:-$REPO/.build/debug/sutradhar}"
    [ -x "$SUTRADHAR" ] || die "no binary at $SUTRADHAR: swift build --product sutradhar, or RELEASE=1"
fi
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "ROUNDS must be a positive whole number"

WORK="$(mktemp -d "${WORK_PARENT:-/tmp}/sutradhar-attest-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export XDG_CONFIG_HOME="$WORK/config"
PIPE="$REPO/pipelines/example.yaml"

# sum_ms FILE PATTERN [FIELD]: the sum of the "… in X ms" (or, FIELD=nix, "waiting X ms for nix")
# numbers of the log lines matching PATTERN.
sum_ms() {
    local expression=' in (?<ms>[0-9.]+) ms'
    [ "${3:-}" = nix ] && expression='waiting (?<ms>[0-9.]+) ms for nix'
    jq -r --arg p "$2" --arg e "$expression" 'select(.event == "log" and (.line | test($p))) | .line | (capture($e).ms // empty)' "$1" \
        | awk '{ s += $1 } END { printf "%.2f", s }'
}
duration() { jq -r 'select(.event == "run-finished") | .duration_ms' "$1"; }
stats() {  # stats NAME VALUES...: median and p90
    printf '%s\n' "${@:2}" | sort -g | awk -v name="$1" '{ v[NR] = $1 } END {
        m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)]; printf "%-44s median %8.2f  p90 %8.2f  (n=%d)\n", name, m, p, NR }'
}

say "binary $SUTRADHAR ($("$SUTRADHAR" --version)); $ROUNDS rounds; work folder $WORK"
signed=() waited=() reused=() with=() without=()
for round in $(seq 1 "$ROUNDS"); do
    cache="$WORK/cache-$round"
    "$SUTRADHAR" run "$PIPE" --cache-dir "$cache" --json >"$WORK/fresh.jsonl" 2>"$WORK/fresh.err" \
        || die "round $round: the fresh run failed: $(tail -n 3 "$WORK/fresh.err")"
    signed+=("$(sum_ms "$WORK/fresh.jsonl" '^signed ')")
    waited+=("$(sum_ms "$WORK/fresh.jsonl" '^signed ' nix)")
    # Alternate which cached rerun goes first, so neither always meets a warmer machine.
    order=(with without); [ $((round % 2)) -eq 0 ] && order=(without with)
    for mode in "${order[@]}"; do
        extra=(); [ "$mode" = without ] && extra=(--no-attest)
        "$SUTRADHAR" run "$PIPE" --cache-dir "$cache" --json "${extra[@]}" >"$WORK/$mode.jsonl" 2>"$WORK/$mode.err" \
            || die "round $round: the cached rerun ($mode) failed: $(tail -n 3 "$WORK/$mode.err")"
    done
    reused+=("$(sum_ms "$WORK/with.jsonl" '^reused ')")
    with+=("$(duration "$WORK/with.jsonl")")
    without+=("$(duration "$WORK/without.jsonl")")
    rm -rf "$cache"
done

echo "attestation cost per run, $ROUNDS rounds, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
stats "fresh run: attesting (3 statements + SBOM), ms" "${signed[@]}"
stats "fresh run: waiting for nix path-info, ms" "${waited[@]}"
stats "cached rerun: reusing the 3 envelopes, ms" "${reused[@]}"
stats "cached rerun wall time, attesting, ms" "${with[@]}"
stats "cached rerun wall time, --no-attest, ms" "${without[@]}"
