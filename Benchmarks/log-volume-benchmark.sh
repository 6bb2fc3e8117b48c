#!/usr/bin/env bash
# The log-volume benchmark: a stage that logs a lot must not make
# `sutradhar run` hold it. Runs a pipeline whose `container` stage writes N MiB to stdout and prints
# Sutradhar's peak resident memory for each size, shape and output mode:
#   - sizes: 30 and 100 MiB (SIZES_MIB)
#   - shapes: `lines` (64-byte lines, ~1.6 million per 100 MiB) and `one-line` (N MiB and no newline)
#   - modes: the human renderer (stdout to a file, so not the live view) and `--json`
# Target: a stage that logs 100 MiB keeps `sutradhar run` under 80 MiB peak RSS, whatever the shape
# and mode (TARGET_RSS_MIB).
#
# Run as root on a machine set up by scripts/setup.sh:
#   sudo Benchmarks/log-volume-benchmark.sh
#   sudo SIZES_MIB=10 SHAPES=lines MODES=json Benchmarks/log-volume-benchmark.sh     (a quick check)
#   sudo SUTRADHAR=.build/debug/sutradhar Benchmarks/log-volume-benchmark.sh        (a debug build)
#
# Settings (environment):
#   SIZES_MIB="30 100"    how much the stage logs, MiB
#   SHAPES="lines one-line"
#   MODES="human json"
#   SUTRADHAR=PATH        the binary to measure; default: build the release binary with
#                         `swift build -c release --static-swift-stdlib --scratch-path .build-bench --product sutradhar`
#                         and strip it as scripts/try-example.sh installs it (.build-bench/installed/)
#   DOCKER_HOST           default the user's rootless socket (the rootless daemon)
#   WORK_PARENT=/tmp      where the temporary work folder goes (needs ~3 x the largest size free:
#                         the daemon's copy of the log, the run's stage log and the --json output)
#
# What is measured, per size, shape and mode: `/usr/bin/time -v sutradhar run PIPELINE --cache-dir
# DIR --no-cache [--json] >FILE`, its "Maximum resident set size" (and its wall and CPU time, for
# the record; the target is on memory). The pipeline (written to the work folder with its source,
# a git repository) is a `docker-build` stage making an image FROM scratch that holds only a
# static busybox (nothing is pulled), then a `container` stage running
# `busybox sh -c` that writes the log with `yes | head -c` (lines) or `head -c /dev/zero | tr`
# (one line). Sutradhar runs no child process on this path (no nix), so time's figure, the largest
# of the process and its children, is Sutradhar's own. Each run must pass, and its recorded stage
# log must hold the lines (or the cut line) it should, or the benchmark stops. The container waits
# after its log until the run's stage log shows it all (see `pipeline` below).
#
# Nothing is left behind: the image (tagged for this benchmark's process), the containers (the run
# removes them) and the work folder go on exit, failure or interrupt.
set -euo pipefail

SIZES_MIB="${SIZES_MIB:-30 100}"
SHAPES="${SHAPES:-lines one-line}"
MODES="${MODES:-human json}"
WORK_PARENT="${WORK_PARENT:-/tmp}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
TARGET_RSS_MIB=80
TARGET_SIZE_MIB=100
TAG="sutradhar-log-volume-benchmark:run-$$"
# 63 characters and a newline: 64-byte lines.
LINE="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"

BENCHMARK=log-volume-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for size in $SIZES_MIB; do
    [[ "$size" =~ ^[0-9]+$ && "$size" -ge 1 ]] || die "SIZES_MIB must be whole numbers of MiB (got '$size')"
done
for shape in $SHAPES; do
    case "$shape" in lines|one-line) ;; *) die "SHAPES must be 'lines' and/or 'one-line' (got '$shape')" ;; esac
done
for mode in $MODES; do
    case "$mode" in human|json) ;; *) die "MODES must be 'human' and/or 'json' (got '$mode')" ;; esac
done
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0), as the other benchmarks on scripts/setup.sh's machine"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time (scripts/setup.sh installs it)"
command -v jq >/dev/null || die "jq is missing: apt-get install jq (scripts/setup.sh installs it)"
command -v git >/dev/null || die "git is missing: apt-get install git"
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static (the image copies it)"
find_docker_cli "removing the benchmark's image"

# --- the binary ----------------------------------------------------------------------------
use_release_binary

# --- work folder and cleanup ---------------------------------------------------------------
WORK="$(mktemp -d "$WORK_PARENT/sutradhar-log-volume-benchmark.XXXXXX")"
# The rootless daemon (another user) bind-mounts the checkout from the cache in the work folder.
chmod 755 "$WORK"
MEASURED_PID=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e  # clean up as much as can be, whatever fails
    # Interrupted mid-measurement: stop Sutradhar (time's child; it removes its container on
    # SIGTERM) and wait for time, which then ends.
    [ -n "$MEASURED_PID" ] && { pkill -TERM -P "$MEASURED_PID" 2>/dev/null; wait "$MEASURED_PID" 2>/dev/null; }
    "$DOCKER" image rm --force "$TAG" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the source and the pipeline -----------------------------------------------------------
SOURCE="$WORK/source"
mkdir -p "$SOURCE"
cp /bin/busybox "$SOURCE/busybox"
cat >"$SOURCE/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /busybox
DOCKERFILE
git -C "$SOURCE" init -q -b main
git -C "$SOURCE" -c user.name="$BENCHMARK" -c user.email=benchmark@example.invalid add -A
git -C "$SOURCE" -c user.name="$BENCHMARK" -c user.email=benchmark@example.invalid commit -q -m "busybox image"

# pipeline SHAPE MIB: writes the definition and prints its path. The stage writes its log, then
# `end-of-log`, then waits (at most 10 minutes) until the benchmark has seen that line in the run's
# stage log and made /src/.log-volume-read: Docker 20.10 ends a followed log when the container
# exits even if the reader is behind (`docker logs -f` of a container writing 10 MiB at once gets
# half of it about one time in three), and what is measured is Sutradhar reading ALL of it.
pipeline() {
    local shape="$1" mib="$2" write
    local bytes=$((mib << 20))
    if [ "$shape" = lines ]; then
        write="/busybox yes $LINE | /busybox head -c $bytes"
    else
        write="/busybox head -c $bytes /dev/zero | /busybox tr '\\\\000' x; echo"
    fi
    local script="$write; echo end-of-log; i=0; while [ ! -e /src/.log-volume-read ] && [ \$i -lt 6000 ]; do /busybox sleep 0.1; i=\$((i + 1)); done"
    local file="$WORK/log-volume-$shape-$mib.yaml"
    cat >"$file" <<YAML
version: 1
name: log-volume
description: A container stage that logs $mib MiB as $shape (Benchmarks/log-volume-benchmark.sh).
source:
  path: ./source
stages:
  image:
    docker-build:
      context: .
      tags: ["$TAG"]
  talk:
    needs: [image]
    timeout: 20m
    container:
      image: image
      command: ["/busybox", "sh", "-c", "$script"]
YAML
    printf '%s\n' "$file"
}

# release_when_read CACHE: once the run's stage log ends with `end-of-log`, lets the container exit.
release_when_read() {
    local cache="$1" log checkout
    while kill -0 "$MEASURED_PID" 2>/dev/null; do
        log="$(find "$cache" -path '*/runs/*' -name talk.log 2>/dev/null | head -n 1)"
        if [ -n "$log" ] && tail -c 64 "$log" | grep -q '^end-of-log$'; then
            checkout="$(find "$cache/checkouts" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
            touch "$checkout/.log-volume-read"
            return 0
        fi
        sleep 0.2
    done
}

# measure SHAPE MIB MODE: runs the pipeline once under /usr/bin/time -v; sets KIB (peak RSS), WALL
# (elapsed) and CPU (user + system seconds), after checking that the run passed and what the
# stage's log holds.
measure() {
    local shape="$1" mib="$2" mode="$3" definition flags=()
    definition="$(pipeline "$shape" "$mib")"
    [ "$mode" = json ] && flags=(--json)
    local cache="$WORK/cache" out="$WORK/stdout" report="$WORK/time.txt"
    rm -rf "$cache"
    set +e
    /usr/bin/time -v -o "$report" "$SUTRADHAR" run "$definition" --cache-dir "$cache" --no-cache "${flags[@]}" >"$out" 2>"$WORK/stderr" &
    MEASURED_PID=$!
    release_when_read "$cache"
    wait "$MEASURED_PID"
    local status=$?
    MEASURED_PID=""
    set -e
    [ "$status" -eq 0 ] || { tail -n 20 "$out" "$WORK/stderr" >&2; die "the run ($shape, $mib MiB, $mode) exited $status"; }
    if [ "$mode" = json ]; then
        tail -n 1 "$out" | jq -e '.event == "run-finished" and .status == "passed"' >/dev/null \
            || die "the run ($shape, $mib MiB, json) did not end with a passed run-finished event"
    fi
    # The run's own record of the stage's log: every line, or the one line cut to its limit.
    local log
    log="$(find "$cache" -path '*/runs/*' -name 'talk.log' | head -n 1)"
    [ -n "$log" ] || die "the run recorded no log for the stage 'talk' under $cache"
    if [ "$shape" = lines ]; then
        local expected=$(((mib << 20) / 64)) got
        got="$(grep -c -- "^$LINE\$" "$log" || true)"
        [ "$got" -eq "$expected" ] || die "the stage log holds $got whole lines, expected $expected ($log)"
    else
        local longest
        longest="$(awk '{ if (length($0) > max) max = length($0) } END { print max + 0 }' "$log")"
        [ "$longest" -le $((64 << 10)) ] || die "the stage log holds a line of $longest bytes: the long line was not cut"
    fi
    KIB="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$report")"
    WALL="$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$report")"
    CPU="$(awk -F': ' '/User time|System time/ { total += $2 } END { printf "%.1f", total }' "$report")"
    [[ "$KIB" =~ ^[0-9]+$ ]] || die "no peak RSS in /usr/bin/time's report ($report)"
}

say "measuring $SUTRADHAR (sizes: $SIZES_MIB MiB; shapes: $SHAPES; modes: $MODES) in $WORK"
printf '%-8s %-9s %-6s %14s %12s %8s\n' "MiB" "shape" "mode" "peak RSS MiB" "wall" "CPU s"
failed=0
for mib in $SIZES_MIB; do
    for shape in $SHAPES; do
        for mode in $MODES; do
            measure "$shape" "$mib" "$mode"
            rss="$(awk -v k="$KIB" 'BEGIN { printf "%.1f", k / 1024 }')"
            verdict=""
            if [ "$mib" -ge "$TARGET_SIZE_MIB" ]; then
                if awk -v r="$rss" -v t="$TARGET_RSS_MIB" 'BEGIN { exit !(r < t) }'; then
                    verdict="(target < $TARGET_RSS_MIB: PASS)"
                else
                    verdict="(target < $TARGET_RSS_MIB: FAIL)"
                    failed=1
                fi
            fi
            printf '%-8s %-9s %-6s %14s %12s %8s %s\n' "$mib" "$shape" "$mode" "$rss" "$WALL" "$CPU" "$verdict"
            rm -rf "$WORK/cache" "$WORK/stdout"
        done
    done
done
exit "$failed"
