#!/usr/bin/env bash
# The whole test suite from a fresh machine (as root): Node 22 and 24 from the npm registry,
# the project's packages, the real validators (Debian packages, containerd 1.7 and 2.x), the
# booted test node; then every test on Node 24, and the in-process tier on Node 22. Nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# debootstrap, ip and the like live in the sbin directories, which a root shell's PATH may lack
# (su without -, or an npm started from a user's PATH): the setup scripts and the tests find them there.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
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
# Everything on Node 24. On Node 22 what runs on Node itself: the in-process tier, the CLI, and the AWS
# SDK against the EC2 stand-in (the booted node and the real tools are the same programs whichever Node
# drives them).
step "all tests on Node 24"
PATH="$PWD/.cache/node/24/bin:$PATH" node --version
PATH="$PWD/.cache/node/24/bin:$PATH" npx vitest run
step "in-process tests and the CLI on Node 22"
PATH="$PWD/.cache/node/22/bin:$PATH" node --version
PATH="$PWD/.cache/node/22/bin:$PATH" npx vitest run -c vitest.fast.config.ts
PATH="$PWD/.cache/node/22/bin:$PATH" npx vitest run test/cli.test.ts test/launch-template-standin.test.ts
step "done"
