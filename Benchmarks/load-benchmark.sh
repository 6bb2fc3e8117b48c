#!/usr/bin/env bash
# The image-load benchmark: loads one large docker-archive into the rootless daemon through
# Sutradhar (a `docker-load` stage, i.e. its own Engine API client) and through `docker load`
# of the same file, alternately, and prints the figures the README quotes:
#   - the median time ratio Sutradhar / `docker load`   (target: <= 1.05)
#   - Sutradhar's peak resident memory                  (target: < 64 MiB)
#
# Run as root on a machine set up by scripts/setup.sh:
#   sudo Benchmarks/load-benchmark.sh
#   sudo SIZE_MIB=64 ITERATIONS=3 Benchmarks/load-benchmark.sh     (a quick check)
#
# Settings (environment):
#   SIZE_MIB=512        size of the image archive, MiB (random, incompressible layer content)
#   ITERATIONS=5        how many Sutradhar/docker pairs to time
#   COMPRESS=none       `none`: a plain tar (what is measured by default); `gzip`: gzip -1 it,
#                       so both clients' daemons inflate it (and Sutradhar also inflates it
#                       once to read the image ID from the manifest before sending)
#   SUTRADHAR=PATH      the binary to measure; default: build the release binary with
#                       `swift build -c release --static-swift-stdlib --scratch-path .build-bench --product sutradhar`
#                       and strip it as scripts/try-example.sh installs it (.build-bench/installed/)
#   ENGINE=docker       `docker`: the rootless Docker daemon, compared with `docker load -i`;
#                       `podman`: rootless Podman's API service (SUTRADHAR_PODMAN_HOST, default
#                       the user's rootless Podman socket), compared with `podman load -i`
#                       run as its user (SUTRADHAR_USER, default sutradhar)
#   DOCKER_HOST         default the user's rootless socket (the rootless daemon)
#   WORK_PARENT=/tmp    where the temporary work folder goes (needs ~3 x SIZE_MIB free)
#
# What is timed, per iteration (the image is removed from the daemon by ID before each, and
# `sync` runs so that writeback of the previous load does not land in the next measurement):
#   1. `sutradhar run PIPELINE --stage load --cache-dir DIR --no-cache --json` under
#      `/usr/bin/time -f '%e %M'`. Reported: the load stage's own `duration_ms` (from the JSON
#      summary: reading the manifest, the upload, inspect and tag), and the whole process's wall
#      time (process start, checkout snapshot, `nix build` of the already-built store path, load).
#   2. `docker load -i FILE` of the same store path under the same `/usr/bin/time`.
# Peak RSS of Sutradhar is its own VmHWM, sampled from /proc/PID/status every 10 ms while it runs:
# `/usr/bin/time`'s %M is the largest of the process AND its waited-for children, and Sutradhar
# runs `nix` (build, path-info) as children, so %M is only an upper bound; both are printed.
#
# Nothing is left behind: the images, the work folder (with the cache and the out-link that
# roots the store path), and the store path itself (deleted once unrooted) go on exit, failure
# or interrupt.
set -euo pipefail

SIZE_MIB="${SIZE_MIB:-512}"
ITERATIONS="${ITERATIONS:-5}"
COMPRESS="${COMPRESS:-none}"
WORK_PARENT="${WORK_PARENT:-/tmp}"
ENGINE="${ENGINE:-docker}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
case "$ENGINE" in
    docker) export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}" ;;
    podman) export DOCKER_HOST="${SUTRADHAR_PODMAN_HOST:-$(user_podman_host)}" ;;
    *) printf 'load-benchmark: ENGINE must be docker or podman (got %s)\n' "$ENGINE" >&2; exit 2 ;;
esac
ENGINE_USER="${SUTRADHAR_USER:-sutradhar}"
TARGET_RATIO=1.05
TARGET_RSS_MIB=64
TAG="sutradhar-load-benchmark:latest"

BENCHMARK=load-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ "$SIZE_MIB" =~ ^[0-9]+$ && "$SIZE_MIB" -ge 4 ]] || die "SIZE_MIB must be a whole number of MiB, at least 4 (got '$SIZE_MIB')"
[[ "$ITERATIONS" =~ ^[0-9]+$ && "$ITERATIONS" -ge 1 ]] || die "ITERATIONS must be a positive whole number (got '$ITERATIONS')"
case "$COMPRESS" in none|gzip) ;; *) die "COMPRESS must be none or gzip (got '$COMPRESS')" ;; esac
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0): nix builds into the store directly, as in scripts/setup.sh's machine"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time (scripts/setup.sh installs it)"
command -v jq >/dev/null || die "jq is missing: apt-get install jq (scripts/setup.sh installs it)"
command -v nix >/dev/null || die "nix is missing: run scripts/setup.sh"
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static (scripts/setup.sh installs it)"
find_docker_cli "the comparison"
# The engine's own client, for the comparison load: `docker load` against DOCKER_HOST, or
# `podman load` as the user who owns the rootless Podman store (what a user of Podman types).
engine_load() {
    if [ "$ENGINE" = podman ]; then
        su -s /bin/sh "$ENGINE_USER" -c "cd / && XDG_RUNTIME_DIR=/run/user/$(id -u "$ENGINE_USER") exec podman load -q -i '$1'"
    else
        "$DOCKER" load -i "$1"
    fi
}

# --- the binary ----------------------------------------------------------------------------
use_release_binary

# --- work folder and cleanup ---------------------------------------------------------------
WORK="$(mktemp -d "$WORK_PARENT/sutradhar-load-benchmark.XXXXXX")"
# The nix builder may run as a nixbld user: it must be able to read the archive it copies.
chmod 755 "$WORK"
IMAGE_ID=""
STORE_PATH=""
DRV_PATH=""
SAMPLED_PID=""   # /usr/bin/time, while a measurement runs
MEASURED_PID=""  # the command it runs

remove_image() {
    [ -n "$IMAGE_ID" ] || return 0
    "$DOCKER" image rm --force "$IMAGE_ID" >/dev/null 2>&1 || true
    if "$DOCKER" image inspect "$IMAGE_ID" >/dev/null 2>&1; then
        die "could not remove image $IMAGE_ID from the daemon (is a container using it?)"
    fi
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e  # clean up as much as can be, whatever fails
    # Interrupted mid-measurement: stop the measured command (Sutradhar cancels its load on
    # SIGTERM) and wait for it, so it does not load the image again after it is removed.
    if [ -n "$SAMPLED_PID" ]; then
        [ -n "$MEASURED_PID" ] && kill -TERM "$MEASURED_PID" 2>/dev/null
        wait "$SAMPLED_PID" 2>/dev/null
    fi
    [ -n "$IMAGE_ID" ] && "$DOCKER" image rm --force "$IMAGE_ID" >/dev/null 2>&1 || true
    # The work folder holds the cache, whose nix/roots out-link is the store path's GC root.
    rm -rf "$WORK"
    local path
    for path in "$STORE_PATH" "$DRV_PATH"; do
        if [ -n "$path" ] && [ -e "$path" ]; then
            nix-store --delete "$path" >/dev/null 2>&1 \
                || say "note: could not delete $path (still rooted?); 'nix-collect-garbage' frees it later"
        fi
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the archive ---------------------------------------------------------------------------
# A docker-archive in the layout Examples/hello-server/build-image.sh writes: manifest.json, the
# config JSON named by its SHA-256, and one layer tar holding busybox (so it is a runnable image)
# and SIZE_MIB - 2 MiB of random bytes (incompressible, so gzip cannot shrink the work away).
make_archive() {
    local root="$WORK/rootfs" archive="$WORK/archive" random_mib=$((SIZE_MIB - 2))
    mkdir -p "$root/bin" "$root/tmp" "$root/data" "$archive/layer"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    chmod 1777 "$root/tmp"
    head -c "$((random_mib << 20))" /dev/urandom >"$root/data/random.bin"

    tar_fixed() { tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner "$@"; }
    tar_fixed -C "$root" -cf "$archive/layer/layer.tar" .
    rm -rf "$root"
    local layer_sha config_sha
    layer_sha="$(sha256sum "$archive/layer/layer.tar" | cut -d' ' -f1)"
    cat >"$WORK/config.json" <<JSON
{"architecture":"$ARCH","os":"linux","created":"1970-01-01T00:00:01Z","config":{"Cmd":["/bin/sh","-c","wc -c /data/random.bin"],"WorkingDir":"/","Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_sha"]}}
JSON
    config_sha="$(sha256sum "$WORK/config.json" | cut -d' ' -f1)"
    mv "$WORK/config.json" "$archive/$config_sha.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer/layer.tar"]}]\n' "$config_sha" "$TAG" >"$archive/manifest.json"
    if [ "$COMPRESS" = gzip ]; then
        tar_fixed -C "$archive" -cf - . | gzip -1 -n >"$WORK/image.tar"
    else
        tar_fixed -C "$archive" -cf "$WORK/image.tar" .
    fi
    rm -rf "$archive"
    chmod 644 "$WORK/image.tar"
    IMAGE_ID="sha256:$config_sha"
}

case "$(uname -m)" in
    x86_64) SYSTEM=x86_64-linux ARCH=amd64 ;;
    aarch64) SYSTEM=aarch64-linux ARCH=arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
esac

say "making a ${SIZE_MIB} MiB docker-archive ($COMPRESS) in $WORK"
make_archive
ARCHIVE_BYTES="$(stat -c %s "$WORK/image.tar")"

# --- the flake and the pipeline ------------------------------------------------------------
# The flake's only output is the archive itself: the builder copies the file made above (Debian's
# nix builds without a sandbox). The archive stays outside the flake folder, which nix copies.
mkdir -p "$WORK/flake"
cat >"$WORK/flake/flake.nix" <<NIX
{
  description = "load benchmark: a prebuilt ${SIZE_MIB} MiB docker-archive as a nix output";
  outputs = { self }: {
    packages.$SYSTEM.docker-image = derivation {
      name = "sutradhar-load-benchmark-image.tar";
      system = "$SYSTEM";
      builder = "/bin/sh";
      args = [ "-c" "cp $WORK/image.tar \$out" ];
      PATH = "/usr/bin:/bin";
    };
  };
}
NIX
cat >"$WORK/pipeline.yaml" <<YAML
version: 1
name: load-benchmark
description: Loads a prebuilt ${SIZE_MIB} MiB image archive (Benchmarks/load-benchmark.sh).
source:
  path: ./flake
nix:
  options: { substituters: "" }
stages:
  image:
    nix-build:
      installable: .#docker-image
  load:
    needs: [image]
    docker-load: { from: image, tags: ["$TAG"] }
YAML
CACHE="$WORK/cache"

say "building the nix stage once (not timed)"
"$SUTRADHAR" run "$WORK/pipeline.yaml" --stage image --cache-dir "$CACHE" --json >"$WORK/prepare.json" 2>"$WORK/prepare.err" \
    || { tail -n 20 "$WORK/prepare.err" >&2; die "the untimed nix-build stage failed (see above)"; }
STORE_PATH="$(jq -r 'select(.event == "run-finished") | .stages[] | select(.name == "image") | .outputs.out' "$WORK/prepare.json")"
DRV_PATH="$(jq -r 'select(.event == "run-finished") | .stages[] | select(.name == "image") | .outputs.drv // empty' "$WORK/prepare.json")"
[ -f "$STORE_PATH" ] || die "the nix-build stage reported no output file (got '$STORE_PATH')"
cmp -s "$STORE_PATH" "$WORK/image.tar" || die "$STORE_PATH differs from the archive it was copied from"
rm -f "$WORK/image.tar"  # both clients load the store path; one copy on disk is enough

# --- measuring -----------------------------------------------------------------------------
# Runs "$@" under /usr/bin/time; sets WALL (s), TREE_RSS_KIB (%M) and OWN_RSS_KIB (the command's
# own VmHWM, sampled; 0 if it never got sampled). stdout/stderr go to $OUT/$ERR.
measure() {
    local timing="$WORK/time.txt" pid="" status=0 key value _
    OWN_RSS_KIB=0
    if [ "$(type -t "$1")" = function ]; then
        # A shell function (engine_load) cannot be exec'd by time: export it to a bash child.
        export -f "$1"; export ENGINE ENGINE_USER DOCKER
        /usr/bin/time -f '%e %M' -o "$timing" bash -c '"$@"' _ "$@" >"$OUT" 2>"$ERR" &
    else
        /usr/bin/time -f '%e %M' -o "$timing" "$@" >"$OUT" 2>"$ERR" &
    fi
    SAMPLED_PID=$!
    while [ -z "$pid" ] && kill -0 "$SAMPLED_PID" 2>/dev/null; do
        pid="$(pgrep -P "$SAMPLED_PID" || true)"
    done
    MEASURED_PID=$pid
    while [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; do
        {
            while read -r key value _; do
                if [ "$key" = "VmHWM:" ]; then
                    [ "$value" -gt "$OWN_RSS_KIB" ] && OWN_RSS_KIB=$value
                    break
                fi
            done <"/proc/$pid/status"
        } 2>/dev/null || break
        sleep 0.01
    done
    wait "$SAMPLED_PID" || status=$?
    SAMPLED_PID="" MEASURED_PID=""
    read -r WALL TREE_RSS_KIB <"$timing" || true
    return "$status"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { sort -g | tail -n 1; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

: >"$WORK/rows"
say "timing $ITERATIONS pairs (sutradhar, then $ENGINE load) of $(mib "$((ARCHIVE_BYTES / 1024))") MiB"
printf '\n%-4s  %14s  %14s  %14s  %10s  %12s  %12s  %12s\n' \
    iter "sutradhar load" "sutradhar proc" "$ENGINE load" ratio "own RSS MiB" "tree RSS MiB" "$ENGINE RSS"
for i in $(seq 1 "$ITERATIONS"); do
    remove_image
    sync
    OUT="$WORK/run.json" ERR="$WORK/run.err"
    if ! measure "$SUTRADHAR" run "$WORK/pipeline.yaml" --stage load --cache-dir "$CACHE" --no-cache --json; then
        tail -n 20 "$ERR" >&2
        die "sutradhar run failed in iteration $i; the end of its stderr is above, its events are in $OUT"
    fi
    s_wall=$WALL s_tree=$TREE_RSS_KIB s_own=$OWN_RSS_KIB
    load_ms="$(jq -r 'select(.event == "run-finished") | .stages[] | select(.name == "load") | .duration_ms' "$OUT")"
    loaded="$(jq -r 'select(.event == "run-finished") | .stages[] | select(.name == "load") | .outputs.loaded' "$OUT")"
    [ "$loaded" = true ] || die "iteration $i: the load stage did not send the image (outputs.loaded=$loaded); it must, for the timing to mean anything"
    "$DOCKER" image inspect "$IMAGE_ID" >/dev/null 2>&1 || die "iteration $i: the daemon has no $IMAGE_ID after sutradhar's load"

    remove_image
    sync
    OUT="$WORK/docker.out" ERR="$WORK/docker.err"
    if ! measure engine_load "$STORE_PATH"; then
        cat "$ERR" >&2
        die "$ENGINE load failed in iteration $i (its stderr is above)"
    fi
    d_wall=$WALL d_rss=$TREE_RSS_KIB
    "$DOCKER" image inspect "$IMAGE_ID" >/dev/null 2>&1 || die "iteration $i: the daemon has no $IMAGE_ID after $ENGINE load"

    s_load=$(awk -v ms="$load_ms" 'BEGIN { printf "%.2f", ms / 1000 }')
    ratio=$(awk -v s="$s_load" -v d="$d_wall" 'BEGIN { printf "%.3f", s / d }')
    proc_ratio=$(awk -v s="$s_wall" -v d="$d_wall" 'BEGIN { printf "%.3f", s / d }')
    echo "$s_load $s_wall $d_wall $ratio $proc_ratio $s_own $s_tree $d_rss" >>"$WORK/rows"
    printf '%-4s  %13ss  %13ss  %13ss  %10s  %12s  %12s  %12s\n' "$i" "$s_load" "$s_wall" "$d_wall" "$ratio" \
        "$(mib "$s_own")" "$(mib "$s_tree")" "$(mib "$d_rss")"
done
remove_image

field() { awk -v c="$1" '{ print $c }' "$WORK/rows"; }
med_load=$(field 1 | median); med_proc=$(field 2 | median); med_docker=$(field 3 | median)
med_ratio=$(field 4 | median); med_proc_ratio=$(field 5 | median)
own_rss_mib=$(mib "$(field 6 | max)"); tree_rss_mib=$(mib "$(field 7 | max)"); docker_rss_mib=$(mib "$(field 8 | max)")
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "PASS" : "MISS") }'; }
ratio_ok=$(awk -v r="$med_ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r <= t) }')
rss_ok=$(awk -v r="$own_rss_mib" -v t="$TARGET_RSS_MIB" 'BEGIN { print (r < t) }')

cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
mem_gib="$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
revision="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$REPO" diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then revision="$revision+changes"; fi
cat <<REPORT

Image load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')
  machine:    $(nproc) CPUs ($cpu), ${mem_gib} GiB memory, $(uname -sr)
  daemon:     $ENGINE $("$DOCKER" version --format '{{.Server.Version}}') (rootless) at $DOCKER_HOST; compared with \`$ENGINE load -i\`$([ "$ENGINE" = podman ] && echo " as $ENGINE_USER")
  sutradhar:  $SUTRADHAR (source $revision)
  archive:    $(mib "$((ARCHIVE_BYTES / 1024))") MiB docker-archive, $([ "$COMPRESS" = gzip ] && echo "gzip -1" || echo "plain tar, not compressed"), random layer content; $ITERATIONS iterations
  reproduce:  sudo ENGINE=$ENGINE SIZE_MIB=$SIZE_MIB ITERATIONS=$ITERATIONS COMPRESS=$COMPRESS Benchmarks/load-benchmark.sh

  median sutradhar load stage (duration_ms):   ${med_load} s
  median sutradhar whole process:              ${med_proc} s   (includes checkout snapshot and nix build of the built path)
  median $ENGINE load -i:                       ${med_docker} s
  median ratio load stage / $ENGINE load:       ${med_ratio}   target <= ${TARGET_RATIO}: $(verdict "$ratio_ok")
  median ratio whole process / $ENGINE load:    ${med_proc_ratio}
  sutradhar peak RSS (own VmHWM, max):         ${own_rss_mib} MiB   target < ${TARGET_RSS_MIB} MiB: $(verdict "$rss_ok")
  sutradhar peak RSS incl. nix children (%M):  ${tree_rss_mib} MiB
  $ENGINE CLI peak RSS (%M):                    ${docker_rss_mib} MiB
REPORT
