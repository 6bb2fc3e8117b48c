#!/usr/bin/env bash
# From a fresh Debian 12 machine to a passing example pipeline, in one command (as root):
#   sudo scripts/try-example.sh
#
# Sets the machine up (scripts/setup.sh), builds Sutradhar (release), installs it as
# /usr/local/bin/sutradhar, then — as the unprivileged user that owns the rootless daemon — runs
# `sutradhar doctor` and `sutradhar run example`: nix builds Examples/hello-server into an image,
# the image is loaded through the daemon's socket, and smoke containers with no network probe it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

eval "$(scripts/setup.sh)"
export PATH="/opt/swift/usr/bin:$PATH"

echo "[example] building sutradhar (release; the first build takes several minutes) ..." >&2
# The Swift runtime and Foundation linked in (--static-swift-stdlib): a start no longer loads and
# binds ~20 Swift shared libraries (Benchmarks/README.md, start-up). libgit2, SQLite, zlib and
# libcurl (FoundationNetworking's) stay Debian's shared libraries.
swift build -c release --static-swift-stdlib --product sutradhar
# Installed stripped (install --strip runs strip(1), from binutils, which the Swift toolchain
# needs anyway): the build keeps debug information (~96 MB) that a user's binary does not need,
# and a smaller file starts faster.
install -m 0755 --strip "$(swift build -c release --static-swift-stdlib --show-bin-path)/sutradhar" /usr/local/bin/sutradhar

# The user gets its own copy of the pipelines and the example, so the repository may live
# anywhere (even in root's home); its cache is then ~/sutradhar/cache, beside pipelines/.
home="$(getent passwd "$SUTRADHAR_USER" | cut -d: -f6)"
workspace="$home/sutradhar"
mkdir -p "$workspace"
rm -rf "$workspace/pipelines" "$workspace/Examples"
cp -r "$repo/pipelines" "$repo/Examples" "$workspace/"
chown -R "$SUTRADHAR_USER:" "$workspace"

as_user() {
    su -s /bin/bash "$SUTRADHAR_USER" -c "cd '$workspace' && export DOCKER_HOST='$DOCKER_HOST' NIX_REMOTE=daemon && $*"
}
echo "[example] sutradhar doctor (as $SUTRADHAR_USER)" >&2
as_user "sutradhar doctor"
echo "[example] sutradhar run example (as $SUTRADHAR_USER)" >&2
as_user "sutradhar run example"
echo "[example] again: every cacheable stage is now cached" >&2
as_user "sutradhar run example"
