#!/usr/bin/env bash
# Fresh machine to ./out: Node 24 from the npm registry, the packages, a build, and a render of
# the embedded default profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
node dist/cli/bin.js render -o out
