#!/usr/bin/env bash
# Prepares the booted fake EKS node used by test/harness/ (systemd-nspawn, see test/harness/README.md):
#   1. host packages: systemd-container, debootstrap, iproute2, zstd (apt, only when missing);
#   2. the base rootfs: Debian bookworm (minbase + systemd, dbus, containerd, runc, curl, cloud-init, ...) built with
#      debootstrap from this machine's own Debian mirror, cached in .cache/harness/base-<hash>/rootfs
#      (and as base-<hash>.tar.zst, which unpacks in about a second); rebuilt when its recipe changes;
#   3. the node layer: the AMI's own units (test/fixtures/ami/systemd/, byte for byte), the harness's
#      settings for Debian's real cloud-init (test/harness/rootfs/) and the stand-ins of test/standins/
#      (IMDS, kubelet, /etc/eks/pause.tar), cached in
#      .cache/harness/layer-<hash>/; rebuilt (in about a second) when this script or those files change.
# The harness mounts an overlayfs of layer + base per node, so both stay pristine.
# The real nodeadm, soci and containerd are bound in at boot from .cache/upstream/bin
# (scripts/setup-upstream.sh); runc and containerd-shim-runc-v2 are Debian's, from the base rootfs.
#
# Run as root. Idempotent and quiet when everything is in place; safe to run concurrently (flock).
# Prints the paths the harness needs as KEY=VALUE lines on stdout; progress and timings go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
H=$REPO/.cache/harness
mkdir -p "$H"
LOG=$H/setup.log
SELF=$REPO/scripts/setup-harness.sh

SUITE=bookworm
# cloud-init: Debian's real one boots in the node. python3-cffi-backend: debootstrap does not resolve
# virtual packages (python3-cryptography, for cloud-init, needs python3-cffi-backend-api-*, which it provides)
INCLUDE=systemd,systemd-sysv,dbus,containerd,runc,iproute2,curl,ca-certificates,procps,kmod,cloud-init,python3-cffi-backend
HOST_PACKAGES=(systemd-container debootstrap iproute2 zstd util-linux tar)

say() { echo "setup-harness: $*" >&2; }
die() { say "$*"; exit 1; }
step() { CURRENT_STEP=$*; }
on_error() {
  local rc=$?
  say "FAILED (exit $rc) during: ${CURRENT_STEP:-?}"
  [ -s "$LOG" ] && { echo "--- last lines of $LOG ---" >&2; tail -n 30 "$LOG" >&2; }
  exit "$rc"
}
trap on_error ERR
CURRENT_STEP=start
T0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $T0" | awk '{ printf "%.1fs", $1 - $2 }'; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mounts, systemd-nspawn)"
command -v apt-get >/dev/null || die "apt-get not found: the harness needs a Debian machine"
export DEBIAN_FRONTEND=noninteractive

# One builder at a time: test files running in parallel all call this script.
exec 9>"$H/.lock"
flock 9

# ---------------------------------------------------------------------------------------------
# 1. Host packages
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  step "apt-get update"
  apt-get -o DPkg::Lock::Timeout=600 update >>"$LOG" 2>&1
  step "apt-get install ${missing[*]}"
  # --no-install-recommends: systemd-container would otherwise pull libnss-mymachines and edit nsswitch.conf
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1
fi
for tool in systemd-nspawn debootstrap nsenter ip zstd mount umount flock; do
  command -v "$tool" >/dev/null || die "$tool is missing after apt-get install"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || die "the kernel has no overlayfs"

# Node 24 (runs the stand-ins inside the node and builds the pause image)
step "Node 24"
bash scripts/setup-node.sh
NODE_BIN=$(readlink -f "$REPO/.cache/node/24/bin/node")
[ -x "$NODE_BIN" ] || die "Node 24 missing at .cache/node/24/bin/node after scripts/setup-node.sh"
[ -d "$REPO/node_modules/smol-toml" ] || die "node_modules lacks smol-toml (the kubelet stand-in needs it): run npm ci first"

# The real upstream programs bound into every node (soci-snapshotter-grpc and soci v0.15.0, containerd
# 2.2.4 + ctr, containerd 1.7.27, nodeadm): scripts/setup-upstream.sh (idempotent, checks their sha256)
step "scripts/setup-upstream.sh"
UPSTREAM_BIN=$(bash scripts/setup-upstream.sh)
for b in nodeadm soci-snapshotter-grpc soci containerd-v2.2.4 ctr-v2.2.4 containerd-v1.7.27; do
  [ -x "$UPSTREAM_BIN/$b" ] || die "$b missing in $UPSTREAM_BIN after scripts/setup-upstream.sh"
done

# ---------------------------------------------------------------------------------------------
# Helpers

# The Debian mirror this machine uses (deb822 sources first, then one-line sources).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && (" " suites " ") ~ (" " suite " ")) { print uri; exit } uri = ""; suites = "" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0; gsub(/[ \t]+/, " ", suites) }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" {
      i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == suite) print $i
    }' "$f"
  done
}

# Remove a directory tree that may still hold mounts (a killed debootstrap leaves proc/sys mounted):
# unmount everything below it first, and never cross into another filesystem.
safe_rm() {
  local dir=$1 m
  [ -e "$dir" ] || return 0
  dir=$(readlink -f "$dir")
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  rm -rf --one-file-system "$dir"
}

# A directory is in use while an overlay mount names it (a node of a running test). By its name only:
# worktrees share .cache through a symlink, so a mount may name it through another path.
in_use() { grep -qF "/${1##*/}" /proc/self/mountinfo; }

prune_old() { # prune_old PREFIX KEEP
  local d
  for d in "$H/$1"-*; do
    [ -e "$d" ] || continue
    case "$d" in "$2" | "$2".tar.zst) continue ;; esac
    # never another checkout's fresh build (worktrees share .cache): only what is a day old
    in_use "$d" || [ -n "$(find "$d" -maxdepth 0 -mmin -1440)" ] || safe_rm "$d"
  done
}

# ---------------------------------------------------------------------------------------------
# 2. Base rootfs. Its recipe is this function, the suite and the package list: changing any of them
# rebuilds it (about 90 s). The mirror is not part of the recipe.
build_base() {
  local out=$1 mirror=$2 r=$1.tmp/rootfs
  safe_rm "$out.tmp"
  mkdir -p "$out.tmp"
  {
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$r" "$mirror"
    # AL2023 does not start containerd by itself: nodeadm-run.service does (and so does our stand-in).
    systemctl --root="$r" disable containerd.service
    # nothing periodic in a test node
    systemctl --root="$r" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
      e2scrub_all.timer e2scrub_reap.service fstrim.timer
  } >>"$LOG" 2>&1
  # nodeadm writes /etc/containerd/base-runtime-spec.json on a real node; our stand-in copies this
  # default spec (the one containerd itself would use)
  mkdir -p "$r/usr/share/nodeadm-standin"
  chroot "$r" /usr/bin/ctr oci spec >"$r/usr/share/nodeadm-standin/base-runtime-spec.json"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
  : >"$r/etc/machine-id"
  mv "$out.tmp" "$out"
}

step "base recipe"
BASE_HASH=$( { declare -f build_base; echo "$SUITE $INCLUDE"; } | sha256sum | cut -c1-16)
BASE=$H/base-$BASE_HASH
if [ ! -x "$BASE/rootfs/usr/lib/systemd/systemd" ]; then
  if [ -s "$BASE.tar.zst" ]; then
    step "unpacking $BASE.tar.zst"
    safe_rm "$BASE.tmp"
    mkdir -p "$BASE.tmp"
    zstd -dc "$BASE.tar.zst" | tar -C "$BASE.tmp" --numeric-owner -xpf -
    safe_rm "$BASE"
    mv "$BASE.tmp" "$BASE"
    say "base rootfs unpacked from cache ($(elapsed))"
  else
    step "reading the Debian mirror from /etc/apt/sources.list*"
    MIRROR=$(debian_mirror | head -n 1)
    [ -n "$MIRROR" ] || die "no Debian mirror for $SUITE in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    say "building the base rootfs with debootstrap ($SUITE from $MIRROR; about 90 s)"
    step "debootstrap $SUITE (log: $LOG)"
    : >"$LOG"
    safe_rm "$BASE"
    build_base "$BASE" "$MIRROR"
    say "base rootfs built ($(elapsed))"
    step "caching $BASE.tar.zst"
    tar -C "$BASE" --numeric-owner -cf - rootfs | zstd -q -T0 -3 -o "$BASE.tar.zst.tmp"
    mv "$BASE.tar.zst.tmp" "$BASE.tar.zst"
  fi
  prune_old base "$BASE"
fi

# ---------------------------------------------------------------------------------------------
# 3. The node layer: the AMI's units, cloud-init's settings and everything the stand-ins need, on top of
# the base. Its recipe is this script plus every file under test/standins/, test/harness/rootfs/ and
# test/fixtures/ami/systemd/.
build_layer() {
  local out=$1 r=$1.tmp
  safe_rm "$r"
  mkdir -p "$r"
  # the AMI's own units, byte for byte (test/fixtures/ami/systemd/, from amazon-eks-ami)
  mkdir -p "$r/etc/systemd/system/containerd.service.d"
  cp test/fixtures/ami/systemd/*.service test/fixtures/ami/systemd/*.socket test/fixtures/ami/systemd/*.slice \
    "$r/etc/systemd/system/"
  cp test/fixtures/ami/systemd/containerd.service.d/*.conf "$r/etc/systemd/system/containerd.service.d/"
  # cloud-init as on the AMI (its units without Debian's ordering, NoCloud seeded by the harness), then
  # the stand-ins (units, wrappers) and the Node code the wrappers run
  cp -a test/harness/rootfs/. "$r/"
  cp -a test/standins/rootfs/. "$r/"
  mkdir -p "$r/opt/standin-node/bin" "$r/opt/standin-node/node_modules" "$r/opt/standin-node/lib"
  cp -a test/standins/lib/. "$r/opt/standin-node/lib/"
  : >"$r/opt/standin-node/bin/node" # mount point: the harness binds Node 24 here
  # mount points of the real upstream programs the harness binds in (.cache/upstream/bin)
  for b in nodeadm soci-snapshotter-grpc soci; do : >"$r/usr/bin/$b"; done
  chmod 0755 "$r"/usr/local/bin/* "$r/opt/standin-node/bin/node" "$r"/usr/bin/* "$r"/usr/sbin/*
  # a persistent journal, so a failure stays visible after a reboot
  mkdir -p "$r/var/log/journal"
  # the AMI's cached sandbox image, and nodeadm's drop-in directory (amazon-eks-ami
  # templates/al2023/provisioners/install-nodeadm.sh creates it)
  mkdir -p "$r/etc/eks/nodeadm.d"
  "$NODE_BIN" test/standins/lib/pause-image.mjs "$r/etc/eks/pause.tar"
  # enabled as on the AMI (install-worker.sh: the soci socket; install-nodeadm.sh: nodeadm's units),
  # plus the IMDS stand-in; cloud-init.target is enabled at boot by cloud-init's own generator
  mkdir -p "$r/etc/systemd/system/sockets.target.wants" "$r/etc/systemd/system/multi-user.target.wants"
  ln -s ../soci-snapshotter.socket "$r/etc/systemd/system/sockets.target.wants/soci-snapshotter.socket"
  local u
  for u in nodeadm-config.service nodeadm-run.service imds-standin.service; do
    ln -s "../$u" "$r/etc/systemd/system/multi-user.target.wants/$u"
  done
  mv "$r" "$out"
}

step "layer recipe"
LAYER_HASH=$( {
  sha256sum "$SELF"
  find test/standins test/harness/rootfs test/fixtures/ami/systemd -type f -print0 | sort -z | xargs -0 sha256sum
  find test/standins -type f -perm -u+x | sort
} | sha256sum | cut -c1-16)
# node-layer-*: several checkouts (git worktrees) share one .cache and may need different layers at the
# same time, so an unused layer goes only when it has not been used for a day.
LAYER=$H/node-layer-$LAYER_HASH
if [ ! -d "$LAYER" ]; then
  step "building the node layer"
  build_layer "$LAYER"
  say "node layer built ($(elapsed))"
fi
touch "$LAYER"
for d in "$H"/node-layer-*; do
  if [ "$d" != "$LAYER" ] && [ -n "$(find "$d" -maxdepth 0 -mmin +1440)" ] && ! in_use "$d"; then safe_rm "$d"; fi
done

cat <<EOF
BASE=$BASE/rootfs
LAYER=$LAYER
NODE=$NODE_BIN
NODE_MODULES=$REPO/node_modules
UPSTREAM_BIN=$UPSTREAM_BIN
EOF
