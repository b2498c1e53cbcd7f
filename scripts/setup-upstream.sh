#!/usr/bin/env bash
# The real upstream programs the tests run instead of stand-ins (README "Upstream versions"):
#   nodeadm, nodeadm-render          awslabs/amazon-eks-ami at 81fec2e8 (after v20260724)
#   soci-snapshotter-grpc, soci,     awslabs/soci-snapshotter v0.15.0 (7716bd67)
#   soci-config-strict
#   containerd-v2.2.4, ctr-v2.2.4    containerd/containerd v2.2.4 (the line current AMIs ship)
#   containerd-v1.7.27               containerd/containerd v1.7.27 (the 1.7 line)
# into .cache/upstream/bin/, each checked against test/fixtures/upstream/SHA256SUMS.
#
# Where they come from:
#   SOCI_INSTALLER_UPSTREAM=DIR   a folder laid out as DIR/bin/<name>.xz (CI: ../shared/upstream,
#                                 offline builds of exactly these revisions); checked against our pins.
#                                 Unset, ../shared/upstream beside the repository is used when it exists.
#   otherwise                     scripts/fetch-upstream.sh builds the same revisions from source on a
#                                 machine with internet (Go and git needed) and writes them there.
# Idempotent and quiet when everything is in place. Prints the bin folder on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$REPO/.cache/upstream/bin
SUMS=$REPO/test/fixtures/upstream/SHA256SUMS
NAMES=(nodeadm nodeadm-render soci-snapshotter-grpc soci soci-config-strict containerd-v2.2.4 ctr-v2.2.4 containerd-v1.7.27)

say() { echo "setup-upstream: $*" >&2; }
die() { say "$*"; exit 1; }
pinned() { awk -v n="$1" '$2 == n { print $1 }' "$SUMS"; }
good() { [ -x "$BIN/$1" ] && [ "$(sha256sum <"$BIN/$1" | cut -d' ' -f1)" = "$(pinned "$1")" ]; }

if [ -z "${SOCI_INSTALLER_UPSTREAM:-}" ] && [ -d "$REPO/../shared/upstream/bin" ]; then
  SOCI_INSTALLER_UPSTREAM=$(cd "$REPO/../shared/upstream" && pwd)
fi
mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9

missing=()
for n in "${NAMES[@]}"; do good "$n" || missing+=("$n"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ -n "${SOCI_INSTALLER_UPSTREAM:-}" ]; then
    src=$SOCI_INSTALLER_UPSTREAM/bin
    [ -d "$src" ] || die "SOCI_INSTALLER_UPSTREAM=$SOCI_INSTALLER_UPSTREAM has no bin/ folder"
    command -v xz >/dev/null || die "xz is missing: apt-get install xz-utils"
    for n in "${missing[@]}"; do
      [ -f "$src/$n.xz" ] || die "$src/$n.xz is missing"
      xz -dc "$src/$n.xz" >"$BIN/$n.tmp"
      chmod 0755 "$BIN/$n.tmp"
      mv -f "$BIN/$n.tmp" "$BIN/$n"
      good "$n" || die "$src/$n.xz does not match the sha256 pinned in test/fixtures/upstream/SHA256SUMS"
    done
  else
    say "SOCI_INSTALLER_UPSTREAM is not set: building ${missing[*]} from upstream source"
    bash "$REPO/scripts/fetch-upstream.sh" "$BIN" "${missing[@]}" ||
      die "could not get ${missing[*]}: set SOCI_INSTALLER_UPSTREAM to a folder of prebuilt binaries (CI: ../shared/upstream), or run scripts/fetch-upstream.sh on a machine with internet, Go and git"
    for n in "${missing[@]}"; do [ -x "$BIN/$n" ] || die "scripts/fetch-upstream.sh did not produce $n"; done
  fi
fi
echo "$BIN"
