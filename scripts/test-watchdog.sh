#!/usr/bin/env bash
# Runs one test pass under a watchdog. The whole suite takes a few minutes, so a pass still going
# after LIMIT_SECONDS hangs: the watchdog prints the tests that started and never finished, the
# processes still running and where the test runner's threads wait in our code, then kills the
# pass, which fails the run. Output is line-buffered so that what it shows is what happened.
#   source scripts/test-watchdog.sh; run_pass LIMIT_SECONDS COMMAND…
run_pass() {
    local limit="$1"; shift
    local log; log="$(mktemp /tmp/sutradhar-test-pass-XXXXXX.log)"
    setsid stdbuf -oL -eL "$@" > >(tee "$log") 2>&1 &
    local pass=$!
    (
        for _ in $(seq 1 "$limit"); do
            sleep 1
            kill -0 "$pass" 2>/dev/null || exit 0
        done
        report_hang "$limit" "$pass" "$log"
        kill -KILL -- "-$pass"
    ) &
    local watchdog=$!
    local status=0
    wait "$pass" || status=$?
    wait "$watchdog" || true
    rm -f "$log"
    return "$status"
}

report_hang() {
    local limit="$1" pass="$2" log="$3"
    {
        echo "[test] HANG: this pass has run for $limit s; tests that started and never finished:"
        awk '/ started\.$/ && /Test / { sub(/.*Test /, ""); sub(/ started\.$/, ""); open[$0] = 1 }
             /(passed|failed) after/ && /Test / { sub(/.*Test /, ""); sub(/ (passed|failed|with).*/, ""); delete open[$0] }
             END { for (t in open) print "  " t }' "$log"
        echo "[test] processes of the pass:"
        ps -o pid,ppid,stat,etime,args --forest -s "$pass" || true
        for runner in $(pgrep -s "$pass" -f 'PackageTests.xctest'); do
            echo "[test] where the test runner's threads are in this repository's code (gdb):"
            gdb -p "$runner" -batch -ex 'thread apply all bt 30' 2>/dev/null | grep -E "^Thread| at $PWD/" || true
        done
    } >&2
}
