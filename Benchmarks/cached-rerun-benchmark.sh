#!/usr/bin/env bash
# The cached-rerun benchmark: a fully cached rerun of the example pipeline through
# Sutradhar beside the same work done by hand in a shell script, and the time of a cached rerun
# as the repository's history grows. Prints the figures the README quotes:
#   - the median time ratio Sutradhar cached rerun / by-hand script       (target: < 0.2)
#   - the median cached rerun at 1, 100 and 1,000 commits in the mirror  (target: flat, within 20 %)
#
# Run as root on a machine set up by scripts/setup.sh:
#   sudo Benchmarks/cached-rerun-benchmark.sh
#   sudo ITERATIONS=3 HISTORY_SIZES=100 Benchmarks/cached-rerun-benchmark.sh     (a quick check)
#
# Settings (environment):
#   ITERATIONS=5          how many Sutradhar/script pairs to time
#   HISTORY_ROUNDS=15     how many cached reruns of each kind per history size (they take ~0.1 s
#                         each; more of them steady the medians on a machine shared with builds)
#   HISTORY_SIZES="100 1000"  the commit counts the mirror is grown to (1 is always measured)
#   SUTRADHAR=PATH        the binary to measure; default: build the release binary with
#                         `swift build -c release --static-swift-stdlib --scratch-path .build-bench --product sutradhar`
#                         and strip it as scripts/try-example.sh installs it (.build-bench/installed/)
#   DOCKER_HOST           default the user's rootless socket (the rootless daemon)
#   WORK_PARENT=/tmp      where the temporary work folder goes
#
# What is timed (wall time of the whole process, from bash's $EPOCHREALTIME):
#   1. Sutradhar: `sutradhar run PIPELINE --cache-dir DIR --commit SHA --json`, the pipeline being
#      pipelines/example.yaml's image → load → smoke (exec probe) on a git repository made from
#      Examples/hello-server. Every timed run must exit 0 with every stage `cached: true` and the
#      checkout not fetched, or the benchmark stops.
#   2. The by-hand script (written to the work folder as by-hand.sh; run with bash): a fresh
#      `git clone` and checkout of SHA, `nix build .#docker-image --no-link --json` (flakes on,
#      substituters ""; it finds the path built, as any script would), `docker load -i OUT`,
#      `docker run -d --network=none IMAGE`, `docker exec … wget -qO- http://127.0.0.1:8080/health`
#      every 0.1 s until it says ok, `docker rm -f`, removal of the clone.
#   3. History: one set-up per size (1, 100, 1,000 commits): a copy of the repository, its own
#      cache, warmed with `--commit SHA` while the copy holds one commit. Each copy then gains
#      commits (each changes a file no nix input reads, so every commit has its own tree, as
#      real history does) up to its size, and one untimed `sutradhar run --commit main` fetches
#      them into the existing mirror. Timed: cached reruns of the SAME first commit
#      (`--commit SHA`, resolved in the mirror) and of the branch (`--commit main`, which asks
#      the source for its refs), the sizes taken in turns so that the machine's drifting load
#      weighs on each alike.
#
# Nothing is left behind: the by-hand containers (found by their label), the benchmark's image
# tag (and hello-server:latest if the daemon did not have it before), and the work folder (the
# repository, the cache and its nix out-links) go on exit, failure or interrupt. Store paths
# stay (the image's is the bundled example's own); `nix-collect-garbage` frees unrooted ones.
set -euo pipefail

ITERATIONS="${ITERATIONS:-5}"
HISTORY_ROUNDS="${HISTORY_ROUNDS:-15}"
HISTORY_SIZES="${HISTORY_SIZES:-100 1000}"
WORK_PARENT="${WORK_PARENT:-/tmp}"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # user_docker_host
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
TARGET_RATIO=0.2
FLAT_TOLERANCE=0.20
TAG="sutradhar-cached-rerun-benchmark:run-$$"
LABEL="dev.sutradhar.benchmark=cached-rerun-$$"
EXAMPLE_TAG="hello-server:latest"  # the tag Examples/hello-server's archive carries

BENCHMARK=cached-rerun-benchmark
# shellcheck source=Benchmarks/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ "$ITERATIONS" =~ ^[0-9]+$ && "$ITERATIONS" -ge 1 ]] || die "ITERATIONS must be a positive whole number (got '$ITERATIONS')"
[[ "$HISTORY_ROUNDS" =~ ^[0-9]+$ && "$HISTORY_ROUNDS" -ge 1 ]] || die "HISTORY_ROUNDS must be a positive whole number (got '$HISTORY_ROUNDS')"
for size in $HISTORY_SIZES; do
    [[ "$size" =~ ^[0-9]+$ && "$size" -ge 2 ]] || die "HISTORY_SIZES must be whole numbers of commits, at least 2 (got '$size')"
done
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0): nix builds into the store directly, as in scripts/setup.sh's machine"
[ -n "${EPOCHREALTIME:-}" ] || die "this bash has no \$EPOCHREALTIME (bash 5 or later is needed)"
command -v jq >/dev/null || die "jq is missing: apt-get install jq (scripts/setup.sh installs it)"
command -v git >/dev/null || die "git is missing: apt-get install git"
command -v nix >/dev/null || die "nix is missing: run scripts/setup.sh"
[ -x /bin/busybox ] || die "/bin/busybox is missing: apt-get install busybox-static (the example image copies it)"
find_docker_cli "the by-hand script"

# --- the binary ----------------------------------------------------------------------------
use_release_binary

# --- work folder and cleanup ---------------------------------------------------------------
WORK="$(mktemp -d "$WORK_PARENT/sutradhar-cached-rerun-benchmark.XXXXXX")"
chmod 755 "$WORK"  # a nixbld builder may need to read the flake's files
CACHE="$WORK/cache"
SOURCE="$WORK/hello-server"
EXAMPLE_TAG_EXISTED=false
"$DOCKER" image inspect "$EXAMPLE_TAG" >/dev/null 2>&1 && EXAMPLE_TAG_EXISTED=true
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e  # clean up as much as can be, whatever fails
    local containers
    containers="$("$DOCKER" ps -aq --filter "label=$LABEL" 2>/dev/null)"
    [ -n "$containers" ] && "$DOCKER" rm -f $containers >/dev/null 2>&1
    # Tags only, never image IDs: the image is the bundled example's, which others may use. The
    # last tag's removal deletes the image (unless a container still uses it).
    [ "$EXAMPLE_TAG_EXISTED" = false ] && "$DOCKER" image rm "$EXAMPLE_TAG" >/dev/null 2>&1
    "$DOCKER" image rm "$TAG" >/dev/null 2>&1
    rm -rf "$WORK"  # the repository, clones, and the cache with its nix/roots out-links
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the repository, the pipeline and the by-hand script -----------------------------------
git_quiet() { git -C "$SOURCE" -c user.name=Benchmark -c user.email=benchmark@example.invalid "$@"; }
cp -r "$REPO/Examples/hello-server" "$SOURCE"
git -C "$SOURCE" init -q -b main
git_quiet add -A
git_quiet commit -q -m "hello-server"
SHA="$(git -C "$SOURCE" rev-parse HEAD)"

# write_pipeline FILE REPOSITORY: pipelines/example.yaml's image, load and smoke stages, on a git
# repository (the example itself builds a folder as it is), loading under the benchmark's tag.
write_pipeline() {
    cat >"$1" <<YAML
version: 1
name: cached-rerun-benchmark
description: pipelines/example.yaml's image, load and smoke on a git repository (Benchmarks/cached-rerun-benchmark.sh).
source:
  git: $2
  ref: main
nix:
  options: { substituters: "" }
stages:
  image:
    nix-build:
      installable: .#docker-image
  load:
    needs: [image]
    docker-load: { from: image, tags: ["$TAG"] }
  smoke:
    needs: [load]
    timeout: 60s
    smoke:
      image: load
      limits: { data: 256MiB, cpu-seconds: 60 }
      probe:
        exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
        expect-stdout: ok
        attempts: 20
        interval: 500ms
YAML
}
write_pipeline "$WORK/pipeline.yaml" "$SOURCE"
PIPELINE="$WORK/pipeline.yaml" RUN_CACHE="$CACHE"

# What a person would write to build, load and probe one commit by hand. Usage:
#   by-hand.sh REPOSITORY COMMIT; it appends a line of 7 step marks (epoch seconds) to $STEPS_FILE.
cat >"$WORK/by-hand.sh" <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
repository=$1 commit=$2
docker=${DOCKER:-docker}
work="$(mktemp -d)"
container=""
trap '[ -z "$container" ] || "$docker" rm -f "$container" >/dev/null 2>&1; rm -rf "$work"' EXIT
mark() { marks+=("$EPOCHREALTIME"); }
marks=("$EPOCHREALTIME")

git clone -q "$repository" "$work/src"
git -C "$work/src" checkout -q --detach "$commit"
mark
out="$(cd "$work/src" && nix --extra-experimental-features 'nix-command flakes' --option substituters '' \
    build '.#docker-image' --no-link --json | jq -r '.[0].outputs.out')"
mark
loaded="$("$docker" load -i "$out")"
image="$(sed -n 's/^Loaded image: //p' <<<"$loaded" | head -n 1)"
[ -n "$image" ] || { echo "docker load named no image: $loaded" >&2; exit 1; }
mark
container="$("$docker" run -d --network=none --label "$BENCHMARK_LABEL" "$image")"
mark
healthy=false
for _ in $(seq 1 100); do
    if [ "$("$docker" exec "$container" wget -qO- http://127.0.0.1:8080/health 2>/dev/null)" = ok ]; then
        healthy=true
        break
    fi
    sleep 0.1
done
mark
"$docker" rm -f "$container" >/dev/null
container=""
rm -rf "$work"
mark
[ "$healthy" = true ] || { echo "the server never answered ok on /health" >&2; exit 1; }
# The step marks (epoch seconds), written without forking so as not to add to the timed work.
echo "${marks[*]}" >>"$STEPS_FILE"
SCRIPT
chmod 755 "$WORK/by-hand.sh"
export DOCKER BENCHMARK_LABEL="$LABEL" STEPS_FILE="$WORK/by-hand-steps"

# --- measuring -----------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }

# Runs `sutradhar run $PIPELINE --cache-dir $RUN_CACHE --json ARGS...`; sets WALL (s), LAUNCHED and
# EXITED (epoch s); the events go to $OUT. Fails the benchmark on a non-zero exit.
run_sutradhar() {
    local status=0
    LAUNCHED=$EPOCHREALTIME
    "$SUTRADHAR" run "$PIPELINE" --cache-dir "$RUN_CACHE" --json "$@" >"$OUT" 2>"$WORK/run.err" || status=$?
    EXITED=$EPOCHREALTIME
    WALL=$(elapsed "$LAUNCHED" "$EXITED")
    if [ "$status" -ne 0 ]; then
        tail -n 20 "$WORK/run.err" >&2
        jq -c 'select(.event == "run-finished") | .stages[] | {name, status, cached, error}' "$OUT" >&2 || true
        die "sutradhar run $* exited $status (its stderr and stages are above; events in $OUT)"
    fi
}

# Fails unless the run in $OUT was a fully cached rerun: passed, every stage cached, nothing fetched.
expect_fully_cached() {
    local what=$1 problems
    problems="$(jq -r 'select(.event == "run-finished") |
        (if .status != "passed" then "status \(.status)" else empty end),
        (.stages[] | select(.cached != true) | "stage \(.name) not cached (\(.status))"),
        (.stages[] | select(.name == "checkout" and .outputs.fetched != false) | "the checkout fetched")' "$OUT")"
    [ "$(jq -s '[.[] | select(.event == "run-finished")] | length' "$OUT")" -eq 1 ] || die "$what: no run-finished summary in $OUT"
    [ -z "$problems" ] || die "$what was not a fully cached rerun: $(tr '\n' ';' <<<"$problems")"
}

# Where the cached run's time went, from its events' timestamps (ms) and the launch/exit times:
# start-up, preflight (cache open, nix --version, daemon /info, leftover sweep), checkout, image,
# load, smoke, wrap-up (audit trail, cache limits), exit (history commit, shutdown). One line of
# 8 numbers, in ms.
phases() {
    jq -rs --argjson launched "$(ms "$LAUNCHED")" --argjson exited "$(ms "$EXITED")" '
        def t: (.time[0:19] + "Z" | fromdateiso8601) * 1000 + (.time[20:23] | tonumber);
        def at(f): (map(select(f)) | first | t);
        [ $launched,
          at(.event == "run-started"),
          at(.event == "stage-started" and .stage == "checkout"),
          at(.event == "stage-started" and .stage == "image"),
          at(.event == "stage-started" and .stage == "load"),
          at(.event == "stage-started" and .stage == "smoke"),
          at(.event == "stage-finished" and .stage == "smoke"),
          at(.event == "run-finished"),
          $exited ] as $m
        | [range(1; $m | length) | $m[.] - $m[. - 1] | floor] | map(tostring) | join(" ")' "$OUT"
}

cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
mem_gib="$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
# Sutradhar starts nix by name, and a spawn by name tries PATH's entries in turn (a failed
# spawn for each entry before nix's): where nix sits in PATH shows in the cached rerun's time.
nix_position() {
    local entry n=0 total IFS=:
    total=$(tr ':' '\n' <<<"$PATH" | wc -l)
    for entry in $PATH; do
        n=$((n + 1))
        if [ -x "$entry/nix" ]; then echo "$entry/nix, entry $n of PATH's $total"; return; fi
    done
    echo "not on PATH"
}
revision="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$REPO" diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then revision="$revision+changes"; fi

# --- warm-up -------------------------------------------------------------------------------
say "warm-up: one sutradhar run (fills the cache) and one by-hand run, neither timed"
OUT="$WORK/warm-up.json"
run_sutradhar --commit "$SHA"
jq -r 'select(.event == "run-finished") | .stages[] | "  warm-up \(.name): \(.status), cached \(.cached), \(.duration_ms) ms"' "$OUT" >&2
STEPS_FILE="$WORK/warm-up-steps" bash "$WORK/by-hand.sh" "$SOURCE" "$SHA" >/dev/null \
    || die "the by-hand script failed in its warm-up run"

# --- 1. cached rerun against the by-hand script --------------------------------------------
: >"$WORK/pairs" ; : >"$WORK/phases" ; : >"$STEPS_FILE"
say "timing $ITERATIONS pairs: a fully cached sutradhar rerun, then the by-hand script"
printf '\n%-4s  %16s  %16s  %8s\n' pair "sutradhar rerun" "by-hand script" ratio
for i in $(seq 1 "$ITERATIONS"); do
    OUT="$WORK/rerun-$i.json"
    run_sutradhar --commit "$SHA"
    s_wall=$WALL
    expect_fully_cached "pair $i's sutradhar run"
    phases >>"$WORK/phases"

    started=$EPOCHREALTIME
    bash "$WORK/by-hand.sh" "$SOURCE" "$SHA" >"$WORK/by-hand.out" 2>&1 \
        || { cat "$WORK/by-hand.out" >&2; die "the by-hand script failed in pair $i (its output is above)"; }
    ended=$EPOCHREALTIME
    h_wall=$(elapsed "$started" "$ended")

    ratio=$(awk -v s="$s_wall" -v h="$h_wall" 'BEGIN { printf "%.3f", s / h }')
    echo "$s_wall $h_wall $ratio" >>"$WORK/pairs"
    printf '%-4s  %15ss  %15ss  %8s\n' "$i" "$s_wall" "$h_wall" "$ratio"
done

column() { awk -v c="$1" '{ print $c }' "$2"; }
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "PASS" : "MISS") }'; }
med_s=$(column 1 "$WORK/pairs" | median); med_h=$(column 2 "$WORK/pairs" | median)
med_ratio=$(column 3 "$WORK/pairs" | median)
ratio_of_medians=$(awk -v s="$med_s" -v h="$med_h" 'BEGIN { printf "%.3f", s / h }')
ratio_ok=$(awk -v r="$med_ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r < t) }')
phase_medians=""
for c in 1 2 3 4 5 6 7 8; do phase_medians="$phase_medians $(column "$c" "$WORK/phases" | median)"; done
# The by-hand steps: clone + checkout, nix build, docker load, docker run, probe, rm -f + clean-up.
awk '{ for (i = 2; i <= NF; i++) printf "%.3f ", $i - $(i - 1); print "" }' "$STEPS_FILE" >"$WORK/steps"
step_medians=""
for c in 1 2 3 4 5 6; do step_medians="$step_medians $(column "$c" "$WORK/steps" | median)"; done

# --- 2. history growth ---------------------------------------------------------------------
# One set-up per size: a copy of the one-commit repository, its pipeline and its own cache, warmed
# with the fixed commit while the copy still holds one commit; then the copy grows to SIZE commits
# and one run of `main` fetches them into the (existing) mirror, as a growing repository's would.
# The timed reruns then go round the sizes in turns, so that the machine's load, which drifts
# (other builds share it), weighs on every size alike.
mirror_of() {
    local mirror
    mirror="$(find "$1/git/mirrors" -mindepth 1 -maxdepth 1 -type d -name '*.git' | head -n 1)"
    [ -n "$mirror" ] || die "no mirror under $1/git/mirrors"
    echo "$mirror"
}
mirror_commits() { git --git-dir="$(mirror_of "$1")" rev-list --count --all; }
mirror_objects() {
    git --git-dir="$(mirror_of "$1")" count-objects -v \
        | awk -F': ' '{ v[$1] = $2 } END { printf "%d objects, %d KiB", v["count"] + v["in-pack"], v["size"] + v["size-pack"] }'
}

# Adds commits to main of repository $1 until it holds $2: each rewrites HISTORY (read by no nix
# input), so each has a tree of its own. git fast-import writes them in one process, quickly.
grow_history() {
    local source=$1 target=$2 have k when
    have="$(git -C "$source" rev-list --count main)"
    when="$(git -C "$source" log -1 --format=%ct main)"
    {
        for ((k = have + 1; k <= target; k++)); do
            printf 'commit refs/heads/main\ncommitter Benchmark <benchmark@example.invalid> %d +0000\n' "$((when + k))"
            printf 'data <<EOM\nhistory commit %d\nEOM\n' "$k"
            [ "$k" -eq $((have + 1)) ] && printf 'from refs/heads/main^0\n'
            printf 'M 644 inline HISTORY\ndata <<EOM\ncommit %d of the benchmark history\nEOM\n\n' "$k"
        done
    } | git -C "$source" fast-import --quiet
    git -C "$source" reset -q --hard  # the working tree follows the branch (cosmetic: nothing reads it)
    [ "$(git -C "$source" rev-list --count main)" -eq "$target" ] || die "$source does not hold $target commits after fast-import"
}

SIZES="1 $HISTORY_SIZES"
say "history: one set-up per size (${SIZES// /, } commits), each warmed with the fixed commit"
for size in $SIZES; do
    dir="$WORK/history-$size"
    mkdir -p "$dir"
    cp -a "$SOURCE" "$dir/hello-server"
    write_pipeline "$dir/pipeline.yaml" "$dir/hello-server"
    PIPELINE="$dir/pipeline.yaml" RUN_CACHE="$dir/cache" OUT="$dir/warm-up.json"
    run_sutradhar --commit "$SHA"
    [ "$(mirror_commits "$dir/cache")" -eq 1 ] || die "the $size-commit set-up's mirror should hold 1 commit before growth"
done
: >"$WORK/history"
for size in $SIZES; do
    dir="$WORK/history-$size"
    [ "$size" -eq 1 ] || grow_history "$dir/hello-server" "$size"
    PIPELINE="$dir/pipeline.yaml" RUN_CACHE="$dir/cache" OUT="$dir/fetch.json"
    run_sutradhar --commit main
    fetched="$(jq -r 'select(.event == "run-finished") | .stages[] | select(.name == "checkout") | .outputs.fetched' "$OUT")"
    if [ "$size" -eq 1 ]; then
        expect_fully_cached "the run of main in the 1-commit set-up"
    else
        [ "$fetched" = true ] || die "the run of main after growing the history to $size commits did not fetch"
    fi
    [ "$(mirror_commits "$dir/cache")" -eq "$size" ] || die "the mirror holds $(mirror_commits "$dir/cache") commits, not $size, after the fetch"
    echo "$size $WALL $fetched $(mirror_objects "$dir/cache")" >"$dir/fetch"
    : >"$dir/sha" ; : >"$dir/main"
done
say "timing $HISTORY_ROUNDS rounds of cached reruns: --commit SHA at each size, then --commit main at each size"
for round in $(seq 1 "$HISTORY_ROUNDS"); do
    for ref in sha main; do
        for size in $SIZES; do
            dir="$WORK/history-$size"
            PIPELINE="$dir/pipeline.yaml" RUN_CACHE="$dir/cache" OUT="$dir/rerun-$ref-$round.json"
            if [ "$ref" = sha ]; then run_sutradhar --commit "$SHA"; else run_sutradhar --commit main; fi
            expect_fully_cached "round $round's cached rerun of $ref at $size commits"
            echo "$WALL" >>"$dir/$ref"
        done
    done
done
for size in $SIZES; do
    dir="$WORK/history-$size"
    read -r _ fetch_wall fetched objects <"$dir/fetch"
    echo "$size $(median <"$dir/sha") $(median <"$dir/main") $fetch_wall $fetched $objects" >>"$WORK/history"
done
base="$(awk 'NR == 1 { print $2 }' "$WORK/history")"
base_main="$(awk 'NR == 1 { print $3 }' "$WORK/history")"
flat_ok=$(awk -v b="$base" -v bm="$base_main" -v t="$FLAT_TOLERANCE" '
    BEGIN { ok = 1 } { if ($2 > b * (1 + t) || $3 > bm * (1 + t)) ok = 0 } END { print ok }' "$WORK/history")

# --- report --------------------------------------------------------------------------------
read -r p_start p_pre p_checkout p_image p_load p_smoke p_wrap p_exit <<<"$phase_medians"
read -r h_clone h_nix h_load h_run h_probe h_rm <<<"$step_medians"
cat <<REPORT

Cached rerun benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')
  machine:    $(nproc) CPUs ($cpu), ${mem_gib} GiB memory, $(uname -sr); load average $LOAD_AT_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end
  daemon:     Docker $("$DOCKER" version --format '{{.Server.Version}}') (rootless) at $DOCKER_HOST; CLI $("$DOCKER" version --format '{{.Client.Version}}') at $DOCKER
  tools:      $(nix --version) ($(nix_position)), $(git --version)
  sutradhar:  $SUTRADHAR (source $revision)
  reproduce:  sudo ITERATIONS=$ITERATIONS HISTORY_ROUNDS=$HISTORY_ROUNDS HISTORY_SIZES="$HISTORY_SIZES" Benchmarks/cached-rerun-benchmark.sh

  median sutradhar cached rerun (whole process):   ${med_s} s
  median by-hand script:                           ${med_h} s
  median ratio sutradhar / script:                 ${med_ratio}   target < ${TARGET_RATIO}: $(verdict "$ratio_ok")
  ratio of the medians:                            ${ratio_of_medians}

  sutradhar cached rerun, median ms per phase:
    start-up ${p_start} | preflight (cache open, nix --version, daemon /info, leftovers) ${p_pre} | checkout ${p_checkout}
    image (cache hit + nix path-info) ${p_image} | load (inspect + tag) ${p_load} | smoke (cached verdict) ${p_smoke}
    wrap-up (audit trail, cache limits) ${p_wrap} | exit (history commit, shutdown) ${p_exit}
  by-hand script, median s per step:
    git clone + checkout ${h_clone} | nix build ${h_nix} | docker load ${h_load} | docker run ${h_run} | probe ${h_probe} | docker rm -f + rm ${h_rm}

  cached rerun as the mirror's history grows (median of $HISTORY_ROUNDS each, sizes taken in turns):
    commits   --commit SHA  (vs 1)   --commit main  (vs 1)   run of main after growth    mirror
$(awk -v b="$base" -v bm="$base_main" '{ printf "    %7s   %9s s  (%4.2f)   %10s s  (%4.2f)   %8s s (fetched: %-5s)   %s %s %s %s\n",
    $1, $2, $2 / b, $3, $3 / bm, $4, $5, $6, $7, $8, $9 }' "$WORK/history")
  flat (every size within $(awk -v t="$FLAT_TOLERANCE" 'BEGIN { print t * 100 }') % of 1 commit): $(verdict "$flat_ok")
REPORT
