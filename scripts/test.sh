#!/usr/bin/env bash
# Runs the whole test suite against real components, as CI does: sets the machine up (packages,
# nix-daemon, the rootless Docker daemon and rootless Podman), then builds and runs every test,
# then runs the engine suites a second time against rootless Podman (SUTRADHAR_TEST_ENGINE=podman;
# PODMAN_PASS=0 leaves that out). Run as root:
#   sudo scripts/test.sh
# Under CI=true, integration tests that cannot find nix or the daemon fail instead of skipping.
# Then a short chaos suite (Benchmarks/chaos.sh) with the debug binary just built: it
# fails the run when a row does not hold. CHAOS_ROUNDS=0 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/setup.sh)"
export PATH="/opt/swift/usr/bin:$PATH"

# The remote-builder tests start a second nix host (scripts/second-host.sh: a network namespace
# with sshd and its own store) from the test runner. Stop one left running first, so that the
# tests start it as they do on a fresh machine (a host started by hand hid two bugs of that start:
# its sshd held the runner's exit watch, its nix-daemon was a client of itself); stop it at the end.
scripts/second-host.sh stop >/dev/null 2>&1 || true
trap 'scripts/second-host.sh stop >/dev/null 2>&1 || true' EXIT

# Each pass runs under a watchdog (run_pass LIMIT_SECONDS COMMAND…): see scripts/test-watchdog.sh.
source scripts/test-watchdog.sh

echo "[test] building ..." >&2
# A target that imports a module it does not declare fails the build (with MemberImportVisibility
# in Package.swift, a file must also import each module whose members it uses).
swift build --build-tests --explicit-target-dependency-import-check error
echo "[test] running every suite (DOCKER_HOST=$DOCKER_HOST) ..." >&2
run_pass 1500 swift test --skip-build
if [ "${PODMAN_PASS:-1}" != 0 ]; then
    # The suites that drive the engine itself (load, smoke, container stages, docker-build,
    # policy refusals, orphan reaping, audit trail, limits), against rootless Podman this time,
    # one test at a time: Podman 4.3's image store races when tests load and remove images that
    # share a layer at once (seen in CI: an inspect right after a load answered HTTP 500
    # "locating item named manifest ... file does not exist"). Concurrency of our own is the
    # first pass's business, on Docker.
    echo "[test] engine suites again on rootless Podman ($SUTRADHAR_PODMAN_HOST) ..." >&2
    SUTRADHAR_TEST_ENGINE=podman run_pass 900 swift test --skip-build --no-parallel \
        --filter 'DockerEndToEndTests|DockerClientIntegrationTests|PodmanEngineTests|PodmanPolicyTests'
fi
if [ "${CHAOS_ROUNDS:-2}" -gt 0 ]; then
    echo "[test] chaos suite, ${CHAOS_ROUNDS:-2} rounds (a few minutes) ..." >&2
    # Every binary the suite runs is the debug build just made: nothing is built in release here.
    SUTRADHAR="$(swift build --show-bin-path)/sutradhar" COMPARE="$(swift build --show-bin-path)/sutradhar-compare-benchmark" \
        timeout 900 Benchmarks/chaos.sh --rounds "${CHAOS_ROUNDS:-2}" --seed 1
fi
