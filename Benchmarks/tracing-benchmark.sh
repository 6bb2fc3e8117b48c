#!/usr/bin/env bash
# What tracing costs a run: the wall time of `sutradhar run` (a cached rerun of a one-stage nix
# pipeline, so the run itself is short and any export cost shows) with no OTEL variable set, with a
# loopback OTLP receiver that answers, with the endpoint at a loopback port where nothing listens,
# and with a receiver that never answers.
# Prints each round and the medians. See Benchmarks/README.md ("Tracing").
set -euo pipefail
BENCHMARK=tracing
source "$(dirname "$0")/common.sh"
use_release_binary
ROUNDS="${ROUNDS:-7}"
PYTHON="${SUTRADHAR_VENV:-/opt/sutradhar-venv}/bin/python3"

work="$(mktemp -d "${WORK_PARENT:-/tmp}/tracing-benchmark.XXXXXX")"
receiver="" answering=""
cleanup() { for pid in $receiver $answering; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir "$work/repo"
cat >"$work/repo/flake.nix" <<'NIX'
{
  outputs = { self }: {
    packages.x86_64-linux.default = derivation {
      name = "tracing-benchmark"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo traced > $out" ];
    };
  };
}
NIX
git -C "$work/repo" init -q -b main
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.invalid add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.invalid commit -q -m flake
cat >"$work/pipeline.yaml" <<YAML
version: 1
name: tracing-benchmark
source: { git: "$work/repo", ref: main }
nix:
  options: { substituters: "" }
stages:
  build:
    nix-build: { installable: ".#default" }
YAML

dead_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$PYTHON" "$REPO/Tests/TracingTests/Receiver/otlp_receiver.py" "$work/port" "$work/spans.jsonl" --silent &
receiver=$!
for _ in $(seq 100); do [ -f "$work/port" ] && break; sleep 0.05; done
silent_port="$(cat "$work/port")"
"$PYTHON" "$REPO/Tests/TracingTests/Receiver/otlp_receiver.py" "$work/port2" "$work/spans2.jsonl" &
answering=$!
for _ in $(seq 100); do [ -f "$work/port2" ] && break; sleep 0.05; done
answering_port="$(cat "$work/port2")"

run() { # run ENDPOINT: prints the wall milliseconds of one run
    local start end
    start=$(date +%s%N)
    env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ${1:+OTEL_EXPORTER_OTLP_ENDPOINT=$1} \
        "$SUTRADHAR" run "$work/pipeline.yaml" --json --cache-dir "$work/cache" >"$work/out.jsonl" \
        || die "the run failed: $(tail -1 "$work/out.jsonl")"
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
run "" >/dev/null # fills the cache: every round below is a cached rerun

declare -a none live dead silent
for round in $(seq "$ROUNDS"); do
    none+=("$(run "")"); live+=("$(run "http://127.0.0.1:$answering_port")")
    dead+=("$(run "http://127.0.0.1:$dead_port")"); silent+=("$(run "http://127.0.0.1:$silent_port")")
    say "round $round: no collector ${none[-1]} ms, answering receiver ${live[-1]} ms, dead endpoint ${dead[-1]} ms, silent receiver ${silent[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
say "spans received by the answering receiver: $(wc -l <"$work/spans2.jsonl") ($ROUNDS cached runs: root, checkout (fetch), build)"
say "median wall ms over $ROUNDS rounds: no collector $(median "${none[@]}"), answering receiver $(median "${live[@]}"), dead endpoint $(median "${dead[@]}"), silent receiver $(median "${silent[@]}")"
