#!/usr/bin/env bash
# Pull figures on the booted test node (test/bench/node-pull.bench.ts): overlayfs, soci lazy, soci
# parallel and lazy-with-fallback, a small image and one of about 1 GiB, against a loopback registry
# shaped to 1 Gbit/s. Prints figures; asserts nothing about speed. Needs root (booted test nodes) and
# about 5-10 minutes (the first run also builds the 1 GiB image, 1-3 minutes, cached in .cache/oci-images).
# PULL_BENCH_RUNS=5 PULL_BENCH_RATE=10gbit PULL_BENCH_IMAGES=small bash scripts/bench-pull.sh to vary it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/setup-test-tools.sh
bash scripts/setup-harness.sh >/dev/null
npx vitest run --config test/bench/vitest.config.ts --reporter=dot
