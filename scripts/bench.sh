#!/usr/bin/env bash
# Prints render timings, then pull figures on the booted test node (scripts/bench-pull.sh, as root);
# asserts nothing (speed is measured, not asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node scripts/bench.mjs
bash scripts/bench-pull.sh
