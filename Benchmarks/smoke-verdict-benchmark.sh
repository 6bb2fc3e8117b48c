#!/usr/bin/env bash
# The smoke-verdict benchmark: one smoke verdict — create, start, probe by exec
# until the server answers — timed three ways on the same image and probe, side by side:
#   1. Sutradhar's smoke stage: its `duration_ms` in the stage-finished event of
#      `sutradhar run PIPELINE --json --no-cache` (the stage alone; the image is already in the
#      daemon, named by reference). The server's removal comes after the verdict and is not in it.
#   2. The docker CLI: `docker create --network none --cap-drop ALL --read-only --security-opt
#      no-new-privileges IMAGE`, `docker start`, `docker exec ID wget -qO- http://127.0.0.1:8080/health`
#      until it says ok; then `docker rm -f` (timed separately).
#   3. testcontainers-python (in a venv under /tmp, installed with pip): DockerContainer(IMAGE)
#      .with_kwargs(network_mode="none", cap_drop=["ALL"], read_only=True), start(), exec until ok;
#      then stop() (it removes), timed separately. TESTCONTAINERS_RYUK_DISABLED=true.
# For the CLI and testcontainers, "verdict" is up to the probe's answer and "with removal" adds
# the removal; Sutradhar's verdict excludes its removal, which it awaits before the run ends.
# Prints median and p90 of each and the ratios Sutradhar / the others (target: at most 0.85).
#
#   Benchmarks/smoke-verdict-benchmark.sh                    (debug binary .build/debug/sutradhar)
#   SUTRADHAR=.build-bench/installed/sutradhar Benchmarks/smoke-verdict-benchmark.sh
#   RELEASE=1 Benchmarks/smoke-verdict-benchmark.sh          (build the release binary first)
#
# Settings (environment): ROUNDS=15; DOCKER_HOST (default: /tmp/setup.out's, else the rootless
# socket of SUTRADHAR_USER); SUTRADHAR; RELEASE=1; VENV=/tmp/sutradhar-smoke-bench-venv.
set -euo pipefail
BENCHMARK=smoke-verdict
# shellcheck source=Benchmarks/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROUNDS="${ROUNDS:-15}"
if [ -z "${DOCKER_HOST:-}" ] && [ -r /tmp/setup.out ]; then eval "$(cat /tmp/setup.out)"; fi
export DOCKER_HOST="${DOCKER_HOST:-$(user_docker_host)}"
VENV="${VENV:-/tmp/sutradhar-smoke-bench-venv}"
find_docker_cli "the comparison"
if [ "${RELEASE:-0}" = 1 ]; then
    use_release_binary
else
    SUTRADHAR="${SUTRADHAR:-$REPO/.build/debug/sutradhar}"
    [ -x "$SUTRADHAR" ] || die "no binary at $SUTRADHAR: swift build --product sutradhar, or RELEASE=1"
fi
[ -x /bin/busybox ] || die "no /bin/busybox (apt-get install busybox-static)"

WORK="$(mktemp -d /tmp/smoke-verdict.XXXXXX)"
IMAGE="sutradhar-smoke-bench-$$:latest"
cleanup() {
    "$DOCKER" ps -aq --filter "label=sutradhar.smoke-bench=$$" | xargs -r "$DOCKER" rm -f >/dev/null 2>&1 || true
    "$DOCKER" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The tests' tiny server (DockerTestSupport.makeTinyImageArchive): static busybox, httpd on 8080
# serving /www, whose `health` says ok.
say "making the image $IMAGE"
mkdir -p "$WORK/root/bin" "$WORK/root/www" "$WORK/root/tmp"
cp /bin/busybox "$WORK/root/bin/busybox"
for applet in sh httpd wget sleep; do ln -s busybox "$WORK/root/bin/$applet"; done
printf 'ok\n' > "$WORK/root/www/health"
chmod 1777 "$WORK/root/tmp"
tar -C "$WORK/root" -c . | "$DOCKER" import -c 'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]' - "$IMAGE" >/dev/null
PROBE='wget -qO- http://127.0.0.1:8080/health'

now_ms() { local t="$EPOCHREALTIME"; echo "${t%.*}${t#*.}" | sed 's/\(...\)...$/\1/'; }   # µs → ms

# --- 1. Sutradhar -----------------------------------------------------------------------------
mkdir -p "$WORK/src"
echo "a file of the checkout" > "$WORK/src/marker.txt"
cat > "$WORK/smoke.yaml" <<EOF
version: 1
name: smoke-verdict-bench
source: { path: ./src }
stages:
  smoke:
    timeout: 60s
    smoke:
      image: "$IMAGE"
      probe:
        exec: [wget, -qO-, "http://127.0.0.1:8080/health"]
        expect-stdout: ok
        attempts: 40
        interval: 250ms
EOF
sutradhar_once() {
    "$SUTRADHAR" run "$WORK/smoke.yaml" --json --no-cache --cache-dir "$WORK/cache" --docker-host "$DOCKER_HOST" > "$WORK/events.json" \
        || die "sutradhar run failed: $(tail -c 2000 "$WORK/events.json")"
    python3 - "$WORK/events.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event.get("event") == "stage-finished" and event.get("stage") == "smoke":
        assert event["status"] == "passed" and not event["cached"], event
        print(event["duration_ms"])
PY
}
say "warming up (one untimed run of each)"
sutradhar_once >/dev/null

# --- 2. docker CLI ------------------------------------------------------------------------------
docker_once() {   # prints "verdict_ms removal_ms"
    local start id verdict
    start="$(now_ms)"
    id="$("$DOCKER" create --label "sutradhar.smoke-bench=$$" --network none --cap-drop ALL --read-only \
        --security-opt no-new-privileges "$IMAGE")"
    "$DOCKER" start "$id" >/dev/null
    for _ in $(seq 1 400); do
        [ "$("$DOCKER" exec "$id" $PROBE 2>/dev/null)" = ok ] && break
    done
    verdict="$(now_ms)"
    "$DOCKER" rm -f "$id" >/dev/null
    echo "$((verdict - start)) $(( $(now_ms) - verdict ))"
}
docker_once >/dev/null

# --- 3. testcontainers-python -------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import testcontainers' 2>/dev/null; then
    say "installing testcontainers into $VENV (pip)"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q testcontainers >&2 || die "could not install testcontainers"
fi
cat > "$WORK/tc.py" <<'PY'
import os, sys, time
from testcontainers.core.container import DockerContainer
image, rounds, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
probe = ["wget", "-qO-", "http://127.0.0.1:8080/health"]
for _ in range(rounds):
    start = time.monotonic()
    container = DockerContainer(image).with_kwargs(network_mode="none", cap_drop=["ALL"], read_only=True,
                                                   security_opt=["no-new-privileges"], labels={"sutradhar.smoke-bench": label})
    container.start()
    for _ in range(400):
        code, output = container.exec(probe)
        if code == 0 and output.strip() == b"ok":
            break
    verdict = time.monotonic()
    container.stop()
    print(round((verdict - start) * 1000), round((time.monotonic() - verdict) * 1000), flush=True)
PY
TC() { TESTCONTAINERS_RYUK_DISABLED=true "$VENV/bin/python" "$WORK/tc.py" "$IMAGE" "$1" "$$"; }
TC 1 >/dev/null

# --- rounds, interleaved so that the machine's drifting load weighs on each alike ---------------
: > "$WORK/sutradhar.txt"; : > "$WORK/docker.txt"; : > "$WORK/tc.txt"
say "timing $ROUNDS verdicts of each, interleaved"
for round in $(seq 1 "$ROUNDS"); do
    sutradhar_once >> "$WORK/sutradhar.txt"
    docker_once >> "$WORK/docker.txt"
    TC 1 >> "$WORK/tc.txt"
    say "round $round: sutradhar $(tail -1 "$WORK/sutradhar.txt") ms, docker $(tail -1 "$WORK/docker.txt") ms, testcontainers $(tail -1 "$WORK/tc.txt") ms"
done

python3 - "$WORK" "$SUTRADHAR" <<'PY'
import statistics, sys
work, binary = sys.argv[1], sys.argv[2]
def column(name, index):
    return [int(line.split()[index]) for line in open(f"{work}/{name}.txt") if line.strip()]
def median(values): return statistics.median(values)
def p90(values):
    ordered = sorted(values); return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
s = column("sutradhar", 0)
d, dr = column("docker", 0), column("docker", 1)
t, tr = column("tc", 0), column("tc", 1)
dw = [a + b for a, b in zip(d, dr)]; tw = [a + b for a, b in zip(t, tr)]
print(f"binary: {binary}; {len(s)} verdicts each")
print(f"{'':34} {'median':>8} {'p90':>8}   (ms)")
for name, values in [("sutradhar smoke stage (verdict)", s),
                     ("docker CLI verdict", d), ("docker CLI verdict + rm -f", dw),
                     ("testcontainers verdict", t), ("testcontainers verdict + stop", tw)]:
    print(f"{name:34} {median(values):8.0f} {p90(values):8.0f}")
for name, values in [("docker CLI verdict", d), ("docker CLI verdict + rm -f", dw),
                     ("testcontainers verdict", t), ("testcontainers verdict + stop", tw)]:
    print(f"ratio sutradhar / {name:30} median {median(s) / median(values):.2f}x  p90 {p90(s) / p90(values):.2f}x  (target <= 0.85)")
PY
