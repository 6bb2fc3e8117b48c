#!/usr/bin/env bash
# Builds the DocC documentation of SutradharKit (the library a front end imports) into
# .build/docs/SutradharKit.doccarchive, or a static site with --static (open .build/docs/site/
# documentation/sutradharkit/index.html through any web server). Warnings fail the build.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_PREFIX=docs
source scripts/lib.sh
mkdir -p .build/docs
if [ "${1:-}" = "--static" ]; then
    say "writing a static site into .build/docs/site"
    swift package --allow-writing-to-directory .build/docs generate-documentation --target SutradharKit \
        --warnings-as-errors --disable-indexing --transform-for-static-hosting --output-path .build/docs/site
else
    swift package --allow-writing-to-directory .build/docs generate-documentation --target SutradharKit \
        --warnings-as-errors --disable-indexing --output-path .build/docs/SutradharKit.doccarchive
fi
