#!/usr/bin/env bash
# Matching time of a hostile .dockerignore (`*a*a*a*a*a*a*a*a*c`) against 1,000 names of 200+
# characters, with the automaton Sutradhar matches with now and with the backtracking
# regular expression it used before (stopped after LIMIT seconds and projected: it would take hours).
#
#   Benchmarks/dockerignore-benchmark.sh [NAMES] [LIMIT]     # defaults: 1000 names, 60 s
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$REPO/Benchmarks/dockerignore_match.swift" "$work/main.swift"  # top-level code must be main.swift
swiftc -O "$REPO/Sources/DockerEngine/DockerIgnore.swift" "$work/main.swift" -o "$work/match"
"$work/match" "${1:-1000}" "${2:-60}"
