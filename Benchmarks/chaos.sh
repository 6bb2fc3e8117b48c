#!/usr/bin/env bash
# The chaos suite: Sutradhar's promises under faults, tried many times at seeded random
# moments against the real rootless Docker daemon, nix and git, each row on a fresh cache.
#
#   sudo Benchmarks/chaos.sh [--rounds N] [--seed S] [--json-out FILE] [--only ROW,ROW...]
#
# Prints one table row per fault (tried, held, median and max of the row's timing, notes) and
# writes the same as JSON (default: $WORK_PARENT/sutradhar-chaos-report.json). Exits 0 only when
# every row that was tried held. Rows (names for --only):
#   kill9        kill -9 at a random moment of a full run (moments spread over checkout, nix build,
#                load and smoke by a calibration run; where each landed is read from the run's
#                events), then a normal run: it passes, no container labelled with the killed run,
#                no temporary folder in the cache, no GC root no nix-build entry names, no `nix`
#                process of the killed run 1 s after the kill, `cache verify` drops nothing.
#   signals      SIGTERM and SIGINT at a random moment: exit 130 within 1 s, the run's containers
#                gone, history `cancelled`.
#   diskfull     the cache on a small tmpfs pre-filled to leave a sweep of free sizes: exit 0 or 3
#                (3 with environment_problem), every entry whole, and after the filler is removed
#                the next run passes.
#   corruption   index/history/each entry kind cut in half, the checkout folder deleted, the GC
#                root deleted or redirected, the image removed, the mirror's packs deleted: the
#                next run passes and only the needed stages are not `cached`.
#   concurrency  8 runs on 8 commits, 8 runs on one commit, fresh caches: all pass, one build,
#                load and smoke per distinct key (from the summaries' `cached`), no history row lost.
#   hostile      2,000 mutated definitions through `validate`, mutated image archives (10 per
#                round, at least 48; 1,000 at --rounds 100) through a load stage: exit 0/1/2 only,
#                no hang past the stage timeout + 1 s, peak RSS (/usr/bin/time -v); the same archives
#                compared with the good one as reproduce compares two builds (exit 0 or a clear
#                error, within 10 s, peak RSS).
#   daemon       the Docker daemon "dies" during load and during smoke, nix-daemon during a build:
#                a python3 unix-socket proxy in front of each (Benchmarks/chaos_helper.py) is killed,
#                so the shared daemons are never touched. Exit 3 with environment_problem (within
#                2 s for Docker), then the next run passes.
#   secrets      a random marker passed in a smoke stage's env (a passing and a failing run) appears
#                nowhere in the events, stderr, the history, the logs or the cache.
#   frontdoors   a stage printing every C0, C1 and bidi control: none reaches a person's terminal raw
#                (run, --quiet, runs show, runs logs), the JSON keeps the exact text; `sutradhar mcp`
#                fed a traversal list of pipeline and stage names, fuzzed arguments (60 per round),
#                garbage and 5 MiB frames (Benchmarks/frontdoors.py): every hostile call refused,
#                no secret quoted, the server alive after each round, peak RSS under 96 MiB.
#   dockerfiles  hostile Dockerfiles and .dockerignore files (Benchmarks/frontdoors/) through a
#                docker-build stage, each --rounds time: a refused one (remote ADD, an
#                absent image by COPY --from, a FROM over lines, an escape directive...) exits 1,
#                its error naming `Dockerfile:LINE:`, before anything is sent to /build; a fine one
#                passes; none outlives its stage timeout + 1 s; SIGTERM during a context walk exits
#                130 within 1 s; and a listener on the host's address sees no connection (a control
#                run with --allow-network shows that the daemon does reach it).
#   attest       a run's signed provenance (docker-load) with a byte flipped, a byte overwritten,
#                cut short, or a line of random bytes at a random place, ROUNDS times through
#                `attest verify --key`: exit 1 with a reason every time (never 0, never a crash or a
#                hang past 5 s); the untouched envelope verifies (exit 0, and with --image); the
#                private key's bytes (raw, hex, base64) are in no file of the cache and no event; a
#                bundle (.intoto.jsonl) whose second line is tampered: exit 1 naming line 2.
#   traceparent  hostile W3C trace contexts (escape codes, 60 KB, wrong version, all-zero IDs,
#                upper case, ROUNDS random mutations of a valid one) as TRACEPARENT of `run` and as
#                `_meta.traceparent` of MCP `run_pipeline` (also numbers, objects, 1 MiB), traced to
#                a loopback OTLP receiver (Benchmarks/chaos_traceparent.py): every run passes, its
#                trace_id is the caller's for a valid context and a fresh one otherwise, its root span
#                arrives under it, no escape byte reaches stderr, the server keeps serving.
#
# Settings (environment): SUTRADHAR=PATH (default: the release build, as the other benchmarks),
# COMPARE=PATH (sutradhar-compare-benchmark for the hostile row; default: its release build),
# DOCKER_HOST (default the rootless socket), WORK_PARENT=/tmp. Everything the suite makes goes on
# exit: its containers (by their pipeline labels), its images (by their tags and recorded IDs), its
# tmpfs mounts, its proxies and the work folder. Store paths stay (nix-collect-garbage frees them).
# No -e: a fault makes commands fail on purpose, and each row reads their exit codes itself.
set -uo pipefail

ROUNDS=100 SEED=1 JSON_OUT="" ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --json-out) JSON_OUT="$2"; shift 2 ;;
        --only) ONLY="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo pipefail/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "chaos.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
WORK_PARENT="${WORK_PARENT:-/tmp}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
export NIX_REMOTE="${NIX_REMOTE:-daemon}"
JSON_OUT="${JSON_OUT:-$WORK_PARENT/sutradhar-chaos-report.json}"

BENCHMARK=chaos
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HELPER="$REPO/Benchmarks/chaos_helper.py"

[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "--rounds must be a positive whole number (got '$ROUNDS')"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed must be a whole number (got '$SEED')"
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0): it mounts tmpfs caches and builds into the nix store"
[ -n "${EPOCHREALTIME:-}" ] || die "this bash has no \$EPOCHREALTIME (bash 5 or later is needed)"
for tool in jq git nix python3 timeout fallocate; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs what the suite needs)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time (peak RSS is read from it)"
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static (the example image copies it)"
find_docker_cli "the suite's checks and clean-up"
DOCKER_SOCKET="${DOCKER_HOST#unix://}"
NIX_SOCKET=/nix/var/nix/daemon-socket/socket
[ -S "$NIX_SOCKET" ] || die "no nix-daemon socket at $NIX_SOCKET: start it (scripts/setup.sh)"
use_release_binary
S="$SUTRADHAR"
RANDOM=$SEED

# --- work folder and clean-up ------------------------------------------------------------------
WORK="$(mktemp -d "$WORK_PARENT/sutradhar-chaos.XXXXXX")"
chmod 755 "$WORK"  # a nixbld builder may need to read the flake's files
ROWS="$WORK/rows.jsonl"; : >"$ROWS"
IMAGE_REPO="sutradhar-chaos-$$"
HOSTILE_REPO="sutradhar-chaos-hostile"
PIPELINES=(chaos-suite chaos-hostile chaos-secret chaos-frontdoors chaos-dockerfiles)
export XDG_CONFIG_HOME="$WORK/config"  # the runs' signing key is made here, removed with the work folder
IMAGE_IDS="$WORK/image-ids"; : >"$IMAGE_IDS"
MOUNTS=() PROXIES=()
cd /  # the suite's processes run outside the work folder: a process in it is Sutradhar's

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    for pid in "${PROXIES[@]}"; do kill -9 "$pid" 2>/dev/null; done
    local name ids
    for name in "${PIPELINES[@]}"; do
        ids="$("$DOCKER" ps -aq --filter "label=dev.sutradhar.pipeline=$name" 2>/dev/null)"
        [ -n "$ids" ] && "$DOCKER" rm -f $ids >/dev/null 2>&1
    done
    ids="$( { "$DOCKER" images -q --no-trunc "$IMAGE_REPO" 2>/dev/null; "$DOCKER" images -q --no-trunc "$HOSTILE_REPO" 2>/dev/null; cat "$IMAGE_IDS"; } | sort -u)"
    [ -n "$ids" ] && "$DOCKER" image rm -f $ids >/dev/null 2>&1
    for mount in "${MOUNTS[@]}"; do umount -l "$mount" 2>/dev/null; done
    [ -n "${CHAOS_KEEP:-}" ] || rm -rf "$WORK"  # CHAOS_KEEP=1 keeps it, to look into a row
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wants() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
now() { printf '%s' "$EPOCHREALTIME"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

# add_row FAULT TRIED HELD "MS MS ..." NOTES: one row of the table and the JSON.
add_row() {
    local times
    times="$(printf '%s\n' $4 | jq -sc 'map(select(. != null))')"
    jq -nc --arg fault "$1" --argjson tried "$2" --argjson held "$3" --argjson times "$times" --arg notes "$5" '
        ($times | sort) as $t
        | {fault: $fault, tried: $tried, held: $held, notes: $notes}
          + (if ($t | length) > 0 then {median_ms: $t[(($t | length) - 1) / 2 | floor], max_ms: $t[-1]} else {} end)' >>"$ROWS"
    say "$(printf '%-32s tried %3s held %3s  %s' "$1" "$2" "$3" "$5")"
}
# fail_note TEXT: why a try did not hold, kept (the first 6) for the row's notes.
fail_note() { FAILS+=("$1"); }
fails_text() {
    [ ${#FAILS[@]} -eq 0 ] && return
    printf 'not held (%d): ' "${#FAILS[@]}"
    local f; for f in "${FAILS[@]:0:4}"; do printf '%s | ' "${f:0:240}"; done
}

# --- events --------------------------------------------------------------------------------
# Lines of FILE that are whole JSON (a run killed mid-write may leave half a line).
events() { jq -cR 'fromjson? // empty' "$1" 2>/dev/null; }
run_id() { events "$1" | jq -r 'select(.event == "run-started") | .run' | head -n 1; }
summary() { events "$1" | jq -c 'select(.event == "run-finished")' | tail -n 1; }
# cached FILE STAGE: true/false/"" from the summary.
cached() { summary "$1" | jq -r --arg s "$2" '.stages[] | select(.name == $s) | .cached'; }
# The stage(s) running when the events stop (checkout, image, load, smoke), else where the run was.
stage_at_end() {
    events "$1" | jq -rs '
        (map(select(.event == "stage-started" or .event == "stage-finished"))
         | reduce .[] as $e ({}; if $e.event == "stage-started" then .[$e.stage] = 1 else del(.[$e.stage]) end)
         | keys | join("+")) as $running
        | if $running != "" then $running
          elif any(.[]; .event == "run-finished") then "after the summary"
          elif any(.[]; .event == "stage-finished") then "between stages"
          elif any(.[]; .event == "run-started") then "before checkout"
          else "start-up" end'
}
# Epoch seconds of an event's RFC 3339 time (milliseconds kept).
EPOCH_OF='(.time[0:19] + "Z" | fromdate) + (.time[20:23] | tonumber / 1000)'

# --- the source, the pipelines -----------------------------------------------------------------
SRC="$WORK/src"
# Every commit gets its own image, tagged in the suite's own repository (common.sh).
example_repository "$SRC" "$IMAGE_REPO"
git_quiet() { git -C "$1" -c user.name=Chaos -c user.email=chaos@example.invalid "${@:2}"; }
# new_commit LABEL: a commit whose image differs from every other, printed (common.sh's
# example_commit): an image the daemon already has would only be tagged, not loaded.
NONCE="$$-${EPOCHSECONDS:-$(date +%s)}"
new_commit() { example_commit "$SRC" "$1" "$NONCE"; }
new_commit base >/dev/null

mkdir -p "$WORK/pipelines"
# write_pipeline FILE NAME [SMOKE_EXTRA_YAML] [EXPECT]: pipelines/example.yaml's image, load and
# smoke on the suite's repository.
write_pipeline() {
    cat >"$1" <<YAML
version: 1
name: $2
description: Benchmarks/chaos.sh's pipeline (pipelines/example.yaml's image, load and smoke).
source:
  git: $SRC
  ref: main
nix:
  options: { substituters: "" }
stages:
  image:
    nix-build:
      installable: .#docker-image
  load:
    needs: [image]
    docker-load: { from: image, tags: ["$IMAGE_REPO:latest"] }
  smoke:
    needs: [load]
    timeout: 60s
    smoke:
      image: load
${3:-}
      limits: { data: 256MiB, cpu-seconds: 60 }
      probe:
        exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
        expect-stdout: ${4:-ok}
        attempts: ${5:-20}
        interval: 500ms
YAML
}
PIPE="$WORK/pipelines/chaos-suite.yaml"
write_pipeline "$PIPE" chaos-suite

# run_to FILE CACHE SHA [ARGS...]: a run in the foreground; events to FILE, stderr to FILE.err.
run_to() {
    local file="$1" cache="$2" sha="$3"
    shift 3
    "$S" run "$PIPE" --cache-dir "$cache" --commit "$sha" --json "$@" >"$file" 2>"$file.err"
}
record_images() { summary "$1" | jq -r '.stages[]? | select(.kind == "docker-load") | .outputs.image // empty' >>"$IMAGE_IDS"; }

# --- calibration: when each stage runs in a full run on a warm mirror ----------------------
say "work folder $WORK; binary $S; rounds $ROUNDS, seed $SEED"
CAL_CACHE="$WORK/cal-cache"
run_to "$WORK/cal-1.jsonl" "$CAL_CACHE" "$(new_commit cal1)" || die "the calibration run failed: $(tail -n 3 "$WORK/cal-1.jsonl.err")"
record_images "$WORK/cal-1.jsonl"
CAL_SHA="$(new_commit cal2)"
launched="$(now)"
run_to "$WORK/cal-2.jsonl" "$CAL_CACHE" "$CAL_SHA" || die "the calibration run failed: $(tail -n 3 "$WORK/cal-2.jsonl.err")"
record_images "$WORK/cal-2.jsonl"
# WINDOW[stage]="START END" in ms after launch; run-started and run-finished too.
declare -A WINDOW
while read -r stage start end; do WINDOW[$stage]="$start $end"; done < <(
    events "$WORK/cal-2.jsonl" | jq -rs --argjson t0 "$launched" "
        (map(select(.event == \"stage-started\") | {key: .stage, value: ($EPOCH_OF)}) | from_entries) as \$s
        | (map(select(.event == \"stage-finished\") | {key: .stage, value: ($EPOCH_OF)}) | from_entries) as \$f
        | (.[] | select(.event == \"run-started\") | \"run \(($EPOCH_OF - \$t0) * 1000 | floor) 0\"),
          (.[] | select(.event == \"run-finished\") | \"end \(($EPOCH_OF - \$t0) * 1000 | floor) 0\"),
          (\$s | keys[] as \$k | \"\(\$k) \(((\$s[\$k] - \$t0) * 1000) | floor) \(((\$f[\$k] - \$t0) * 1000) | ceil)\")")
for stage in run checkout image load smoke end; do
    [ -n "${WINDOW[$stage]:-}" ] || die "the calibration run has no $stage event"
done
say "calibration (ms after launch): $(for k in run checkout image load smoke end; do printf '%s=%s ' "$k" "${WINDOW[$k]// /-}"; done)"
# pick_in START END: a seeded moment (ms) in [START, END].
pick_in() { local span=$(( $2 - $1 )); [ "$span" -gt 0 ] || span=1; echo $(( $1 + (RANDOM * 32768 + RANDOM) % span )); }
sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

# Temporary files and folders in a cache (AtomicFile's, the checkouts' and mirrors'), sorted.
temporaries() { find "$1" \( -name '.*.tmp' -o -name '.*.tmp-*' -o -name '.*.trash-*' \) -printf '%P\n' 2>/dev/null | sort; }

# --- kill -9 --------------------------------------------------------------------------------
row_kill9() {
    local cache="$WORK/kill-cache" held=0 tried=0 times=() i sha target moment pid rid landed problems
    declare -A LANDED=()
    FAILS=()
    cp -a "$CAL_CACHE" "$cache"  # a warm mirror, as in the calibration run
    local stages=(checkout image load smoke)
    NIX_AT_KILL=0
    for ((i = 1; i <= ROUNDS; i++)); do
        sha="$(new_commit "k$i")"
        temporaries "$cache" >"$WORK/temps-before"
        target="${stages[$(( RANDOM % 4 ))]}"
        read -r start end <<<"${WINDOW[$target]}"
        moment="$(pick_in "$start" "$end")"
        "$S" run "$PIPE" --cache-dir "$cache" --commit "$sha" --json >"$WORK/k$i.jsonl" 2>"$WORK/k$i.jsonl.err" &
        pid=$!
        sleep_ms "$moment"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        landed="$(stage_at_end "$WORK/k$i.jsonl")"
        landed="${landed//probe-from-sidecar/smoke}"
        LANDED[$landed]=$(( ${LANDED[$landed]:-0} + 1 ))
        rid="$(run_id "$WORK/k$i.jsonl")"
        tried=$((tried + 1))
        problems=""
        # No nix process of the killed run (its command line names the cache) within 1 s: the
        # kernel ends a child tied to its parent's death at once; 1 s allows for a loaded machine.
        local deadline=$(( ${EPOCHREALTIME/./} / 1000 + 1000 )) left first=1
        while :; do
            left="$(grep -lsa "$cache/" /proc/[0-9]*/cmdline 2>/dev/null | while read -r f; do
                p="${f#/proc/}"; p="${p%/cmdline}"; [ "$(cat "/proc/$p/comm" 2>/dev/null)" = nix ] && echo "$p"; done)"
            [ -n "$left" ] && [ "$first" = 1 ] && NIX_AT_KILL=$((NIX_AT_KILL + 1))
            first=0
            [ -z "$left" ] && break
            [ $(( ${EPOCHREALTIME/./} / 1000 )) -ge "$deadline" ] && { problems+=" nix process $left outlived the kill by 1 s;"; break; }
            sleep 0.1
        done
        local t0; t0="$(now)"
        if run_to "$WORK/k$i-next.jsonl" "$cache" "$sha"; then
            times+=("$(ms_since "$t0")")
            record_images "$WORK/k$i-next.jsonl"
        else
            problems+=" the next run exited $? ($(tail -n 1 "$WORK/k$i-next.jsonl.err" | cut -c1-100));"
        fi
        if [ -n "$rid" ] && [ -n "$("$DOCKER" ps -aq --filter "label=dev.sutradhar.run=$rid")" ]; then
            problems+=" a container of $rid is left;"
        fi
        # Temporary files of the killed run (a leftover is reported by the round that left it).
        local temps; temps="$(temporaries "$cache" | comm -13 "$WORK/temps-before" -)"
        [ -n "$temps" ] && problems+=" temporary files left: $(echo ${temps:0:160});"
        local root key
        for root in "$cache"/nix/roots/*; do
            [ -e "$root" ] || [ -L "$root" ] || continue
            key="${root##*-}"  # the root names the first 16 hex digits of its entry's key
            compgen -G "$cache/entries/nix-build/$key*.json" >/dev/null || problems+=" GC root ${root##*/} named by no entry;"
        done
        local verify
        verify="$("$S" cache verify --cache-dir "$cache" --docker-host "$DOCKER_HOST" --json 2>/dev/null)"
        [ "$(jq -r '(.dropped | length) + (.unreadable | length)' <<<"$verify" 2>/dev/null)" = 0 ] \
            || problems+=" cache verify dropped: $(jq -c '[.dropped, .unreadable]' <<<"$verify" 2>/dev/null | cut -c1-150);"
        if [ -z "$problems" ]; then held=$((held + 1)); else fail_note "round $i (in $landed):$problems"; fi
    done
    local where=""
    for k in "${!LANDED[@]}"; do where+="$k ${LANDED[$k]}, "; done
    add_row "kill -9 at a random moment" "$tried" "$held" "${times[*]}" "landed: ${where%, }; a nix process was alive just after $NIX_AT_KILL kills; time = the next run. $(fails_text)"
}

# --- SIGTERM / SIGINT -----------------------------------------------------------------------
row_signal() {
    local signal="$1" cache="$WORK/signal-$1-cache" held=0 tried=0 finished=0 times=() i sha moment pid rc t0 latency rid status
    FAILS=()
    cp -a "$CAL_CACHE" "$cache"
    local count=$(( ROUNDS / 4 )); [ "$count" -ge 2 ] || count=2
    read -r run_at _ <<<"${WINDOW[run]}"
    read -r _ end_at <<<"${WINDOW[smoke]}"
    for ((i = 1; i <= count; i++)); do
        sha="$(new_commit "$signal$i")"
        moment="$(pick_in "$run_at" $(( end_at * 9 / 10 )))"
        "$S" run "$PIPE" --cache-dir "$cache" --commit "$sha" --json >"$WORK/$signal$i.jsonl" 2>"$WORK/$signal$i.jsonl.err" &
        pid=$!
        sleep_ms "$moment"
        t0="$(now)"
        kill -s "$signal" "$pid" 2>/dev/null
        wait "$pid"; rc=$?
        latency="$(ms_since "$t0")"
        rid="$(run_id "$WORK/$signal$i.jsonl")"
        record_images "$WORK/$signal$i.jsonl"
        if [ "$rc" -eq 0 ]; then finished=$((finished + 1)); continue; fi  # it finished first: not a try
        tried=$((tried + 1)); times+=("$latency")
        local problems=""
        [ "$rc" -eq 130 ] || problems+=" exit $rc;"
        [ "$latency" -le 1000 ] || problems+=" exit after ${latency} ms;"
        if [ -n "$rid" ]; then
            status="$("$S" runs show "$rid" --cache-dir "$cache" --json 2>/dev/null | jq -r '.status' 2>/dev/null)"
            [ "$status" = cancelled ] || problems+=" history says '$status';"
            [ -z "$("$DOCKER" ps -aq --filter "label=dev.sutradhar.run=$rid")" ] || problems+=" its containers are left;"
        fi
        local cancelled; cancelled="$(summary "$WORK/$signal$i.jsonl" | jq -r '[.stages[] | select(.status == "cancelled") | .name] | join("+")')"
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "round $i (cancelled: ${cancelled:-no stage}):$problems"
    done
    add_row "$signal at a random moment" "$tried" "$held" "${times[*]}" "time = signal to exit; $finished finished before the signal. $(fails_text)"
}

# --- disk full ------------------------------------------------------------------------------
row_diskfull() {
    local held=0 tried=0 times=() n=0 free sha rc mnt cache stage env_problem
    local exits=""
    FAILS=()
    local sizes=(0 4096 16384 65536 131072 262144 524288 1048576 2097152 4194304)
    for ((i = 0; i < ROUNDS / 10; i++)); do sizes+=($(( (RANDOM * 32768 + RANDOM) % 1048576 ))); done
    sha="$(new_commit diskfull)"
    for free in "${sizes[@]}"; do
        n=$((n + 1))
        mnt="$WORK/tmpfs-$n"; mkdir -p "$mnt"
        mount -t tmpfs -o size=12m tmpfs "$mnt" || { fail_note "cannot mount a tmpfs"; break; }
        MOUNTS+=("$mnt")
        cache="$mnt/cache"; mkdir -p "$cache"
        local avail; avail="$(df -B1 --output=avail "$mnt" | tail -n 1 | tr -d ' ')"
        [ "$avail" -gt "$free" ] && fallocate -l $(( avail - free )) "$mnt/filler"
        local t0; t0="$(now)"
        run_to "$WORK/full-$n.jsonl" "$cache" "$sha"; rc=$?
        times+=("$(ms_since "$t0")")
        record_images "$WORK/full-$n.jsonl"
        tried=$((tried + 1))
        stage="$(summary "$WORK/full-$n.jsonl" | jq -r '[.stages[]? | select(.status == "failed") | .name] | first // "start"')"
        exits+="$free:$rc$( [ "$rc" = 0 ] || echo "@$stage") "
        local problems=""
        env_problem="$(summary "$WORK/full-$n.jsonl" | jq -r 'has("environment_problem") and .environment_problem != null and .environment_problem != false')"
        case "$rc" in
            0) ;;
            3) [ "$env_problem" = true ] || problems+=" exit 3 without environment_problem;" ;;
            *) problems+=" exit $rc at $stage ($(summary "$WORK/full-$n.jsonl" | jq -r '[.stages[]? | select(.status == "failed") | .error] | first // "no summary"' | cut -c1-140));" ;;
        esac
        local entry
        for entry in "$cache"/entries/*/*.json; do
            [ -e "$entry" ] || continue
            jq -e . "$entry" >/dev/null 2>&1 || problems+=" partial entry ${entry#"$cache"/};"
        done
        rm -f "$mnt/filler"
        run_to "$WORK/full-$n-next.jsonl" "$cache" "$sha" || problems+=" the run after freeing exited $?;"
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "free $free:$problems"
        umount "$mnt" && unset 'MOUNTS[-1]'
    done
    add_row "disk full (cache on a small tmpfs)" "$tried" "$held" "${times[*]}" "free:exit@stage = ${exits% }. $(fails_text)"
}

# --- corruption -----------------------------------------------------------------------------
cut_half() { local f; for f in "$@"; do [ -f "$f" ] && truncate -s $(( $(stat -c %s "$f") / 2 )) "$f"; done; }
row_corruption() {
    local cache="$WORK/corrupt-cache" held=0 tried=0 times=() sha name
    FAILS=()
    sha="$(new_commit corruption)"
    run_to "$WORK/corrupt-0.jsonl" "$cache" "$sha" || { add_row "corruption" 0 0 "" "the first run failed"; return; }
    record_images "$WORK/corrupt-0.jsonl"
    local image; image="$(summary "$WORK/corrupt-0.jsonl" | jq -r '.stages[] | select(.name == "load") | .outputs.image')"
    # case NAME: the corruption; MUST_CACHE / MUST_REDO: stages that must be (not) cached after it.
    # A checkout or docker-load entry cut in half may still be `cached`: the folder or the image
    # it stood for is still there and is checked, so redoing it is not needed; the entry must be
    # whole again after the run (checked below for every case).
    local cases=(
        "index cut in half|cut_half $cache/index.sqlite; rm -f $cache/index.sqlite-wal $cache/index.sqlite-shm|checkout image load smoke|"
        "history cut in half|cut_half $cache/runs/history.sqlite; rm -f $cache/runs/history.sqlite-wal $cache/runs/history.sqlite-shm|checkout image load smoke|"
        "checkout entry cut in half|cut_half $cache/entries/checkout/*.json|image load smoke|"
        "nix-build entry cut in half|cut_half $cache/entries/nix-build/*.json|checkout load smoke|image"
        "docker-load entry cut in half|cut_half $cache/entries/docker-load/*.json|checkout image smoke|"
        "smoke entry cut in half|cut_half $cache/entries/smoke/*.json|checkout image load|smoke"
        "checkout folder deleted|rm -rf $cache/checkouts/*|image load smoke|checkout"
        "GC root deleted|rm -f $cache/nix/roots/*|checkout load smoke|"
        "GC root redirected|for r in $cache/nix/roots/*; do ln -sfn $(readlink -f "$(command -v busybox)" | grep '^/nix/store' || echo /nix/store/nonexistent-chaos) \$r; done|checkout load smoke|"
        "image removed from the daemon|$DOCKER image rm -f $image >/dev/null|checkout image smoke|load"
        "mirror packs deleted|rm -f $cache/git/mirrors/*/objects/pack/*|image load smoke|"
    )
    local entry action must_cache must_redo i=0
    for entry in "${cases[@]}"; do
        IFS='|' read -r name action must_cache must_redo <<<"$entry"
        i=$((i + 1)); tried=$((tried + 1))
        eval "$action"
        local t0 problems="" stage got
        t0="$(now)"
        if run_to "$WORK/corrupt-$i.jsonl" "$cache" "$sha"; then
            times+=("$(ms_since "$t0")")
            for stage in $must_cache; do
                got="$(cached "$WORK/corrupt-$i.jsonl" "$stage")"
                [ "$got" = true ] || problems+=" $stage redone;"
            done
            for stage in $must_redo; do
                got="$(cached "$WORK/corrupt-$i.jsonl" "$stage")"
                [ "$got" = false ] || problems+=" $stage not redone;"
            done
            local entry_file
            for entry_file in "$cache"/entries/*/*.json; do
                jq -e . "$entry_file" >/dev/null 2>&1 || problems+=" ${entry_file#"$cache"/} still broken;"
            done
            [ "$(ls "$cache"/entries/*/*.json 2>/dev/null | wc -l)" -ge 4 ] || problems+=" an entry is missing after the run;"
            if [[ "$name" == "GC root"* ]]; then
                local out; out="$(summary "$WORK/corrupt-$i.jsonl" | jq -r '.stages[] | select(.name == "image") | .outputs.out')"
                local roots=("$cache"/nix/roots/*)
                [ "$(readlink "${roots[0]}" 2>/dev/null)" = "$out" ] || problems+=" the GC root is not back (${roots[0]##*/} -> $(readlink "${roots[0]}" 2>/dev/null));"
            fi
        else
            problems+=" the next run exited $? ($(tail -n 1 "$WORK/corrupt-$i.jsonl.err" | cut -c1-140));"
        fi
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "$name:$problems"
        # A broken case must not spoil the next: a run that fails leaves the cache to a fresh one.
        [ -z "$problems" ] || { rm -rf "$cache"; run_to "$WORK/corrupt-$i-reset.jsonl" "$cache" "$sha"; }
    done
    add_row "corruption, then a run" "$tried" "$held" "${times[*]}" "11 kinds; time = the run after. $(fails_text)"
}

# --- concurrency ----------------------------------------------------------------------------
# concurrent LABEL DISTINCT: 8 runs at once on a fresh cache, on 8 commits (DISTINCT=8) or one.
concurrent() {
    local label="$1" distinct="$2" cache="$WORK/conc-$1" pids=() shas=() k problems="" t0
    for ((k = 0; k < 8; k++)); do
        if [ "$distinct" -eq 8 ] || [ "$k" -eq 0 ]; then shas+=("$(new_commit "$label-$k")"); else shas+=("${shas[0]}"); fi
    done
    t0="$(now)"
    for ((k = 0; k < 8; k++)); do
        run_to "$WORK/$label-$k.jsonl" "$cache" "${shas[$k]}" &
        pids+=($!)
    done
    local failed=0
    for ((k = 0; k < 8; k++)); do wait "${pids[$k]}" || failed=$((failed + 1)); done
    TIME="$(ms_since "$t0")"
    [ "$failed" -eq 0 ] || problems+=" $failed of 8 runs failed ($(python3 "$HELPER" why-failed "$WORK/$label-"*.jsonl | head -3 | tr '\n' ' '));"
    local stage fresh
    for stage in image load smoke; do
        fresh=0
        for ((k = 0; k < 8; k++)); do
            record_images "$WORK/$label-$k.jsonl"
            [ "$(cached "$WORK/$label-$k.jsonl" "$stage")" = false ] && fresh=$((fresh + 1))
        done
        [ "$fresh" -eq "$distinct" ] || problems+=" $stage ran $fresh times for $distinct keys;"
    done
    local ids=() have
    for ((k = 0; k < 8; k++)); do ids+=("$(run_id "$WORK/$label-$k.jsonl")"); done
    have="$("$S" runs ls --cache-dir "$cache" --limit 100 --json 2>/dev/null | jq -r 'select(.status == "passed") | .run' | sort)"
    local missing=0 id
    for id in "${ids[@]}"; do grep -qx "$id" <<<"$have" || missing=$((missing + 1)); done
    [ "$missing" -eq 0 ] || problems+=" $missing history rows missing or not passed;"
    PROBLEMS="$problems"
}
row_concurrency() {
    local count=$(( ROUNDS >= 50 ? 2 : 1 )) r label distinct
    for distinct in 8 1; do
        local held=0 tried=0 times=()
        FAILS=()
        for ((r = 1; r <= count; r++)); do
            label="c$distinct-$r"
            concurrent "$label" "$distinct"
            tried=$((tried + 1)); times+=("$TIME")
            [ -z "$PROBLEMS" ] && held=$((held + 1)) || fail_note "round $r:$PROBLEMS"
        done
        add_row "8 runs at once, $distinct commit(s)" "$tried" "$held" "${times[*]}" "time = all 8. $(fails_text)"
    done
}

# --- hostile input --------------------------------------------------------------------------
rss_of() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
row_hostile_definitions() {
    local count=2000 batch=100 dir="$WORK/defs" held=0 times=() peak=0 exits="" b files rc rss
    FAILS=()
    python3 "$HELPER" mutate-defs "$dir" "$count" "$SEED" "$REPO/pipelines/example.yaml" "$REPO/pipelines/bommalata.yaml" "$PIPE" \
        || { add_row "mutated definitions → validate" 0 0 "" "could not generate them"; return; }
    mapfile -t all < <(ls "$dir"/*.yaml)
    for ((b = 0; b < ${#all[@]}; b += batch)); do
        files=("${all[@]:b:batch}")
        local t0; t0="$(now)"
        /usr/bin/time -v -o "$WORK/defs.time" timeout -k 1 60 "$S" validate "${files[@]}" --json >"$WORK/defs.out" 2>&1; rc=$?
        times+=("$(ms_since "$t0")")
        rss="$(rss_of "$WORK/defs.time")"; [ "${rss:-0}" -gt "$peak" ] && peak="$rss"
        # Exit 0/1/2 and one JSON verdict per file: none of the batch crashed the reader.
        if [ "$rc" -le 2 ] && [ "$(jq -R 'fromjson? | select(.file)' "$WORK/defs.out" 2>/dev/null | jq -s length)" -eq "${#files[@]}" ]; then
            held=$((held + ${#files[@]})); continue
        fi
        # A batch that crashed or hung: each of its files alone, to count them.
        local f
        for f in "${files[@]}"; do
            timeout -k 1 30 "$S" validate "$f" --json >/dev/null 2>&1; rc=$?
            if [ "$rc" -le 2 ]; then held=$((held + 1)); else exits+=" $rc"; fail_note "${f##*/} exit $rc"; fi
        done
    done
    add_row "mutated definitions → validate" "${#all[@]}" "$held" "${times[*]}" "batches of $batch files; peak RSS $((peak / 1024)) MiB. $(fails_text)"
}

row_hostile_archives() {
    local count=$(( ROUNDS * 10 )); [ "$count" -ge 48 ] || count=48
    local stage_timeout=10 dir="$WORK/archives" held=0 times=() peak=0 loaded=0 i rc rss
    declare -A EXITS=()
    FAILS=()
    # A flake whose output is an executable that writes the current archive to stdout (the
    # streamLayeredImage form), so one nix build serves every archive.
    local loader="$WORK/loader"
    mkdir -p "$loader"
    cat >"$loader/flake.nix" <<NIX
{
  outputs = { self }: {
    packages.x86_64-linux.docker-image = derivation {
      name = "chaos-archive-stream";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo '#!/bin/sh' >\$out; echo 'exec /bin/cat $dir/current' >>\$out; /bin/chmod 755 \$out" ];
    };
  };
}
NIX
    git -C "$loader" init -q -b main && git_quiet "$loader" add -A && git_quiet "$loader" commit -q -m loader
    local pipe="$WORK/pipelines/chaos-hostile.yaml" cache="$WORK/hostile-cache"
    cat >"$pipe" <<YAML
version: 1
name: chaos-hostile
source:
  git: $loader
  ref: main
nix:
  options: { substituters: "" }
stages:
  image:
    nix-build:
      installable: .#docker-image
  load:
    needs: [image]
    timeout: ${stage_timeout}s
    docker-load: { from: image, tags: ["$HOSTILE_REPO:loaded"] }
YAML
    local base; base="$(summary "$WORK/cal-1.jsonl" | jq -r '.stages[] | select(.name == "image") | .outputs.out')"
    python3 "$HELPER" mutate-archives "$dir" "$count" "$SEED" "$base" \
        || { add_row "mutated archives → load" 0 0 "" "could not generate them"; return; }
    for ((i = 0; i < count; i++)); do
        ln -sfn "$dir/$(printf 'archive-%05d' "$i")" "$dir/current"
        local t0; t0="$(now)"
        /usr/bin/time -v -o "$WORK/arch.time" timeout -k 1 $((stage_timeout + 30)) \
            "$S" run "$pipe" --cache-dir "$cache" --json >"$WORK/arch.jsonl" 2>"$WORK/arch.err"; rc=$?
        local wall; wall="$(ms_since "$t0")"; times+=("$wall")
        rss="$(rss_of "$WORK/arch.time")"; [ "${rss:-0}" -gt "$peak" ] && peak="$rss"
        EXITS[$rc]=$(( ${EXITS[$rc]:-0} + 1 ))
        local load_ms; load_ms="$(summary "$WORK/arch.jsonl" | jq -r '.stages[] | select(.name == "load") | .duration_ms')"
        local problems=""
        case "$rc" in 0|1|2) ;; *) problems+=" exit $rc;" ;; esac
        [ "${load_ms:-0}" -le $(( (stage_timeout + 1) * 1000 )) ] || problems+=" load took ${load_ms} ms;"
        [ "$wall" -le $(( (stage_timeout + 5) * 1000 )) ] || problems+=" the run took ${wall} ms;"
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "archive $i:$problems"
        if [ "$rc" -eq 0 ]; then
            loaded=$((loaded + 1))
            record_images "$WORK/arch.jsonl"
            rm -f "$cache"/entries/docker-load/*.json  # so that the next archive is loaded, not a hit
        fi
    done
    local spread=""; for k in "${!EXITS[@]}"; do spread+="exit $k: ${EXITS[$k]}, "; done
    add_row "mutated archives → load" "$count" "$held" "${times[*]}" "${spread%, }; peak RSS $((peak / 1024)) MiB; time = the run. $(fails_text)"
    row_hostile_comparisons "$dir" "$count" "$base"
}

# row_hostile_comparisons DIR COUNT BASE: the same mutated archives as a reproducibility check's
# second build, compared with the good one by the library's OutputComparison (what `reproduce`
# runs on a build's output): exit 0 (compared) or 1 (refused with an error) only, never a crash,
# within 10 s each, peak RSS bounded.
row_hostile_comparisons() {
    local dir="$1" count="$2" base="$3" held=0 times=() peak=0 i rc rss compared=0
    FAILS=()
    use_release_product COMPARE sutradhar-compare-benchmark
    for ((i = 0; i < count; i++)); do
        local t0; t0="$(now)"
        /usr/bin/time -v -o "$WORK/cmp.time" timeout -k 1 10 "$COMPARE" "$base" "$dir/$(printf 'archive-%05d' "$i")" \
            >"$WORK/cmp.out" 2>"$WORK/cmp.err"; rc=$?
        times+=("$(ms_since "$t0")")
        rss="$(rss_of "$WORK/cmp.time")"; [ "${rss:-0}" -gt "$peak" ] && peak="$rss"
        case "$rc" in
            0) compared=$((compared + 1)); held=$((held + 1)) ;;
            1) grep -q '^error: ' "$WORK/cmp.err" && held=$((held + 1)) || fail_note "archive $i: exit 1 without an error line" ;;
            *) fail_note "archive $i: exit $rc" ;;
        esac
    done
    add_row "mutated archives → reproduce's comparison" "$count" "$held" "${times[*]}" \
        "$compared compared, $((count - compared)) refused; peak RSS $((peak / 1024)) MiB; time = one comparison. $(fails_text)"
}

# --- the daemons dying, through proxies -------------------------------------------------------
# start_proxy NAME UPSTREAM [ARGS...]: a proxy at $WORK/NAME.sock; PROXY is its pid.
start_proxy() {
    local name="$1" upstream="$2"; shift 2
    rm -f "$WORK/$name.ready" "$WORK/$name.died"
    python3 "$HELPER" proxy "$WORK/$name.sock" "$upstream" --ready "$WORK/$name.ready" --died "$WORK/$name.died" "$@" &
    PROXY=$!; PROXIES+=("$PROXY")
    local k; for ((k = 0; k < 100; k++)); do [ -e "$WORK/$name.ready" ] && return 0; sleep 0.05; done
    die "the proxy $name did not start"
}
stop_proxy() { kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
row_docker_dies() {
    local cache="$WORK/daemon-cache" where held=0 tried=0 times=() sha rc
    FAILS=()
    cp -a "$CAL_CACHE" "$cache"
    local count=$(( ROUNDS / 20 )); [ "$count" -ge 1 ] || count=1
    for where in load smoke; do
        held=0 tried=0 times=(); FAILS=()
        local trigger="/images/load"; [ "$where" = smoke ] && trigger="/exec"
        for ((r = 1; r <= count; r++)); do
            sha="$(new_commit "docker-$where-$r")"
            start_proxy docker "$DOCKER_SOCKET" --die-on "$trigger"
            local file="$WORK/docker-$where-$r.jsonl"
            "$S" run "$PIPE" --cache-dir "$cache" --commit "$sha" --json --docker-host "unix://$WORK/docker.sock" >"$file" 2>"$file.err"; rc=$?
            local exited; exited="$(now)"
            stop_proxy "$PROXY"
            tried=$((tried + 1))
            local problems="" latency=""
            if [ -f "$WORK/docker.died" ]; then
                latency="$(awk -v a="$(cut -d' ' -f1 "$WORK/docker.died")" -v b="$exited" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
                times+=("$latency")
                [ "$latency" -le 2000 ] || problems+=" exit ${latency} ms after the daemon died;"
            else
                problems+=" the proxy never saw $trigger;"
            fi
            [ "$rc" -eq 3 ] || problems+=" exit $rc;"
            local message; message="$(summary "$file" | jq -r '.environment_problem // empty' | cut -c1-90)"
            [ -n "$message" ] || problems+=" no environment_problem;"
            local rid; rid="$(run_id "$file")"
            run_to "$file.next" "$cache" "$sha" || problems+=" the next run exited $?;"
            record_images "$file.next"
            [ -z "$rid" ] || [ -z "$("$DOCKER" ps -aq --filter "label=dev.sutradhar.run=$rid")" ] || problems+=" a container of the run is left after the next run;"
            [ -z "$problems" ] && held=$((held + 1)) || fail_note "round $r:$problems"
            LAST_MESSAGE="$message"
        done
        add_row "Docker daemon dies during $where" "$tried" "$held" "${times[*]}" "time = death to exit; message: '${LAST_MESSAGE:-none}'. $(fails_text)"
    done
}
row_nix_dies() {
    local cache="$WORK/nixd-cache" held=0 tried=0 times=() sha rc pid
    FAILS=()
    cp -a "$CAL_CACHE" "$cache"
    local count=$(( ROUNDS / 20 )); [ "$count" -ge 1 ] || count=1
    read -r image_start image_end <<<"${WINDOW[image]}"
    for ((r = 1; r <= count; r++)); do
        sha="$(new_commit "nixd-$r")"
        start_proxy nixd "$NIX_SOCKET"
        local file="$WORK/nixd-$r.jsonl"
        NIX_REMOTE="unix://$WORK/nixd.sock" "$S" run "$PIPE" --cache-dir "$cache" --commit "$sha" --json >"$file" 2>"$file.err" &
        pid=$!
        # The proxy dies once the build has begun: when the image stage has started, plus a seeded
        # part of its calibrated length.
        local k
        for ((k = 0; k < 3000; k++)); do grep -q '"stage-started".*"stage":"image"' "$file" 2>/dev/null && break; sleep 0.01; done
        sleep_ms "$(pick_in 0 $(( (image_end - image_start) / 2 )))"
        local killed; killed="$(now)"
        stop_proxy "$PROXY"
        wait "$pid"; rc=$?
        tried=$((tried + 1)); times+=("$(ms_since "$killed")")
        local problems="" landed; landed="$(stage_at_end "$file")"
        local image_status; image_status="$(summary "$file" | jq -r '.stages[] | select(.name == "image") | .status')"
        if [ "$rc" -eq 0 ]; then
            problems+=" the build finished before the daemon died (not a try of the fault);"
        else
            [ "$rc" -eq 3 ] || problems+=" exit $rc (image $image_status);"
            LAST_MESSAGE="$(summary "$file" | jq -r '.environment_problem // empty' | cut -c1-90)"
            [ -n "$LAST_MESSAGE" ] || problems+=" no environment_problem;"
        fi
        run_to "$file.next" "$cache" "$sha" || problems+=" the next run exited $?;"
        record_images "$file.next"
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "round $r:$problems"
    done
    add_row "nix-daemon dies during a build" "$tried" "$held" "${times[*]}" "time = death to exit; message: '${LAST_MESSAGE:-none}'. $(fails_text)"
}

# --- secrets --------------------------------------------------------------------------------
row_secrets() {
    local marker="chaos-secret-$RANDOM$RANDOM$RANDOM" cache="$WORK/secret-cache" held=0 tried=0 found=""
    FAILS=()
    local pipe_pass="$WORK/pipelines/chaos-secret.yaml" pipe_fail="$WORK/pipelines/chaos-secret-failing.yaml"
    write_pipeline "$pipe_pass" chaos-secret "      env: { CHAOS_TOKEN: \"$marker\" }"
    write_pipeline "$pipe_fail" chaos-secret "      env: { CHAOS_TOKEN: \"$marker\" }" never-there 2
    local variant
    for variant in pass fail; do
        local pipe="$pipe_pass"; [ "$variant" = fail ] && pipe="$pipe_fail"
        "$S" run "$pipe" --cache-dir "$cache" --commit "$(new_commit "secret-$variant")" --json >"$WORK/secret-$variant.jsonl" 2>"$WORK/secret-$variant.err"
        record_images "$WORK/secret-$variant.jsonl"
        "$S" runs logs "$(run_id "$WORK/secret-$variant.jsonl")" --cache-dir "$cache" >"$WORK/secret-$variant.logs" 2>&1
        tried=$((tried + 1))
    done
    local where
    where="$( { grep -rlaF "$marker" "$cache"; grep -laF "$marker" "$WORK"/secret-*.jsonl "$WORK"/secret-*.err "$WORK"/secret-*.logs; } 2>/dev/null | sed "s|^$WORK/||" | sort -u | tr '\n' ' ')"
    [ "$(summary "$WORK/secret-pass.jsonl" | jq -r .status)" = passed ] || FAILS+=("the passing run did not pass")
    [ "$(summary "$WORK/secret-fail.jsonl" | jq -r .status)" = failed ] || FAILS+=("the failing run did not fail")
    if [ -z "$where" ] && [ ${#FAILS[@]} -eq 0 ]; then held=$tried; else [ -z "$where" ] || fail_note "found in: $where"; fi
    add_row "a secret in env leaks nowhere" "$tried" "$held" "" "a passing and a failing smoke run. $(fails_text)"
}

# --- attestations: tampered envelopes through `attest verify`; the key in no file or event ------
row_attest() {
    local cache="$WORK/attest-cache" tried=0 held=0 times=() events="$WORK/attest.jsonl"
    FAILS=()
    "$S" run "$PIPE" --cache-dir "$cache" --commit "$(new_commit attest)" --json >"$events" 2>"$events.err"
    record_images "$events"
    local envelope image key="$WORK/attest-public.pem"
    envelope="$(summary "$events" | jq -r '.stages[] | select(.name == "load") | .outputs.attestation // empty')"
    image="$(summary "$events" | jq -r '.stages[] | select(.name == "load") | .outputs.image // empty')"
    "$S" attest public-key | head -n 3 >"$key"
    if [ -z "$envelope" ] || [ ! -f "$envelope" ]; then
        add_row "tampered attestations refused" 0 0 "" "the run wrote no attestation: $(tail -n 2 "$events.err")"
        return
    fi
    local verified=yes
    "$S" attest verify "$envelope" --key "$key" --image "$image" >/dev/null 2>&1 || { verified=no; fail_note "the untouched envelope does not verify"; }
    local size round tampered="$WORK/attest-tampered.json" rc started codes=""
    size="$(stat -c %s "$envelope")"
    for round in $(seq 1 "$ROUNDS"); do
        cp "$envelope" "$tampered"
        local at=$(( (RANDOM * 32768 + RANDOM) % size ))
        case $(( round % 4 )) in
            0) python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[int(sys.argv[2])]^=1<<int(sys.argv[3]); open(p,'wb').write(b)" \
                   "$tampered" "$at" "$(( RANDOM % 8 ))" ;;
            1) printf "\\x$(printf %02x $(( RANDOM % 256 )))" | dd of="$tampered" bs=1 seek="$at" conv=notrunc status=none
               cmp -s "$envelope" "$tampered" && continue ;;  # the same byte written back: nothing to refuse
            2) truncate -s "$at" "$tampered" ;;
            3) head -c 64 /dev/urandom | dd of="$tampered" bs=1 seek="$at" conv=notrunc status=none ;;
        esac
        tried=$((tried + 1))
        started="$(now)"
        timeout 5 "$S" attest verify "$tampered" --key "$key" >"$WORK/attest-verify.out" 2>&1 && rc=0 || rc=$?
        times+=("$(ms_since "$started")")
        codes+=" $rc"
        if [ "$rc" -eq 1 ] && grep -q "not verified" "$WORK/attest-verify.out"; then held=$((held + 1))
        else fail_note "round $round (mutation $(( round % 4 )) at byte $at): exit $rc: $(head -c 200 "$WORK/attest-verify.out")"; fi
    done
    # A bundle (.intoto.jsonl, as pushed beside a binary cache): a good line, then a tampered one.
    local bundle="$WORK/attest-bundle.intoto.jsonl"
    { cat "$envelope"; echo; python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//2]^=1; sys.stdout.buffer.write(bytes(b))" "$envelope"; echo; } >"$bundle"
    tried=$((tried + 1))
    timeout 5 "$S" attest verify "$bundle" --key "$key" >"$WORK/attest-verify.out" 2>&1 && rc=0 || rc=$?
    codes+=" $rc"
    if [ "$rc" -eq 1 ] && grep -q "not verified: line 2" "$WORK/attest-verify.out"; then held=$((held + 1))
    else fail_note "a bundle with a tampered second line: exit $rc: $(head -c 200 "$WORK/attest-verify.out")"; fi
    # The key: its 32 secret bytes raw, as hex, and its PKCS#8 body as base64, in any file of the
    # cache or anything the run printed.
    local where
    where="$(python3 - "$XDG_CONFIG_HOME/sutradhar/signing-key.pem" "$cache" "$events" "$events.err" <<'PY'
import base64, os, sys
body = "".join(l for l in open(sys.argv[1]).read().splitlines() if not l.startswith("-----"))
seed = base64.b64decode(body)[-32:]
needles = [seed, seed.hex().encode(), body.encode()]
paths = [os.path.join(d, f) for d, _, fs in os.walk(sys.argv[2]) for f in fs] + sys.argv[3:]
for path in paths:
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    if any(n in data for n in needles):
        print(path, end=" ")
PY
)"
    [ -z "$where" ] || { fail_note "the private key is in: $where"; held=0; }
    [ "$verified" = yes ] || held=0
    add_row "tampered attestations refused" "$tried" "$held" "${times[*]}" \
        "flip/overwrite/cut/random bytes → attest verify; exits:$(printf '%s\n' $codes | sort | uniq -c | awk '{ printf " %s×%s", $1, $2 }'); key bytes found nowhere unless noted; time = one verify. $(fails_text)"
}

# --- front doors: text from outside on every human-facing output; MCP fed hostile frames --------
FRONT="$WORK/frontdoors"
row_frontdoors_terminal() {
    local cache="$FRONT/cache" tried=0 held=0 format expected
    FAILS=()
    mkdir -p "$FRONT/pipelines"
    format="$(python3 "$REPO/Benchmarks/frontdoors.py" controls | sed -n 1p)"
    expected="$(python3 "$REPO/Benchmarks/frontdoors.py" controls | sed -n 2p)"
    local pipe="$FRONT/pipelines/chaos-frontdoors.yaml"
    # The stage prints every C0, C1 and bidi control (printf's octal escapes), then fails: its
    # last lines are printed for a person. The image is the suite's own, loaded by calibration.
    cat >"$pipe" <<YAML
version: 1
name: chaos-frontdoors
source: { git: $SRC, ref: main }
stages:
  noisy:
    timeout: 60s
    container:
      image: "$IMAGE_REPO:latest"
      command: [sh, -c, "printf '$(printf '%s' "$format" | sed 's/\\/\\\\/g')\\\\n'; printf 'err \\\\033]0;title\\\\007\\\\n' >&2; exit 3"]
YAML
    local r
    for r in $(seq 1 "$ROUNDS"); do
        local base="$FRONT/round-$r" problems=""
        "$S" run "$pipe" --cache-dir "$cache" --no-cache >"$base.human" 2>&1
        [ $? -eq 1 ] || problems+=" run did not exit 1;"
        "$S" run "$pipe" --cache-dir "$cache" --no-cache --quiet >"$base.quiet" 2>&1
        "$S" run "$pipe" --cache-dir "$cache" --no-cache --json >"$base.jsonl" 2>"$base.jsonl.err"
        local run; run="$(run_id "$base.jsonl")"
        echo "$run" >"$FRONT/run-id"
        "$S" runs show "$run" --cache-dir "$cache" >"$base.show" 2>&1
        "$S" runs logs "$run" --cache-dir "$cache" >"$base.logs" 2>&1
        "$S" runs logs "$run" --stage noisy --cache-dir "$cache" >"$base.stage-logs" 2>&1
        local out
        out="$(python3 "$REPO/Benchmarks/frontdoors.py" check-human "$base.human" "$base.quiet" "$base.show" "$base.logs" "$base.stage-logs" "$base.jsonl.err")" \
            || problems+=" $out;"
        # JSON keeps the exact text: the stage's first stdout line is what it printed.
        local exact
        exact="$(events "$base.jsonl" | jq -c 'select(.event == "log" and .stage == "noisy" and .stream == "stdout") | .line' | head -n 1)"
        jq -en --argjson a "$expected" --argjson b "${exact:-null}" '$a == $b' >/dev/null || problems+=" the JSON log line is not the exact text;"
        tried=$((tried + 1))
        [ -z "$problems" ] && held=$((held + 1)) || fail_note "round $r:$problems"
    done
    add_row "front doors: log text on terminals" "$tried" "$held" "" "every C0/C1/bidi control through run, --quiet, runs show, runs logs; JSON exact. $(fails_text)"
}

row_frontdoors_mcp() {
    FAILS=()
    local result run
    run="$(cat "$FRONT/run-id" 2>/dev/null)"
    [ -n "$run" ] || { add_row "front doors: MCP" 0 0 "" "no recorded run to read logs of (the terminal row runs first)"; return; }
    result="$(timeout 600 python3 "$REPO/Benchmarks/frontdoors.py" mcp --sutradhar "$S" --work "$FRONT/mcp" --run "$run" \
        --cache "$FRONT/cache" --rounds "$ROUNDS" --seed "$SEED")"
    [ -n "$result" ] || result='{"tried": 1, "held": 0, "notes": "the MCP driver printed nothing (hung or crashed)"}'
    add_row "front doors: MCP" "$(jq .tried <<<"$result")" "$(jq .held <<<"$result")" "" \
        "traversal names, mistyped and fuzzed arguments, garbage and 5 MiB frames; peak RSS $(jq -r '.peak_rss_kib' <<<"$result") KiB. $(jq -r .notes <<<"$result")"
}

# --- the rows --------------------------------------------------------------------------------
# --- hostile Dockerfiles and .dockerignore files -----------------------------------
# frontdoor_cases FILE: "NAME EXPECT [xN]" for each `=== ` case of FILE; frontdoor_body FILE NAME:
# its lines.
frontdoor_cases() { sed -n 's/^=== //p' "$1"; }
frontdoor_body() { awk -v name="$2" '/^=== / { on = ($2 == name); next } on' "$1"; }
row_dockerfiles() {
    local frontdoors="$REPO/Benchmarks/frontdoors" stage_timeout=10 base="$IMAGE_REPO:latest"
    local repo="$WORK/dockerfiles-src" cache="$WORK/dockerfiles-cache" pipe="$WORK/pipelines/chaos-dockerfiles.yaml"
    local held=0 tried=0 early=0 times=() terms=() bounded=() round name expect repeat rc wall duration code error connections i
    declare -A EXITS=()
    FAILS=()
    "$DOCKER" image inspect "$base" >/dev/null 2>&1 || { add_row "hostile Dockerfiles → docker-build" 0 0 "" "no base image $base"; return; }
    # A listener on the host's own address: the rootless daemon's network namespace reaches it
    # through slirp4netns (its 127.0.0.1 is its own), and a connection of any kind is logged.
    local host; host="$(ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
    [ -n "$host" ] || host="$(hostname -I 2>/dev/null | awk '{ print $1 }')"
    [ -n "$host" ] || { add_row "hostile Dockerfiles → docker-build" 0 0 "" "the host has no address but loopback to listen on"; return; }
    local connlog="$WORK/dockerfiles-connections.log" portfile="$WORK/dockerfiles-port"
    : >"$connlog"; rm -f "$portfile"
    cat >"$WORK/listener.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0)); s.listen(64)
open(sys.argv[2] + ".tmp", "w").write(str(s.getsockname()[1])); __import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
log = open(sys.argv[3], "a", buffering=1)
while True:
    c, peer = s.accept(); c.settimeout(2)
    try: data = c.recv(120)
    except Exception: data = b""
    log.write("%s %r\n" % (peer[0], data[:80]))
    try: c.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    except Exception: pass
    c.close()
PY
    python3 "$WORK/listener.py" "$host" "$portfile" "$connlog" &
    local listener=$!
    PROXIES+=("$listener")
    for ((i = 0; i < 100; i++)); do [ -s "$portfile" ] && break; sleep 0.05; done
    [ -s "$portfile" ] || { add_row "hostile Dockerfiles → docker-build" 0 0 "" "the listener did not start"; return; }
    local port; port="$(cat "$portfile")"
    local url="http://$host:$port" registry="$host:$port"

    mkdir -p "$repo/ctx/many"
    git -C "$repo" init -q -b main
    echo local >"$repo/ctx/local.txt"
    # 1,000 files with names of 200 characters and more, for the .dockerignore cases.
    python3 -c 'import os, sys; [open(os.path.join(sys.argv[1], "a" * 200 + str(i)), "w").close() for i in range(1000)]' "$repo/ctx/many"
    cat >"$pipe" <<YAML
version: 1
name: chaos-dockerfiles
source:
  git: $repo
  ref: main
stages:
  image:
    timeout: ${stage_timeout}s
    docker-build:
      context: ctx
      dockerfile: Dockerfile
      tags: ["$HOSTILE_REPO:dockerfile"]
YAML
    # case_run NAME DOCKERFILE IGNORE [ARGS...]: commits the context and runs the pipeline; sets
    # rc, wall, duration, code, error. The Dockerfile cases leave the 1,000 files out (IGNORE many).
    case_run() {
        local label="$1" dockerfile="$2" ignore="$3"; shift 3
        printf '%s\n' "$dockerfile" >"$repo/ctx/Dockerfile"
        if [ -n "$ignore" ]; then printf '%s\n' "$ignore" >"$repo/ctx/.dockerignore"; else rm -f "$repo/ctx/.dockerignore"; fi
        git_quiet "$repo" add -A && git_quiet "$repo" commit -q --allow-empty -m "$label"
        local t0; t0="$(now)"
        timeout -k 1 $((stage_timeout + 60)) "$S" run "$pipe" --cache-dir "$cache" --no-cache --json "$@" >"$WORK/df.jsonl" 2>"$WORK/df.err"; rc=$?
        wall="$(ms_since "$t0")"
        local stage; stage="$(summary "$WORK/df.jsonl" | jq -c '.stages[]? | select(.name == "image")')"
        [ -n "$stage" ] || stage='{}'
        duration="$(jq -r '.duration_ms // 0' <<<"$stage")"
        code="$(jq -r '.code // ""' <<<"$stage")"
        error="$(jq -r '.error // ""' <<<"$stage")"
        EXITS[$rc]=$(( ${EXITS[$rc]:-0} + 1 ))
    }
    fill() { sed -e "s|@BASE@|$base|g" -e "s|@URL@|$url|g" -e "s|@REGISTRY@|$registry|g"; }

    # The control: allowed the network, the daemon fetches the ADD, and the listener sees it.
    case_run control "$(printf 'FROM %s\nADD %s/control /control\n' "$base" "$url")" many --allow-network
    tried=$((tried + 1))
    if [ "$(grep -c . "$connlog")" -ge 1 ]; then held=$((held + 1)); else fail_note "control: the listener at $url saw no connection from the daemon, so the check below could not fail (exit $rc: ${error:0:120})"; fi
    : >"$connlog"

    for ((round = 1; round <= ROUNDS; round++)); do
        while read -r name expect repeat; do
            tried=$((tried + 1))
            case_run "$name" "$(frontdoor_body "$frontdoors/dockerfiles.txt" "$name" | fill)" many
            times+=("$wall")
            local problems=""
            case "$expect" in
                refused:*)
                    [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || problems+=" exit $rc;"
                    [[ "$error" == "Dockerfile:${expect#refused:}:"* ]] || problems+=" error '${error:0:100}' names no Dockerfile:${expect#refused:};"
                    ! grep -q "classic builder" "$WORK/df.jsonl" || problems+=" it was sent to /build;" ;;
                built) [ "$rc" -eq 0 ] || problems+=" exit $rc (${error:0:100});" ;;
            esac
            [ "$duration" -le $(( (stage_timeout + 1) * 1000 )) ] || problems+=" the stage took ${duration} ms;"
            connections="$(grep -c . "$connlog")"
            [ "$connections" -eq 0 ] || { problems+=" the listener saw $connections connection(s): $(head -c 120 "$connlog");"; : >"$connlog"; }
            [ -z "$problems" ] && held=$((held + 1)) || fail_note "$name:$problems"
        done < <(frontdoor_cases "$frontdoors/dockerfiles.txt")

        while read -r name expect repeat; do
            tried=$((tried + 1))
            local ignore; ignore="$(frontdoor_body "$frontdoors/dockerignores.txt" "$name")"
            if [ -n "$repeat" ]; then ignore="$(for ((i = 0; i < ${repeat#x}; i++)); do printf '%s\n' "$ignore"; done)"; fi
            case_run "$name" "$(printf 'FROM %s\nCOPY . /ctx\n' "$base")" "$ignore"
            times+=("$wall")
            local problems=""
            case "$expect" in
                built) [ "$rc" -eq 0 ] || problems+=" exit $rc (${error:0:100});" ;;
                bounded) [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && [ "$code" = timeout ]; } || problems+=" exit $rc code '$code';" ;;
            esac
            [ "$duration" -le $(( (stage_timeout + 1) * 1000 )) ] || problems+=" the stage took ${duration} ms (timeout ${stage_timeout} s);"
            [ "$expect" = bounded ] && bounded+=("$duration")
            [ -z "$problems" ] && held=$((held + 1)) || fail_note "$name:$problems"
            [ "$expect" = bounded ] || continue
            # SIGTERM during the walk: commit as above, signal at a seeded moment once the stage runs.
            tried=$((tried + 1))
            git_quiet "$repo" commit -q --allow-empty -m "$name-term"
            "$S" run "$pipe" --cache-dir "$cache" --no-cache --json >"$WORK/df-term.jsonl" 2>"$WORK/df-term.err" &
            local pid=$! t0 latency
            for ((i = 0; i < 200; i++)); do grep -q '"stage-started".*"image"\|"image".*"stage-started"' "$WORK/df-term.jsonl" 2>/dev/null && break; sleep 0.05; done
            sleep_ms "$(pick_in 100 $(( stage_timeout * 1000 / 2 )))"
            t0="$(now)"
            kill -TERM "$pid" 2>/dev/null
            wait "$pid"; rc=$?
            latency="$(ms_since "$t0")"
            if [ "$rc" -eq 0 ]; then tried=$((tried - 1)); early=$((early + 1)); continue; fi  # ended first: not a try
            times+=("$latency"); terms+=("$latency")
            problems=""
            [ "$rc" -eq 130 ] || problems+=" exit $rc;"
            [ "$latency" -le 1000 ] || problems+=" exit ${latency} ms after SIGTERM;"
            [ -z "$problems" ] && held=$((held + 1)) || fail_note "$name SIGTERM:$problems"
        done < <(frontdoor_cases "$frontdoors/dockerignores.txt")
    done
    stop_proxy "$listener"
    local spread=""; for k in "${!EXITS[@]}"; do spread+="exit $k: ${EXITS[$k]}, "; done
    add_row "hostile Dockerfiles → docker-build" "$tried" "$held" "${times[*]}" \
        "${spread%, }; listener $url; bounded .dockerignore stage (timeout ${stage_timeout} s): ${bounded[*]:-none} ms; SIGTERM to exit: ${terms[*]:-none} ms ($early builds ended first); time = the run (SIGTERM: signal to exit). $(fails_text)"
}

# --- hostile trace contexts: TRACEPARENT and MCP _meta.traceparent ----------------------------
row_traceparent() {
    local venv="${SUTRADHAR_VENV:-/opt/sutradhar-venv}/bin/python3" port_file="$WORK/otlp-port" spans="$WORK/otlp-spans.jsonl"
    [ -x "$venv" ] || { add_row "hostile trace contexts" 0 0 "" "no $venv with opentelemetry-proto (scripts/setup.sh)"; return; }
    "$venv" "$REPO/Tests/TracingTests/Receiver/otlp_receiver.py" "$port_file" "$spans" &
    local receiver=$!
    for _ in $(seq 100); do [ -f "$port_file" ] && break; sleep 0.05; done
    local started result
    started="$(now)"
    result="$(timeout 1800 "$venv" "$REPO/Benchmarks/chaos_traceparent.py" --sutradhar "$S" --work "$WORK" --pipeline-file "$PIPE" \
        --cache "$CAL_CACHE" --commit "$CAL_SHA" --endpoint "http://127.0.0.1:$(cat "$port_file" 2>/dev/null)" --spans "$spans" \
        --rounds "$ROUNDS" --seed "$SEED")"
    kill -9 "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null
    [ -n "$result" ] || result='{"tried": 1, "held": 0, "notes": "the driver printed nothing (hung or crashed)"}'
    add_row "hostile trace contexts" "$(jq .tried <<<"$result")" "$(jq .held <<<"$result")" "$(ms_since "$started")" \
        "TRACEPARENT and MCP _meta.traceparent on a cached rerun; time = the whole row. $(jq -r .notes <<<"$result")"
}

STARTED="$(now)"
wants kill9 && row_kill9
wants signals && { row_signal TERM; row_signal INT; }
wants diskfull && row_diskfull
wants corruption && row_corruption
wants concurrency && row_concurrency
wants hostile && { row_hostile_definitions; row_hostile_archives; }
wants daemon && { row_docker_dies; row_nix_dies; }
wants secrets && row_secrets
wants frontdoors && { row_frontdoors_terminal; row_frontdoors_mcp; }
wants dockerfiles && row_dockerfiles
wants attest && row_attest
wants traceparent && row_traceparent

header="$(jq -nc --arg binary "$S" --argjson rounds "$ROUNDS" --argjson seed "$SEED" \
    --arg version "$("$S" --version 2>/dev/null)" --arg commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)" \
    --argjson seconds "$(ms_since "$STARTED")" --arg date "$(date -u +%FT%TZ)" \
    '{command: "Benchmarks/chaos.sh --rounds \($rounds) --seed \($seed)", rounds: $rounds, seed: $seed, binary: $binary,
      version: $version, repo_commit: $commit, duration_ms: $seconds, date: $date}')"
echo
echo "Sutradhar chaos suite: --rounds $ROUNDS --seed $SEED ($(date -u +%FT%TZ), $(( $(ms_since "$STARTED") / 1000 )) s)"
python3 "$HELPER" report "$ROWS" "$JSON_OUT" "$header"
say "JSON written to $JSON_OUT"
jq -e '.all_held' "$JSON_OUT" >/dev/null || { say "some rows do not hold"; exit 1; }
