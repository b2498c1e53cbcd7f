#!/usr/bin/env bash
# Prints render timings, check-image's time and bytes per image for 100 images against a local
# docker-registry, then pull figures on the booted test node (scripts/bench-pull.sh, as root).
# Speed is measured, not asserted; check-image fails the bench only if it fetched a layer blob or more
# than 50 KB for an image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node scripts/bench.mjs
node scripts/bench-check-image.mjs
bash scripts/bench-pull.sh
