#!/usr/bin/env bash
# The whole test suite from a fresh machine (as root): Node 22 and 24 from the npm registry,
# the project's packages, the real validators (Debian packages, containerd 1.7 and 2.x), the
# booted test node; then every test, on Node 24 and on Node 22. Nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }
step "Node 22 and 24"
bash scripts/setup-node.sh
export PATH="$PWD/.cache/node/24/bin:$PATH"
step "npm ci"
npm ci --no-audit --no-fund --loglevel=error
step "validators"
bash scripts/setup-test-tools.sh
step "upstream programs (nodeadm, soci, containerd)"
bash scripts/setup-upstream.sh >/dev/null
step "test node"
bash scripts/setup-harness.sh
step "build"
npm run --silent build
for major in 24 22; do
  step "tests on Node $major"
  PATH="$PWD/.cache/node/$major/bin:$PATH" node --version
  PATH="$PWD/.cache/node/$major/bin:$PATH" npx vitest run
done
step "done"
