#!/usr/bin/env bash
# The scaling benchmark ("how far one machine goes"): N agents at once, each running
# `sutradhar run PIPELINE --commit SHA --json --trigger agent` on its own commit of the held-in
# example (Examples/hello-server), all on one cache, for N = 1, 2, 4, 8, 16. Prints, per N: the
# throughput (verdicts per minute), the median and p95 time to verdict, and where an agent's time
# went (start-up, queue for a run slot, checkout, nix build, load, smoke, the rest), from each
# run's own JSON events. Writes the same as JSON and draws an SVG plot.
#
#   sudo Benchmarks/scaling-benchmark.sh                  # N = 1 2 4 8 16, 3 rounds each (~6 min)
#   sudo Benchmarks/scaling-benchmark.sh --quick          # N = 1 2, 1 round (~20 s): a smoke check
#   sudo Benchmarks/scaling-benchmark.sh --mode remote    # builds offloaded to a remote builder
#
# Options:
#   --agents "1 2 4 8 16"  the N to measure
#   --rounds R             rounds per N (3; each round makes N new commits, so every run builds)
#   --quick                --agents "1 2" --rounds 1
#   --mode local|remote|both   local: nix builds on this machine (default). remote: the definition
#                          says `nix: { builders: [BUILDER], max-jobs: 0 }` (never build locally),
#                          BUILDER being $BUILDER (nix's machine format, e.g.
#                          "ssh-ng://root@10.231.0.2 x86_64-linux /path/key 2"), by default the
#                          second host of scripts/second-host.sh (started if it is not running, and
#                          then stopped at the end). A binary without the `builders:` field gets
#                          the same through `nix: { options: { builders, max-jobs } }`.
#                          both: local, then remote.
#   --json-out FILE        ($WORK_PARENT/sutradhar-scaling-benchmark.json)
#   --svg-out FILE         ($WORK_PARENT/sutradhar-scaling-benchmark.svg)
#
# Settings (environment): SUTRADHAR=PATH (default: the release build, as the other benchmarks),
# DOCKER_HOST (default the rootless socket), NIX_REMOTE (default daemon, as the pipeline user
# builds), WORK_PARENT=/tmp, SCALING_KEEP=1 (keep the work folder), MAX_RUNS (passed as --max-runs when set; else Sutradhar's default, one
# run slot per two cores and at least 2, is what agents get), BUILDER (for --mode remote).
#
# Every commit changes www/round.txt, which the image contains, so every run builds a derivation of
# its own, loads an image of its own and smokes it: nothing is cached between agents but the
# mirror (warmed by one untimed run per mode). Every verdict must be `passed`: a run that fails is
# counted and reported, never averaged in, and makes the script exit 1.
#
# Nothing is left behind: the images (by their repository, sutradhar-scaling-PID, and recorded
# IDs), any container labelled with the benchmark's pipeline, and the work folder (the repository,
# the caches and their nix out-links). Store paths stay (nix-collect-garbage frees them).
# No -e: a run that fails under load is a figure (counted in the table), not the end of the benchmark.
set -uo pipefail

AGENTS="1 2 4 8 16" ROUNDS=3 MODE=local JSON_OUT="" SVG_OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --agents) AGENTS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --quick) AGENTS="1 2"; ROUNDS=1; shift ;;
        --mode) MODE="$2"; shift 2 ;;
        --json-out) JSON_OUT="$2"; shift 2 ;;
        --svg-out) SVG_OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "scaling-benchmark.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
COMMAND_LINE="${MAX_RUNS:+MAX_RUNS=$MAX_RUNS }Benchmarks/scaling-benchmark.sh --agents \"$AGENTS\" --rounds $ROUNDS --mode $MODE"
WORK_PARENT="${WORK_PARENT:-/tmp}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
export NIX_REMOTE="${NIX_REMOTE:-daemon}"
JSON_OUT="${JSON_OUT:-$WORK_PARENT/sutradhar-scaling-benchmark.json}"
SVG_OUT="${SVG_OUT:-$WORK_PARENT/sutradhar-scaling-benchmark.svg}"

BENCHMARK=scaling-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HELPER="$REPO/Benchmarks/scaling_helper.py"

for n in $AGENTS; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || die "--agents must be positive whole numbers (got '$AGENTS')"
done
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "--rounds must be a positive whole number (got '$ROUNDS')"
case "$MODE" in
    local) MODES=(local) ;;
    remote) MODES=(remote) ;;
    both) MODES=(local remote) ;;
    *) die "--mode must be local, remote or both (got '$MODE')" ;;
esac
if [ -n "${MAX_RUNS:-}" ]; then
    [[ "$MAX_RUNS" =~ ^[0-9]+$ && "$MAX_RUNS" -ge 1 ]] || die "MAX_RUNS must be a positive whole number (got '$MAX_RUNS')"
fi
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0): nix builds into the store, as in scripts/setup.sh's machine"
[ -n "${EPOCHREALTIME:-}" ] || die "this bash has no \$EPOCHREALTIME (bash 5 or later is needed)"
for tool in jq git nix python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs what the benchmark needs)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static (the example image copies it)"
find_docker_cli "the benchmark's clean-up"
use_release_binary
S="$SUTRADHAR"
# Sutradhar's own default (RunOptions.defaultMaxRuns): one run slot per two cores, at least 2.
DEFAULT_MAX_RUNS=$(( $(nproc) / 2 > 2 ? $(nproc) / 2 : 2 ))

# --- work folder and clean-up ------------------------------------------------------------------
WORK="$(mktemp -d "$WORK_PARENT/sutradhar-scaling.XXXXXX")"
chmod 755 "$WORK"  # a nixbld builder may need to read the flake's files
IMAGE_REPO="sutradhar-scaling-$$"
PIPELINE_NAME="scaling-benchmark"
RUNS="$WORK/runs.jsonl"; : >"$RUNS"
PIDS=()
cd /  # the benchmark's processes run outside the work folder

SECOND_HOST_STARTED=false REMOTE_FORM=fields
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    local pid
    # An interrupted round: each agent's Sutradhar (the child of its subshell) gets SIGTERM, which
    # it handles like Ctrl-C (its containers go), and is waited for.
    for pid in "${PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    local ids
    ids="$("$DOCKER" ps -aq --filter "label=dev.sutradhar.pipeline=$PIPELINE_NAME" 2>/dev/null)"
    [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
    # The benchmark's images only: its own repository's tags and the IDs its loads reported.
    ids="$( { "$DOCKER" images -q --no-trunc "$IMAGE_REPO" 2>/dev/null
              cat "$WORK"/m-*.jsonl 2>/dev/null | jq -rR 'fromjson? | select(.event == "run-finished") | .stages[]? | select(.kind == "docker-load") | .outputs.image // empty'
            } | sort -u)"
    [ -n "$ids" ] && "$DOCKER" image rm -f $ids >/dev/null 2>&1
    # The second host only if this run started it: another user of it (a test) may be running.
    [ "$SECOND_HOST_STARTED" = true ] && "$REPO/scripts/second-host.sh" stop >/dev/null 2>&1
    [ -n "${SCALING_KEEP:-}" ] || rm -rf "$WORK"  # SCALING_KEEP=1 keeps it, to look into the runs' events
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the remote builder --------------------------------------------------------------------------
if [[ " ${MODES[*]} " == *" remote "* && -z "${BUILDER:-}" ]]; then
    SECOND_HOST="$REPO/scripts/second-host.sh"
    [ -x "$SECOND_HOST" ] || die "--mode remote needs BUILDER (a builder in nix's machine format) or scripts/second-host.sh"
    if ! "$SECOND_HOST" status >/dev/null 2>&1; then
        say "starting the second host (scripts/second-host.sh start; stopped again at the end)"
        SECOND_HOST_STARTED=true
    fi
    second_host_env="$("$SECOND_HOST" start 2>"$WORK/second-host.err")" \
        || die "scripts/second-host.sh start failed: $(tail -n 5 "$WORK/second-host.err")"
    BUILDER="$(eval "$second_host_env"; printf '%s' "${SECOND_HOST_BUILDER:-}")"
    REMOTE_STORE="$(eval "$second_host_env"; printf '%s' "${SECOND_HOST_STORE:-}")"
    [ -n "$BUILDER" ] || die "scripts/second-host.sh start printed no SECOND_HOST_BUILDER"
    nix --extra-experimental-features nix-command store ping --store "$REMOTE_STORE" >"$WORK/ping.out" 2>&1 \
        || die "the second host's store does not answer (nix store ping --store $REMOTE_STORE): $(tail -n 3 "$WORK/ping.out")"
fi

# --- the repository and the pipelines ------------------------------------------------------------
SRC="$WORK/src"
# Every commit's image is tagged with its round label in the benchmark's own repository, and every
# commit is a new derivation and image (common.sh's example_repository and example_commit).
example_repository "$SRC" "$IMAGE_REPO"
NONCE="$$-${EPOCHSECONDS:-$(date +%s)}"
new_commit() { example_commit "$SRC" "$1" "$NONCE"; }
new_commit base >/dev/null

# write_pipeline FILE MODE [FORM]: pipelines/example.yaml's image, load and smoke on the
# repository; in remote mode nix never builds locally and offloads to BUILDER, through the
# definition's `builders:`/`max-jobs:` fields (FORM=fields) or, for a binary without them, nix's
# own settings in `options:` (FORM=options).
write_pipeline() {
    local options='substituters: ""' fields=""
    if [ "$2" = remote ] && [ "${3:-fields}" = fields ]; then
        fields="
  builders: [\"$BUILDER\"]
  max-jobs: 0"
    elif [ "$2" = remote ]; then
        options+=", builders: \"$BUILDER\", max-jobs: \"0\""
    fi
    cat >"$1" <<YAML
version: 1
name: $PIPELINE_NAME
description: Benchmarks/scaling-benchmark.sh's pipeline ($2 builds; pipelines/example.yaml's image, load and smoke).
source:
  git: $SRC
  ref: main
nix:
  options: { $options }$fields
stages:
  image:
    nix-build:
      installable: .#docker-image
  load:
    needs: [image]
    docker-load: { from: image, tags: ["$IMAGE_REPO:latest"] }
  smoke:
    needs: [load]
    timeout: 120s
    smoke:
      image: load
      limits: { data: 256MiB, cpu-seconds: 60 }
      probe:
        exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
        expect-stdout: ok
        attempts: 60
        interval: 500ms
YAML
}

# agent FILE CACHE SHA MODE N ROUND INDEX PIPELINE: one agent's run, in the background of the
# caller. Its launch and exit times (epoch s) and exit status go to $RUNS as one JSON line when it
# ends: taken inside the subshell, so that each agent's own exit is timed, not the caller's wait.
agent() {
    local file="$1" cache="$2" sha="$3" mode="$4" n="$5" round="$6" index="$7" pipe="$8"
    local launched=$EPOCHREALTIME status=0 extra=()
    [ -n "${MAX_RUNS:-}" ] && extra=(--max-runs "$MAX_RUNS")
    "$S" run "$pipe" --cache-dir "$cache" --commit "$sha" --json --trigger agent "${extra[@]}" \
        >"$file" 2>"$file.err" || status=$?
    local exited=$EPOCHREALTIME
    printf '{"mode":"%s","agents":%s,"round":%s,"index":%s,"commit":"%s","launched":%s,"exited":%s,"exit_status":%s,"events":"%s"}\n' \
        "$mode" "$n" "$round" "$index" "$sha" "$launched" "$exited" "$status" "$file" >>"$RUNS"
}

say "work folder $WORK; binary $S; agents: $AGENTS; rounds $ROUNDS; mode(s) ${MODES[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for mode in "${MODES[@]}"; do
    PIPE="$WORK/pipeline-$mode.yaml" CACHE="$WORK/cache-$mode"
    write_pipeline "$PIPE" "$mode"
    if ! "$S" validate "$PIPE" >"$WORK/validate-$mode.out" 2>&1 && [ "$mode" = remote ]; then
        say "this binary does not know nix: { builders, max-jobs }: passing them as nix options instead"
        write_pipeline "$PIPE" "$mode" options
        REMOTE_FORM=options
    fi
    "$S" validate "$PIPE" >"$WORK/validate-$mode.out" 2>&1 \
        || die "the $mode pipeline does not validate with this binary: $(tail -n 5 "$WORK/validate-$mode.out")"
    # Untimed: clones the mirror and warms nix's evaluation of the flake, as any agent's cache
    # would be warm after its first run.
    sha="$(new_commit "$mode-warm")"
    agent "$WORK/m-$mode-warm.jsonl" "$CACHE" "$sha" "$mode" 0 0 0 "$PIPE"
    [ "$(jq -rR 'fromjson? | select(.event == "run-finished") | .status' "$WORK/m-$mode-warm.jsonl")" = passed ] \
        || die "the $mode warm-up run did not pass: $(tail -n 5 "$WORK/m-$mode-warm.jsonl.err")"
    for n in $AGENTS; do
        for ((round = 1; round <= ROUNDS; round++)); do
            shas=()
            for ((k = 0; k < n; k++)); do shas+=("$(new_commit "$mode-n$n-r$round-a$k")"); done
            PIDS=()
            for ((k = 0; k < n; k++)); do
                agent "$WORK/m-$mode-n$n-r$round-a$k.jsonl" "$CACHE" "${shas[$k]}" "$mode" "$n" "$round" "$k" "$PIPE" &
                PIDS+=($!)
            done
            for pid in "${PIDS[@]}"; do wait "$pid"; done
            PIDS=()
            say "$mode, N=$n, round $round: $(jq -rs --argjson n "$n" --argjson r "$round" --arg m "$mode" '
                map(select(.mode == $m and .agents == $n and .round == $r)) as $runs
                | "\($runs | map(select(.exit_status == 0)) | length) of \($runs | length) exited 0 in \(($runs | map(.exited) | max) - ($runs | map(.launched) | min) | . * 100 | round / 100) s"' "$RUNS")"
        done
    done
done

# --- the remote store received the builds ------------------------------------------------------
# nix's "building … on 'URI'" lines say where each image was built (the helper counts them); the
# second host's store is asked too: every passed remote run's image must be in it.
REMOTE_CHECK=""
if [[ " ${MODES[*]} " == *" remote "* && -n "${REMOTE_STORE:-}" ]]; then
    mapfile -t outs < <(cat "$WORK"/m-remote-n*.jsonl | jq -rR 'fromjson? | select(.event == "run-finished" and .status == "passed")
        | .stages[] | select(.name == "image") | .outputs.out // empty' | sort -u)
    found="$(nix --extra-experimental-features nix-command path-info --store "$REMOTE_STORE" "${outs[@]}" 2>/dev/null | grep -c '^/nix/store/')"
    REMOTE_CHECK="$found of ${#outs[@]}"
    say "the second host's store holds $REMOTE_CHECK images the remote runs built"
fi
remote_check_status=0
[ -z "$REMOTE_CHECK" ] || [ "$found" -eq "${#outs[@]}" ] || remote_check_status=1

# --- the figures -----------------------------------------------------------------------------------
status=0
python3 "$HELPER" summarise --runs "$RUNS" --json-out "$JSON_OUT" --svg-out "$SVG_OUT" \
    --command "$COMMAND_LINE" --binary "$S" --version "$("$S" --version 2>/dev/null)" \
    --repo-commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)" --started "$STARTED_AT" \
    --load-start "$LOAD_AT_START" --load-end "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --cpus "$(nproc)" --max-runs "${MAX_RUNS:-$DEFAULT_MAX_RUNS (the default)}" \
    --series-suffix "${MAX_RUNS:+, --max-runs $MAX_RUNS}" --builder "${BUILDER:-}" --remote-form "$REMOTE_FORM" \
    --remote-store-check "$REMOTE_CHECK" \
    || status=$?
say "JSON: $JSON_OUT; plot: $SVG_OUT"
[ "$remote_check_status" -eq 0 ] || { say "error: remote runs passed whose image is not in the second host's store: they were not built there"; status=1; }
exit "$status"
