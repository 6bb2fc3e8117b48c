# What the benchmarks need, sourced after setting BENCHMARK (the prefix of their messages):
# REPO, say/die, the docker CLI they compare with, the release binary they measure, and the held-in
# example as a repository of distinct commits.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX="$BENCHMARK"
source "$REPO/scripts/lib.sh"

# Sets DOCKER to the docker CLI and checks that it reaches the daemon at DOCKER_HOST;
# $1 says what needs the CLI.
find_docker_cli() {
    DOCKER=""
    for candidate in /usr/local/bin/docker /usr/bin/docker; do
        [ -x "$candidate" ] && { DOCKER="$candidate"; break; }
    done
    [ -n "$DOCKER" ] || die "no docker CLI at /usr/local/bin/docker or /usr/bin/docker ($1 needs one)"
    "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 \
        || die "the docker CLI cannot reach the daemon at $DOCKER_HOST: start it (scripts/setup.sh) or set DOCKER_HOST"
}

# The release build's flags, as scripts/try-example.sh builds what it installs: the Swift runtime
# and Foundation linked in (--static-swift-stdlib), which takes most of the dynamic linker's work
# off every start (Benchmarks/README.md, start-up).
RELEASE_FLAGS=(-c release --static-swift-stdlib --scratch-path .build-bench)

# Sets SUTRADHAR to the binary to measure: as given, else the release build in .build-bench,
# stripped as scripts/try-example.sh installs it (.build-bench/installed/sutradhar).
use_release_binary() {
    if [ -z "${SUTRADHAR:-}" ]; then
        say "building the release binary (swift build ${RELEASE_FLAGS[*]})"
        (cd "$REPO" && swift build "${RELEASE_FLAGS[@]}" --product sutradhar >&2) \
            || die "the release build failed"
        local built
        built="$(cd "$REPO" && swift build "${RELEASE_FLAGS[@]}" --show-bin-path)/sutradhar"
        SUTRADHAR="$REPO/.build-bench/installed/sutradhar"
        mkdir -p "$(dirname "$SUTRADHAR")"
        install -m 0755 --strip "$built" "$SUTRADHAR" || die "could not strip $built into $SUTRADHAR (strip(1) is in binutils)"
    fi
    [ -x "$SUTRADHAR" ] || die "SUTRADHAR=$SUTRADHAR is not an executable"
}

# use_release_product VAR PRODUCT: unless VAR is set already, builds PRODUCT (an executable target)
# in release mode in .build-bench and sets VAR to it; then checks that VAR is an executable.
use_release_product() {
    local var="$1" product="$2"
    if [ -z "${!var:-}" ]; then
        say "building $product (swift build ${RELEASE_FLAGS[*]})"
        (cd "$REPO" && swift build "${RELEASE_FLAGS[@]}" --product "$product" >&2) \
            || die "the release build of $product failed"
        printf -v "$var" '%s' "$(cd "$REPO" && swift build "${RELEASE_FLAGS[@]}" --show-bin-path)/$product"
    fi
    [ -x "${!var}" ] || die "$var=${!var} is not an executable"
}

# The held-in example as a git repository of the benchmark's own, for runs on many distinct commits.
# example_repository DIR IMAGE_REPO: copies Examples/hello-server to DIR (branch main, no commit
# yet), its build-image.sh tagging each image IMAGE_REPO:<www/round.txt>, so that the images never
# take the shared hello-server:latest tag, never become dangling, and the clean-up finds them all.
example_repository() {
    cp -r "$REPO/Examples/hello-server" "$1"
    sed -i "s|hello-server:latest|$2:\$(cat \"\$www/round.txt\")|" "$1/build-image.sh"
    grep -q "$2" "$1/build-image.sh" || die "could not retag Examples/hello-server/build-image.sh"
    git -C "$1" init -q -b main
}

# example_commit DIR LABEL NONCE: a commit of DIR whose derivation and image differ from every
# other (www/round.txt says LABEL-NONCE), printed. A nonce unique to the benchmark's run makes them
# differ from every other run's too: no store path or image of an earlier or a concurrent run turns
# a build into a lookup or a load into a tag.
example_commit() {
    local author=(-c "user.name=$BENCHMARK" -c user.email=benchmark@example.invalid)
    echo "$2-$3" >"$1/www/round.txt"
    git -C "$1" "${author[@]}" add -A && git -C "$1" "${author[@]}" commit -q -m "$2" && git -C "$1" rev-parse HEAD
}

# one_stage_nix_pipeline DIR NAME: a git repository DIR/flake of one commit whose flake builds one
# tiny derivation offline (unique to this shell's PID), and DIR/NAME.yaml, a pipeline of one
# nix-build stage over it with no substituters; prints the pipeline's path. For cached reruns:
# the first run builds, every later one finds the result in the cache. nix's daemon runs builders
# as nixbld users: the files are readable.
one_stage_nix_pipeline() {
    local dir="$1" name="$2"
    command -v nix >/dev/null || die "nix is missing (the cached rerun needs it)"
    mkdir -p "$dir/flake"
    cat >"$dir/flake/flake.nix" <<NIX
{
  outputs = { self }: {
    packages.x86_64-linux.default = derivation {
      name = "sutradhar-$name";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo $name-$$ > \$out" ];
    };
  };
}
NIX
    git -C "$dir/flake" init -q -b main
    git -C "$dir/flake" add -A
    git -C "$dir/flake" -c user.name="$name" -c user.email=benchmark@example.invalid commit -q -m flake
    cat >"$dir/$name.yaml" <<YAML
version: 1
name: $name
source: { git: "file://$dir/flake", ref: main }
nix: { options: { substituters: "" } }
stages:
  build:
    nix-build: { installable: ".#default" }
YAML
    printf '%s\n' "$dir/$name.yaml"
}
