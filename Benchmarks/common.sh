# What both benchmarks need, sourced after setting BENCHMARK (the prefix of their messages):
# REPO, say/die, the docker CLI they compare with, and the release binary they measure.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[%s] %s\n' "$BENCHMARK" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$BENCHMARK" "$*" >&2; exit 1; }

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

# Sets SUTRADHAR to the binary to measure: as given, else the release build in .build-bench,
# stripped as scripts/try-example.sh installs it (.build-bench/installed/sutradhar).
use_release_binary() {
    if [ -z "${SUTRADHAR:-}" ]; then
        say "building the release binary (swift build -c release --scratch-path .build-bench)"
        (cd "$REPO" && swift build -c release --scratch-path .build-bench --product sutradhar >&2) \
            || die "the release build failed"
        local built
        built="$(cd "$REPO" && swift build -c release --scratch-path .build-bench --show-bin-path)/sutradhar"
        SUTRADHAR="$REPO/.build-bench/installed/sutradhar"
        mkdir -p "$(dirname "$SUTRADHAR")"
        install -m 0755 --strip "$built" "$SUTRADHAR" || die "could not strip $built into $SUTRADHAR (strip(1) is in binutils)"
    fi
    [ -x "$SUTRADHAR" ] || die "SUTRADHAR=$SUTRADHAR is not an executable"
}
