#!/usr/bin/env bash
# The mirror benchmark: the first mirror of a repository on this machine with a long
# history, and an incremental fetch of new commits into it, by Sutradhar's GitMirror and by git,
# side by side. Prints, as medians over ITERATIONS:
#   - first mirror: time and peak RSS of Sutradhar vs `git clone --mirror file://SOURCE`
#     (targets: time <= 1.2x git's, peak RSS <= git's); `git clone --mirror SOURCE` (git's own
#     hard-linking local clone) and Sutradhar with the mirrors on another file system (no hard
#     links: every object file copied) for reference
#   - incremental fetch of NEW_COMMITS commits: Sutradhar vs `git fetch` into git's mirror
#     (target: under 1 s)
#
#   Benchmarks/mirror-benchmark.sh                             (COMMITS=20000 ITERATIONS=3)
#   COMMITS=2000 ITERATIONS=1 Benchmarks/mirror-benchmark.sh   (a quick check)
#   SSH=1 Benchmarks/mirror-benchmark.sh                       (over ssh, as root: see below)
#
# With SSH=1 both sides read the source over ssh from the second host of scripts/second-host.sh
# (started if it is not running; a real sshd in its own network namespace, serving this machine's
# files): `git clone --mirror ssh://root@HOST/SOURCE` and `git fetch` against Sutradhar with the
# same URL (libgit2's ssh transport, the key through an ssh-agent started for the benchmark, the
# host key in a known_hosts of the benchmark's own HOME). The local-path rows are left out.
#
# Settings (environment): COMMITS, FILES (in the tree; default 1500), NEW_COMMITS (default 100),
# ITERATIONS, MIRROR_BENCHMARK (the binary; default the release build of the
# sutradhar-mirror-benchmark target in .build-bench, which depends on GitMirror alone), BASELINE
# (another build of that target, e.g. of an older commit: its first mirror and incremental fetch are
# timed once beside the others), OTHER_FS (a folder on another file system; default /dev/shm when
# it is one).
#
# The source is a working clone made here: Benchmarks/mirror_history.py writes COMMITS commits of
# realistic churn (1-4 files changed by a few lines each, files added and removed, a release branch
# and an annotated tag every 1,000 commits) through `git fast-import`, so the source holds one
# pack, as a cloned or gc'd repository does; the new commits are made with `git commit`, so they
# are loose objects, as in an agent's workspace. Every figure is /usr/bin/time's wall time (%e) and
# peak RSS (%M, the largest process: for git, the index-pack or upload-pack it runs), warm caches.
set -euo pipefail
BENCHMARK=mirror-benchmark
source "$(dirname "$0")/common.sh"
COMMITS="${COMMITS:-20000}"
FILES="${FILES:-1500}"
NEW_COMMITS="${NEW_COMMITS:-100}"
ITERATIONS="${ITERATIONS:-3}"
work="$(mktemp -d /tmp/sutradhar-mirror-bench.XXXXXX)"
other=""
trap 'rm -rf "$work" ${other:+"$other"}' EXIT INT TERM

use_release_product MIRROR_BENCHMARK sutradhar-mirror-benchmark
other_fs="${OTHER_FS:-/dev/shm}"
if [ -d "$other_fs" ] && [ "$(stat -c %d "$other_fs")" != "$(stat -c %d "$work")" ]; then
    other="$(mktemp -d "$other_fs/sutradhar-mirror-bench.XXXXXX")"
fi

git_quiet() { git -c user.name=Bench -c user.email=bench@example.invalid "$@"; }

src="$work/source"
say "making the source: $COMMITS commits of $FILES files through git fast-import"
git init -q -b main "$src"
python3 "$REPO/Benchmarks/mirror_history.py" --commits "$COMMITS" --files "$FILES" | git -C "$src" fast-import --quiet --done
git -C "$src" checkout -q -f main
source_url="file://$src"   # what git reads; Sutradhar reads the path (its local fast path)
mirror_source="$src"
if [ "${SSH:-0}" = 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "SSH=1 needs root (it starts the second host)"
    eval "$("$REPO/scripts/second-host.sh" start)"
    eval "$(ssh-agent -s)" >/dev/null
    trap 'ssh-agent -k >/dev/null 2>&1; rm -rf "$work" ${other:+"$other"}' EXIT INT TERM
    ssh-add -q "$SECOND_HOST_SSH_KEY" || die "ssh-add $SECOND_HOST_SSH_KEY failed"
    mkdir -p "$work/home/.ssh"
    printf '%s %s\n' "$SECOND_HOST_ADDRESS" "$(base64 -d <<<"$SECOND_HOST_PUBLIC_HOST_KEY" | cut -d' ' -f1-2)" >"$work/home/.ssh/known_hosts"
    export HOME="$work/home"
    export GIT_SSH_COMMAND="ssh -o UserKnownHostsFile=$work/home/.ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
    source_url="ssh://root@$SECOND_HOST_ADDRESS$src"
    mirror_source="$source_url"
    other=""
fi
say "source: $(git -C "$src" rev-list --count --all) commits, $(git -C "$src" count-objects -v | awk '/^in-pack/ {print $2}') objects, pack $(du -sh "$src/.git/objects/pack" | cut -f1)"

# timed LABEL COMMAND...: runs COMMAND under /usr/bin/time, appends "seconds kib" to $work/LABEL.
timed() {
    local label="$1"; shift
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; die "$label failed: $*"; }
    cat "$work/time" >>"$work/$label"
}
# median LABEL COLUMN: the median of a column (1: seconds, 2: KiB) of $work/LABEL.
median() { awk -v c="$2" '{print $c}' "$work/$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq 1 "$ITERATIONS"); do
    say "first mirror, round $i of $ITERATIONS"
    sync
    timed git-file git clone -q --mirror "$source_url" "$work/git-file-$i.git"
    [ "$mirror_source" != "$src" ] || timed git-local git clone -q --mirror "$src" "$work/git-local-$i.git"
    timed sutradhar "$MIRROR_BENCHMARK" "$mirror_source" "$work/mirrors-$i" main
    grep -q "fetched=true" "$work/out" || die "Sutradhar's first mirror did not fetch: $(cat "$work/out")"
    [ "$(git -C "$work"/mirrors-"$i"/*.git for-each-ref | sort)" = "$(git -C "$work/git-file-$i.git" for-each-ref | sort)" ] \
        || die "Sutradhar's mirror and git's have different refs"
    if [ -n "$other" ]; then
        timed sutradhar-copy "$MIRROR_BENCHMARK" "$src" "$other/mirrors-$i" main
        rm -rf "$other/mirrors-$i"
    fi
    [ "$i" = 1 ] || rm -rf "$work/git-file-$i.git" "$work/git-local-$i.git" "$work/mirrors-$i"
done
git -C "$work"/mirrors-1/*.git fsck --connectivity-only --no-progress 2>/dev/null || die "Sutradhar's mirror fails git fsck"
if [ -n "${BASELINE:-}" ]; then
    say "first mirror by BASELINE=$BASELINE"
    timed baseline "$BASELINE" "$mirror_source" "$work/mirrors-baseline" main
fi

files=($(git -C "$src" ls-files | awk 'NR % 5 == 0'))
for i in $(seq 1 "$ITERATIONS"); do
    say "incremental fetch of $NEW_COMMITS new commits, round $i of $ITERATIONS"
    for c in $(seq 1 "$NEW_COMMITS"); do
        for f in 0 1 2; do echo "    /* round $i change $c.$f */" >>"$src/${files[$(( (i * NEW_COMMITS * 3 + c * 3 + f) % ${#files[@]} ))]}"; done
        git_quiet -C "$src" commit -q -a -m "round $i change $c"
    done
    sync
    timed git-fetch git -C "$work/git-file-1.git" fetch -q
    timed sutradhar-fetch "$MIRROR_BENCHMARK" "$mirror_source" "$work/mirrors-1" main
    grep -q "fetched=true" "$work/out" || die "Sutradhar's incremental fetch fetched nothing: $(cat "$work/out")"
    [ "$(git -C "$work"/mirrors-1/*.git rev-parse main)" = "$(git -C "$src" rev-parse main)" ] || die "Sutradhar's mirror is not at the source's main"
    if [ -n "${BASELINE:-}" ] && [ "$i" = 1 ]; then
        timed baseline-fetch "$BASELINE" "$mirror_source" "$work/mirrors-baseline" main
    fi
done
git -C "$work"/mirrors-1/*.git fsck --connectivity-only --no-progress 2>/dev/null || die "Sutradhar's mirror fails git fsck after the fetches"

row() { printf '%-44s %8s s %9s MiB\n' "$1" "$(median "$2" 1)" "$(awk -v k="$(median "$2" 2)" 'BEGIN {printf "%.1f", k / 1024}')"; }
echo
echo "first mirror ($COMMITS commits, median of $ITERATIONS)"
row "git clone --mirror ${source_url%%/tmp/*}/…" git-file
[ "$mirror_source" != "$src" ] || row "git clone --mirror SOURCE (hard links)" git-local
row "Sutradhar (GitMirror.resolve)" sutradhar
[ -z "$other" ] || row "Sutradhar, mirrors on another file system" sutradhar-copy
[ -z "${BASELINE:-}" ] || row "BASELINE" baseline
echo "incremental fetch of $NEW_COMMITS commits (median of $ITERATIONS)"
row "git fetch" git-fetch
row "Sutradhar (GitMirror.resolve)" sutradhar-fetch
[ -z "${BASELINE:-}" ] || row "BASELINE (first round only)" baseline-fetch
awk -v s="$(median sutradhar 1)" -v g="$(median git-file 1)" -v sm="$(median sutradhar 2)" -v gm="$(median git-file 2)" -v f="$(median sutradhar-fetch 1)" 'BEGIN {
    printf "time ratio Sutradhar / git clone --mirror: %.3f (target <= 1.2: %s)\n", s / g, (s <= 1.2 * g ? "met" : "NOT met")
    printf "peak RSS Sutradhar / git clone --mirror: %.3f (target <= 1: %s)\n", sm / gm, (sm <= gm ? "met" : "NOT met")
    printf "incremental fetch: %.2f s (target < 1 s: %s)\n", f, (f < 1 ? "met" : "NOT met")
}'
