#!/bin/bash
# soci-installer 0.1.0: SOCI snapshotter in lazy mode on an EKS AL2023 node (containerd 1.7).
# 1. check the node (root, architecture, containerd version)
# 2. pick the binary: release 0.12.1, downloaded and checked against its pinned sha256
# 3. write soci's files ("stage" below), start soci and check it is up
# 4. only then wire containerd to it ("wire" below): nodeadm applies it at boot
# Any failure puts every file back and leaves the node on overlayfs (exit 0, or 1 with --strict).
# --live (a running node, from the DaemonSet): also regenerate containerd's config with nodeadm,
# restart containerd once (containers keep running), import the pause image into soci, check a
# snapshot, and forget images whose layers are gone (kubelet pulls them again, through soci).
# --bake (Packer, packer/ beside this script): the same steps on the image builder, soci enabled but
# not started, the wiring always as the nodeadm drop-in, then the EKS cleanup (machine-id, cloud-init
# state, SSH host keys, logs); any failure exits 1 so the build stops.
# A second run changes nothing and restarts nothing. Log: journalctl -t soci-installer
# Profile values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC2016
set -euo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

MODE='lazy'
SOURCE='release'
CONTAINERD_LINE='1.7'
MIN_VERSION='0.10.0'
BAD_VERSIONS='0.10.0 0.11.0'
SOCI_VERSION='0.12.1'
ARCHES='amd64'
AMI_BIN='/usr/bin/soci-snapshotter-grpc'
REL_BIN='/usr/local/bin/soci-snapshotter-grpc'
SOCKET='/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock'
STATE='/var/lib/soci-installer'
START_TIMEOUT=${SOCI_INSTALLER_START_TIMEOUT:-60}

STRICT=0
LIVE=0
BAKE=0
for arg in "$@"; do
  case "$arg" in
    --strict) STRICT=1 ;;
    --live) LIVE=1 STRICT=1 ;;
    --bake) BAKE=1 STRICT=1 ;;
    *) echo "usage: $0 [--strict | --live | --bake]" >&2; exit 2 ;;
  esac
done

log() {
  local level=$1
  shift
  echo "soci-installer: $*" >&2
  logger -t soci-installer -p "user.$level" -- "$*" 2>/dev/null || true
}
fail() {
  log err "$*"
  REASON=$*
  exit 1
}
booted() { [ -d /run/systemd/system ]; }
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }
same() { [ -f "$2" ] && [ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ]; }

WORK=$(mktemp -d)
CHANGED=()
ENABLED=()
UNITS_CHANGED=0
SOCI_CHANGED=0
STARTED=0
SOCKET_WAS_ACTIVE=0
CONTAINERD_RESTARTED=0
COMMITTED=0
REASON="unexpected error"

# Remember a file's state before the first change of this run (and, once ever, for uninstall).
save() {
  local path=$1
  CHANGED+=("$path")
  mkdir -p "$WORK/orig$(dirname "$path")"
  [ ! -e "$path" ] || cp -a "$path" "$WORK/orig$path"
  case "$path" in "$STATE"/*) return 0 ;; esac
  local keep="$STATE/original$path"
  if [ ! -e "$keep" ] && [ ! -e "$keep.absent" ]; then
    mkdir -p "$(dirname "$keep")"
    if [ -e "$path" ]; then cp -a "$path" "$keep"; else : >"$keep.absent"; fi
  fi
}
mark() {
  case "$1" in
    /etc/systemd/* | /usr/local/lib/systemd/*) UNITS_CHANGED=1 ;;
  esac
  case "$1" in
    /etc/soci-snapshotter-grpc/* | /etc/systemd/system/soci-snapshotter.* | "$REL_BIN" | /root/.docker/*) SOCI_CHANGED=1 ;;
  esac
}
# install_file SRC PATH MODE: put SRC at PATH atomically, unless it is already there.
install_file() {
  local src=$1 path=$2 mode=$3
  if same "$src" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then return 0; fi
  save "$path"
  mark "$path"
  mkdir -p "$(dirname "$path")"
  cp "$src" "$path.soci-installer.tmp"
  chmod "$mode" "$path.soci-installer.tmp"
  mv -f "$path.soci-installer.tmp" "$path"
  log info "wrote $path"
}
# put PATH MODE <content
put() {
  cat >"$WORK/new"
  install_file "$WORK/new" "$1" "$2"
}
# unput PATH: remove a file this installer may have written before.
unput() {
  [ -e "$1" ] || return 0
  save "$1"
  mark "$1"
  rm -f "$1"
  log info "removed $1"
}
enable_unit() {
  if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
    systemctl enable "$1" >/dev/null 2>&1 || fail "cannot enable $1"
    ENABLED+=("$1")
  fi
}
reload() {
  if [ "$UNITS_CHANGED" = 1 ] && booted; then systemctl daemon-reload; fi
  UNITS_CHANGED=0
}

rollback() {
  local i path
  set +e
  log err "rolling back: $REASON"
  for unit in "${ENABLED[@]}"; do systemctl disable "$unit" >/dev/null 2>&1; done
  if [ "$STARTED" = 1 ] && booted; then
    systemctl stop soci-snapshotter.service >/dev/null 2>&1
    [ "$SOCKET_WAS_ACTIVE" = 1 ] || systemctl stop soci-snapshotter.socket >/dev/null 2>&1
  fi
  for ((i = ${#CHANGED[@]} - 1; i >= 0; i--)); do
    path=${CHANGED[$i]}
    if [ -e "$WORK/orig$path" ]; then mv -f "$WORK/orig$path" "$path"; else rm -f "$path"; fi
  done
  UNITS_CHANGED=1
  reload
  # The one restart a failed live conversion may cost: containerd back on its old config.
  if [ "$CONTAINERD_RESTARTED" = 1 ]; then systemctl restart containerd.service; fi
  mkdir -p "$STATE" && echo "$REASON" >"$STATE/last-failure"
  log err "soci-snapshotter NOT installed; containerd stays on its default snapshotter (overlayfs)"
}
on_exit() {
  local rc=$?
  if [ "$COMMITTED" != 1 ] && [ "$rc" != 0 ]; then
    rollback
    rm -rf "$WORK"
    [ "$STRICT" = 1 ] && exit 1
    exit 0
  fi
  rm -rf "$WORK"
}
trap on_exit EXIT

# 1. The node
[ "$(id -u)" = 0 ] || fail "must run as root"
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) fail "unsupported architecture $(uname -m)" ;;
esac
case " $ARCHES " in *" $ARCH "*) ;; *) fail "this profile serves $ARCHES, not $ARCH (node.arch)" ;; esac
[ -r '/etc/eks/containerd-version.txt' ] || fail "/etc/eks/containerd-version.txt is missing: not an EKS AL2023 node"
# The AMI writes containerd's whole --version line there; read it as nodeadm does: the first match of
# [0-9]+\.[0-9]+.[0-9]+ (amazon-eks-ami nodeadm/internal/containerd/version.go, 81fec2e8), so a leading v
# (upstream builds) or none (the AMI's package) reads the same.
have=$(grep -oE '[0-9]+\.[0-9]+.[0-9]+' '/etc/eks/containerd-version.txt' | head -n 1 || true)
case "$have" in
  1.*) line=1.7 ;;
  2.*) line=2 ;;
  *) line="unknown ($have)" ;;
esac
[ "$line" = "$CONTAINERD_LINE" ] || fail "containerd $have runs here, but this profile was generated for containerd $CONTAINERD_LINE (node.containerd); its config keys would break nodeadm"
if [ -e /root/.docker/config.json ] && ! grep -q ecr-login /root/.docker/config.json; then
  fail "/root/.docker/config.json exists with other settings; add \"credsStore\": \"ecr-login\" to it yourself, or remove it"
fi

# 2. The binary
supported() { [ -n "$1" ] && ver_ge "$1" "$MIN_VERSION" && case " $BAD_VERSIONS " in *" $1 "*) false ;; *) true ;; esac; }
version_of() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true; }
# fetch URL SHA256 DEST: download and verify against the sha256 pinned at generation time.
fetch() {
  log info "downloading $1"
  curl -fsSL --retry 3 --connect-timeout 10 -o "$3" "$1" || fail "download failed: $1"
  echo "$2  $3" | sha256sum --check --status || fail "sha256 mismatch for $1 (expected $2); nothing installed"
}
USE_RELEASE=1
if [ "$SOURCE" != release ]; then
  ami_version=$(version_of "$AMI_BIN")
  if supported "$ami_version"; then
    USE_RELEASE=0
    log info "using the AMI's soci-snapshotter $ami_version"
  elif [ "$SOURCE" = ami ]; then
    fail "the AMI's soci-snapshotter (${ami_version:-absent}) cannot run mode $MODE: needs $MIN_VERSION or later, not $BAD_VERSIONS"
  else
    log info "the AMI's soci-snapshotter (${ami_version:-absent}) cannot run mode $MODE; using release $SOCI_VERSION"
  fi
fi
if [ "$USE_RELEASE" = 1 ]; then
  case "$ARCH" in
    amd64) URL='https://github.com/awslabs/soci-snapshotter/releases/download/v0.12.1/soci-snapshotter-0.12.1-linux-amd64.tar.gz' SHA=1111111111111111111111111111111111111111111111111111111111111111 ;;
  esac
  # Installed from this very archive already (second run, reboot): no network needed.
  if ! { [ -x "$REL_BIN" ] && [ "$(cat "$STATE/release.sha256" 2>/dev/null)" = "$SHA" ]; }; then
    fetch "$URL" "$SHA" "$WORK/soci.tar.gz"
    mkdir "$WORK/soci"
    tar -xzf "$WORK/soci.tar.gz" -C "$WORK/soci" || fail "cannot unpack $URL"
    [ -f "$WORK/soci/soci-snapshotter-grpc" ] || fail "$URL holds no soci-snapshotter-grpc"
    install_file "$WORK/soci/soci-snapshotter-grpc" "$REL_BIN" 0755
    [ ! -f "$WORK/soci/soci" ] || install_file "$WORK/soci/soci" /usr/local/bin/soci 0755
    put "$STATE/release.sha256" 0644 <<<"$SHA"
  fi
  supported "$(version_of "$REL_BIN")" || fail "$REL_BIN does not report a version that supports mode $MODE"
fi
if ! command -v docker-credential-ecr-login >/dev/null; then
  log info "installing the AL2023 package amazon-ecr-credential-helper"
  dnf install -y -q amazon-ecr-credential-helper || fail "cannot install amazon-ecr-credential-helper (no package repository?); bake it into the AMI or pin soci.ecrCredentialHelper"
fi

# 3. soci's own files, then start and check it
put '/etc/soci-snapshotter-grpc/config.toml' 0644 <<'SOCI_INSTALLER_EOF'
# soci-snapshotter-grpc configuration, written by soci-installer 0.1.0 (mode lazy).
# Regenerate it from the profile rather than editing it here.

[pull_modes.soci_v1]
enable = false

[pull_modes.soci_v2]
enable = true

[pull_modes.parallel_pull_unpack]
enable = false
SOCI_INSTALLER_EOF
if [ "$USE_RELEASE" = 1 ]; then
  put '/usr/local/lib/systemd/system/soci-snapshotter.service' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0. Used only where the AMI has no soci-snapshotter.service of
# its own (units in /etc/systemd/system take precedence over /usr/local/lib/systemd/system).
[Unit]
Description=SOCI snapshotter, a containerd snapshotter plugin for lazy loading and parallel pull
Documentation=https://github.com/awslabs/soci-snapshotter
After=network.target
Before=containerd.service

[Service]
Type=notify
ExecStart=/usr/local/bin/soci-snapshotter-grpc --address fd://
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
SOCI_INSTALLER_EOF
else
  unput '/usr/local/lib/systemd/system/soci-snapshotter.service'
fi
if [ "$USE_RELEASE" = 1 ]; then
  put '/usr/local/lib/systemd/system/soci-snapshotter.socket' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0. Used only where the AMI has no soci-snapshotter.socket.
[Unit]
Description=SOCI snapshotter socket

[Socket]
ListenStream=/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock
SocketMode=0660

[Install]
WantedBy=sockets.target
SOCI_INSTALLER_EOF
else
  unput '/usr/local/lib/systemd/system/soci-snapshotter.socket'
fi
if [ "$USE_RELEASE" = 1 ]; then
  put '/etc/systemd/system/soci-snapshotter.service.d/20-soci-installer-release.conf' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0 because this node runs the soci-snapshotter release it
# downloaded (0.12.1, sha256-verified) instead of the AMI's binary.
[Unit]
After=network.target
Before=containerd.service

[Service]
ExecStart=
ExecStart=/usr/local/bin/soci-snapshotter-grpc --address fd://
Restart=always
RestartSec=5
SOCI_INSTALLER_EOF
else
  unput '/etc/systemd/system/soci-snapshotter.service.d/20-soci-installer-release.conf'
fi
put '/root/.docker/config.json' 0600 <<'SOCI_INSTALLER_EOF'
{
  "credsStore": "ecr-login"
}
SOCI_INSTALLER_EOF
reload
enable_unit soci-snapshotter.socket
if booted && [ "$BAKE" = 0 ]; then
  ! systemctl is-active --quiet soci-snapshotter.socket || SOCKET_WAS_ACTIVE=1
  if systemctl is-active --quiet soci-snapshotter.service; then
    if [ "$SOCI_CHANGED" = 1 ]; then
      # Restarting soci breaks lazily loaded containers ("Stale file handle").
      if grep -q ' fuse\.rawBridge ' /proc/mounts; then
        fail "soci's settings changed but it serves running containers; drain and reboot the node to apply them"
      fi
      STARTED=1
      timeout "$START_TIMEOUT" systemctl restart soci-snapshotter.service || fail "soci-snapshotter did not restart"
    fi
  else
    STARTED=1
    timeout "$START_TIMEOUT" systemctl start soci-snapshotter.socket soci-snapshotter.service ||
      fail "soci-snapshotter did not become ready within ${START_TIMEOUT}s (journalctl -u soci-snapshotter)"
  fi
  systemctl is-active --quiet soci-snapshotter.service || fail "soci-snapshotter is not running (journalctl -u soci-snapshotter)"
  [ -S "$SOCKET" ] || fail "no socket at $SOCKET"
elif [ "$BAKE" = 1 ]; then
  log info "bake: soci is enabled, not started (instances of the image start it at boot)"
else
  log info "no booted systemd (image build): soci is enabled, not started"
fi

# 4. Wire containerd to soci: soci is verified
put '/etc/systemd/system/containerd.service.d/20-soci-installer.conf' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0 once soci-snapshotter was running (or, in an AMI bake, installed):
# containerd's snapshotter is soci, so soci must be up first.
[Unit]
Requires=soci-snapshotter.service
After=soci-snapshotter.service
SOCI_INSTALLER_EOF
put '/etc/systemd/system/soci-installer-pause-import.service' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0. kubelet needs the pause image in the soci snapshotter
# before it creates a sandbox; the AMI imported it for overlayfs only.
[Unit]
Description=Import the EKS pause image into the SOCI snapshotter
Requires=containerd.service
After=containerd.service
Before=kubelet.service
ConditionPathExists=/etc/eks/pause.tar

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ctr --namespace k8s.io images import --snapshotter soci --discard-unpacked-layers=false --local /etc/eks/pause.tar

[Install]
WantedBy=containerd.service kubelet.service
SOCI_INSTALLER_EOF
put '/etc/eks/nodeadm.d/50-soci-installer.yaml' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0 once soci-snapshotter was running on this node (or, in an AMI bake, installed and enabled).
# nodeadm merges it over user data on every boot. Delete it and
# /etc/systemd/system/containerd.service.d/20-soci-installer.conf to return to overlayfs at the next boot.
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  containerd:
    config: |
      [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "soci"
      disable_snapshot_annotations = false

      [proxy_plugins.soci]
      type = "snapshot"
      address = "/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock"

      [proxy_plugins.soci.exports]
      root = "/var/lib/soci-snapshotter-grpc"
SOCI_INSTALLER_EOF
reload
enable_unit soci-installer-pause-import.service
MARKER="soci-installer 0.1.0: mode $MODE, binary $([ "$USE_RELEASE" = 1 ] && echo "$REL_BIN (release $SOCI_VERSION)" || echo "$AMI_BIN (AMI)")"
if [ "$LIVE" = 1 ] && { [ ${#CHANGED[@]} -gt 0 ] || [ "$(cat "$STATE/installed" 2>/dev/null)" != "$MARKER" ]; }; then
  # 5. Live: containerd takes the wiring now. nodeadm writes its config, as at boot.
  save /etc/containerd/config.toml
  nodeadm init --skip run --config-source imds://user-data --config-source file:///etc/eks/nodeadm.d/ ||
    fail "nodeadm could not regenerate containerd's config"
  grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml || fail "nodeadm's containerd config does not name soci"
  CONTAINERD_RESTARTED=1
  systemctl restart containerd.service || fail "containerd did not restart"
  # containerd answers before all its plugins are up: wait (a minute at most) for soci among them.
  # (Read the whole list first: grep -q quitting early would fail ctr, and the pipe, under pipefail.)
  soci_listed() { [[ "$(ctr plugins ls 2>/dev/null)" =~ io\.containerd\.snapshotter\.v1\ +soci\ [^$'\n']*\ ok ]]; }
  for _ in $(seq 60); do soci_listed && break; sleep 1; done
  soci_listed || fail "containerd does not list the soci snapshotter"
  systemctl restart soci-installer-pause-import.service || fail "the pause image did not import into soci"
  probe="soci-installer-probe-$$"
  ctr --namespace k8s.io snapshots --snapshotter soci prepare "$probe" >/dev/null || fail "a snapshot through soci failed"
  ctr --namespace k8s.io snapshots --snapshotter soci rm "$probe"
  # Layers unpacked for overlayfs were discarded: such images cannot be unpacked for soci.
  # Forget them; running containers keep their snapshots, kubelet pulls the image again.
  ctr --namespace k8s.io images check 2>/dev/null | awk 'NR > 1 && $4 == "incomplete" { print $1 }' | while read -r ref; do
    ctr --namespace k8s.io images rm "$ref" >/dev/null && log info "forgot $ref (its layers were discarded; kubelet pulls it again through soci)"
  done
fi
put "$STATE/installed" 0644 <<<"$MARKER"
rm -f "$STATE/last-failure"
COMMITTED=1
if [ "$BAKE" = 1 ]; then
  # The EKS cleanup: what a derived AMI must not carry, or systemd and cloud-init treat every
  # instance of it as this builder. Messages go to stderr only: logging would write new logs.
  if [ -s /etc/machine-id ]; then
    : >/etc/machine-id
    echo "soci-installer: bake: emptied /etc/machine-id" >&2
  fi
  for path in /var/lib/cloud/data /var/lib/cloud/instance /var/lib/cloud/instances /var/lib/cloud/sem \
    /etc/ssh/ssh_host_* /root/.ssh/authorized_keys /home/ec2-user/.ssh/authorized_keys \
    /var/log/cloud-init.log /var/log/cloud-init-output.log /var/log/messages /var/log/secure \
    /var/log/wtmp /var/log/btmp /var/log/lastlog /var/log/audit/audit.log /var/log/journal/*; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      rm -rf "$path"
      echo "soci-installer: bake: removed $path" >&2
    fi
  done
  echo "soci-installer: done: image baked with soci-snapshotter in $MODE mode; wiring in /etc/eks/nodeadm.d/50-soci-installer.yaml" >&2
  exit 0
fi
if [ "$LIVE" = 0 ] && booted && systemctl is-active --quiet containerd.service && [ ${#CHANGED[@]} -gt 0 ]; then
  log info "containerd is already running: the wiring applies when nodeadm next configures it (at the next boot)"
fi
log info "done: soci-snapshotter in $MODE mode; wiring in /etc/eks/nodeadm.d/50-soci-installer.yaml"
