#!/usr/bin/env bash
# The docker-build benchmark: builds one Dockerfile with a large context through Sutradhar (a
# `docker-build` stage: its own tar writer and Engine API client) and through `docker build` with
# the classic builder (DOCKER_BUILDKIT=0) of the same folder, alternately, and prints:
#   - the median time ratio Sutradhar's stage / `docker build`   (target: <= 1.1)
#   - Sutradhar's peak resident memory                            (target: < 64 MiB)
#
#   Benchmarks/build-benchmark.sh                   (SIZE_MIB=200 ITERATIONS=5)
#   SIZE_MIB=32 ITERATIONS=2 Benchmarks/build-benchmark.sh        (a quick check)
#
# Settings (environment): SIZE_MIB, ITERATIONS, SUTRADHAR (the binary; default the debug build's
# .build/debug/sutradhar), BASE (an image in the daemon; default hello-server:latest, which
# `sutradhar run example` loads), DOCKER_HOST (default the rootless daemon's socket).
#
# The context is SIZE_MIB of random 1 MiB files plus a Dockerfile `FROM $BASE` / `COPY . /ctx`.
# Each iteration, both clients send the whole context; the daemon unpacks and hashes it and its
# own layer cache answers the COPY after the first build, so what is compared is sending the
# context and the daemon's work on it. Sutradhar runs with --no-cache (its own cache would skip
# the build). Its figure is the stage's `duration_ms` from the JSON summary (the wall time of the
# whole process, including the snapshot of the source folder, is printed beside it); its peak RSS
# is /usr/bin/time's %M (it runs no children for this stage).
set -euo pipefail
SIZE_MIB="${SIZE_MIB:-200}"
ITERATIONS="${ITERATIONS:-5}"
BASE="${BASE:-hello-server:latest}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
here="$(cd "$(dirname "$0")/.." && pwd)"
SUTRADHAR="${SUTRADHAR:-$here/.build/debug/sutradhar}"
work="$(mktemp -d /tmp/sutradhar-build-bench.XXXXXX)"
tag="sutradhar-build-bench:$$"
cleanup() { docker rmi -f "$tag" "$tag-cli" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

docker image inspect "$BASE" >/dev/null 2>&1 || { echo "$BASE is not in the daemon: run 'sutradhar run example' first, or set BASE" >&2; exit 2; }
mkdir -p "$work/ctx/data"
for i in $(seq 1 "$SIZE_MIB"); do head -c 1048576 /dev/urandom > "$work/ctx/data/blob-$i.bin"; done
printf 'FROM %s\nCOPY . /ctx\n' "$BASE" > "$work/ctx/Dockerfile"
cat > "$work/bench.yaml" <<YAML
version: 1
name: build-bench
source: { path: ./ctx }
stages:
  image:
    docker-build: { tags: ["$tag"] }
YAML

# A warm-up build, untimed: the first build of the context misses the daemon's layer cache.
DOCKER_BUILDKIT=0 docker build -q -t "$tag-cli" "$work/ctx" >/dev/null 2>&1
ratios=()
for i in $(seq 1 "$ITERATIONS"); do
    sync
    /usr/bin/time -f '%e %M' -o "$work/time" "$SUTRADHAR" run "$work/bench.yaml" --cache-dir "$work/cache" --no-cache --json > "$work/out.jsonl"
    read -r wall rss < "$work/time"
    stage_ms=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="run-finished":
        print([s for s in e["stages"] if s["name"]=="image"][0]["duration_ms"])' "$work/out.jsonl")
    sync
    start=$(date +%s.%N)
    DOCKER_BUILDKIT=0 docker build -q -t "$tag-cli" "$work/ctx" >/dev/null 2>&1
    end=$(date +%s.%N)
    cli_ms=$(python3 -c "print(round(($end-$start)*1000))")
    ratio=$(python3 -c "print(round($stage_ms/$cli_ms, 3))")
    ratios+=("$ratio")
    echo "iteration $i: sutradhar stage ${stage_ms} ms (process ${wall} s, peak RSS $((rss / 1024)) MiB), docker build ${cli_ms} ms, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
echo "median ratio sutradhar/docker build: $median (context ${SIZE_MIB} MiB)"
