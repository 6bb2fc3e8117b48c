#!/usr/bin/env bash
# The reproducibility benchmark: what `sutradhar reproduce` costs.
#
# Part 1, comparison: two docker-archives of SIZE_MIB MiB each (one layer of 8 MiB files of random
# bytes; the second with one file's contents and another file's mtime changed), plain and then
# gzipped (gzip -1 -n), compared by the library's OutputComparison (`sutradhar-compare-benchmark`, layer by layer, streaming), at each
# size of SIZES_MIB. Printed: wall time, peak RSS (/usr/bin/time -v), and the differences found,
# which must name both files. Target: memory that does not grow with the size (bounded).
#
# Part 2, the check of the example: Examples/hello-server copied into a repository of its own,
# each round with a new nonce in its flake (a new derivation nix must really build), then
#   build: `sutradhar run PIPELINE --no-cache` (its one stage: a clean build of the image), and
#   check: `sutradhar reproduce PIPELINE` (the output is in the store: the check is the rebuild
#          plus the hashing; the example is reproducible, so nothing is compared).
# Printed per round and as the median ratio check/build. Target: at most 1.2.
#
# Run as root on a machine set up by scripts/setup.sh:
#   sudo Benchmarks/reproduce-benchmark.sh
#   sudo SIZES_MIB=64 ROUNDS=3 Benchmarks/reproduce-benchmark.sh          (a quick check)
#   sudo SUTRADHAR=.build/debug/sutradhar COMPARE=.build/debug/sutradhar-compare-benchmark Benchmarks/reproduce-benchmark.sh
#
# Settings: SIZES_MIB ("128 512"), ROUNDS (5), SUTRADHAR and COMPARE (binaries to measure; default:
# release builds in .build-bench), WORK_PARENT (/tmp; needs about 4 x the largest size free),
# NIX_REMOTE (daemon). Nothing is left behind: the work folder goes on exit.
set -euo pipefail
BENCHMARK=reproduce-benchmark
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SIZES_MIB="${SIZES_MIB:-128 512}"
ROUNDS="${ROUNDS:-5}"
export NIX_REMOTE="${NIX_REMOTE:-daemon}"
command -v /usr/bin/time >/dev/null || die "/usr/bin/time is missing (apt-get install time)"
use_release_binary
use_release_product COMPARE sutradhar-compare-benchmark

WORK="$(mktemp -d "${WORK_PARENT:-/tmp}/reproduce-benchmark.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# make_archive DIR SIZE_MIB VARIANT OUT: a docker-archive whose layer holds SIZE_MIB/8 files of
# 8 MiB of random bytes (the same bytes for both variants: seeded from a fixed file), the layer
# folder named by its digest. VARIANT "second" changes file-2's contents and file-5's mtime.
make_archive() {
    local dir="$1" size="$2" variant="$3" out="$4"
    rm -rf "$dir" && mkdir -p "$dir/root/data" "$dir/archive"
    local count=$(( size / 8 )) i
    for i in $(seq 1 "$count"); do
        # Random-looking bytes, the same in both archives (a keystream seeded by the file's number).
        head -c $((8 << 20)) < <(openssl enc -aes-128-ctr -pass "pass:seed-$i" -nosalt -pbkdf2 </dev/zero 2>/dev/null) >"$dir/root/data/file-$i"
    done
    if [ "$variant" = second ]; then
        printf 'changed' | dd of="$dir/root/data/file-2" bs=1 seek=100 conv=notrunc status=none
    fi
    find "$dir/root" -exec touch -h -d @1 {} +
    [ "$variant" = second ] && touch -d @2 "$dir/root/data/file-5"
    tar --sort=name --owner=0 --group=0 --numeric-owner -C "$dir/root" -cf "$dir/layer.tar" .
    local layer_sha config_sha
    layer_sha="$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)"
    mkdir -p "$dir/archive/$layer_sha" && mv "$dir/layer.tar" "$dir/archive/$layer_sha/layer.tar"
    printf '{"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer_sha" >"$dir/archive/config.json"
    config_sha="$(sha256sum "$dir/archive/config.json" | cut -d' ' -f1)"
    mv "$dir/archive/config.json" "$dir/archive/$config_sha.json"
    printf '[{"Config":"%s.json","RepoTags":["bench:1"],"Layers":["%s/layer.tar"]}]' "$config_sha" "$layer_sha" >"$dir/archive/manifest.json"
    tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -C "$dir/archive" -cf "$out" .
    rm -rf "$dir"
}

say "part 1: comparing two docker-archives, sizes: $SIZES_MIB MiB"
for size in $SIZES_MIB; do
    make_archive "$WORK/a" "$size" first "$WORK/first-$size.tar"
    make_archive "$WORK/b" "$size" second "$WORK/second-$size.tar"
    sync
    for form in tar tar.gz; do
        if [ "$form" = tar.gz ]; then
            gzip -1 -n "$WORK/first-$size.tar" "$WORK/second-$size.tar" && sync
        fi
        /usr/bin/time -v "$COMPARE" "$WORK/first-$size.$form" "$WORK/second-$size.$form" >"$WORK/compare.out" 2>"$WORK/time.out" || true
        grep -q "data/file-2: contents differ" "$WORK/compare.out" || { cat "$WORK/compare.out" "$WORK/time.out" >&2; die "file-2 was not named"; }
        grep -q "data/file-5: mtime 1 vs 2" "$WORK/compare.out" || { cat "$WORK/compare.out" >&2; die "file-5 was not named"; }
        rss_kib="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.out")"
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.out")"
        printf 'compare %4s MiB x 2 (%s): wall %s, peak RSS %s MiB; %s\n' "$size" "$form" "$wall" "$((rss_kib / 1024))" "$(tail -1 "$WORK/compare.out")"
    done
    rm -f "$WORK"/first-"$size".* "$WORK"/second-"$size".*
done

say "part 2: the example, $ROUNDS rounds of a clean build and a check"
REPOSITORY="$WORK/example"
cp -r "$REPO/Examples/hello-server" "$REPOSITORY"
git -C "$REPOSITORY" init -q -b main
sed -i 's|PATH = "/usr/bin:/bin";|PATH = "/usr/bin:/bin";\n          nonce = builtins.readFile ./nonce.txt;|' "$REPOSITORY/flake.nix"
cat >"$WORK/example.yaml" <<YAML
version: 1
name: reproduce-benchmark
source: { git: "$REPOSITORY", ref: main }
nix:
  options: { substituters: "" }
stages:
  image:
    nix-build: { installable: ".#docker-image" }
YAML
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    echo "$$-$round-$(date +%s%N)" >"$REPOSITORY/nonce.txt"
    git -C "$REPOSITORY" add -A && git -C "$REPOSITORY" -c user.name=b -c user.email=b@b commit -qm "round $round"
    start=$(date +%s%N)
    "$SUTRADHAR" run "$WORK/example.yaml" --cache-dir "$WORK/cache" --no-cache >/dev/null 2>&1 || die "the build failed"
    build_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    start=$(date +%s%N)
    "$SUTRADHAR" reproduce "$WORK/example.yaml" --cache-dir "$WORK/cache" >/dev/null 2>&1 || die "the check failed (the example should be reproducible)"
    check_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    ratio=$(awk -v c="$check_ms" -v b="$build_ms" 'BEGIN { printf "%.2f", c / b }')
    ratios+=("$ratio")
    printf 'round %d: build %d ms, check %d ms, ratio %s\n' "$round" "$build_ms" "$check_ms" "$ratio"
done
median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')"
printf 'median ratio check/build: %s (target: at most 1.2)\n' "$median"
