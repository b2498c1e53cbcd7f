#!/usr/bin/env bash
# Prints render timings; asserts nothing (speed is measured, not asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node scripts/bench.mjs
