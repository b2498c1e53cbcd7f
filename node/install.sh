#!/bin/bash
# soci-installer: the install steps every path shares (boot from user data, live from the
# DaemonSet, bake from Packer); main is the whole run.
# 1. check the node (root, architecture, containerd version)
# 2. pick the binary: the AMI's soci if it supports the mode (source auto/ami), else the release,
#    downloaded and checked against its pinned sha256
# 3. write soci's files ("stage": stage_files in the data header), start soci and check it is up
# 4. only then wire containerd (and kubelet, auth cri-keychain) to it ("wire": wire_files)
# Any failure puts every file back and leaves the node on overlayfs (exit 0, or 1 when strict:
# --strict at boot, always live and in a bake). A second run changes nothing and restarts nothing.
# Log: journalctl -t soci-installer
# Each path's file (boot.sh, live.sh, bake.sh) defines the four steps that differ:
# check_user_config, start_soci, apply_wiring and finish. The assembled script ends with `main "$@"`.
# shellcheck source=lib.sh
. "${BASH_SOURCE[0]%/*}/lib.sh"

# nodeadm picks its containerd template from the merged containerd.config text (amazon-eks-ami
# nodeadm/internal/containerd/config.go at 81fec2e8): once our version 3 keys are merged in, a user's
# config in version 2 keys is no longer migrated. Under io.containerd.grpc.v1.cri containerd 2 then
# reads only its CRI server's keys and drops the rest, which moved to the version 3 CRI plugins
# (CRI_MOVED, in the data header). We refuse a node whose config has such keys rather than emit our
# keys as version 2 there: it then joins on overlayfs with the user's settings working and a message
# naming the keys and where they belong now. The node's containerd says which keys it drops: its config
# dump of that text as version 3 logs "Ignoring unknown key in TOML for plugin" for each (one word: a
# key right under the table; cmd/containerd/server/config/config.go, Decode, at v2.2.4). The
# launch-template merge applies the same rule from src/containerd-cri-keys.ts, which holds the tables:
# nothing is refused where the text names a version 3 CRI plugin (nodeadm migrates nothing then, with
# or without us), or sets a version below 3 (containerd migrates it all as it loads). nodeadm-config
# (before cloud-init) caches the user-data NodeConfig in /run/eks/nodeadm/config.json (--config-cache);
# nodeadm-run later caches there the config merged with the drop-ins (amazon-eks-ami 81fec2e8
# cmd/nodeadm/init/init.go), which a live run reads.
refuse_v2_user_config() {
  local cache=/run/eks/nodeadm/config.json user_config version key stale=''
  [ "$CONTAINERD_LINE" = 2 ] && [ -r "$cache" ] && command -v jq >/dev/null || return 0
  user_config=$(jq -r '.spec.containerd.config // empty' "$cache" 2>/dev/null || true)
  grep -q 'io\.containerd\.grpc\.v1\.cri' <<<"$user_config" && ! grep -qE 'io\.containerd\.cri\.v1\.(images|runtime)' <<<"$user_config" || return 0
  # Its own version: the top-level key, before the first table.
  version=$(sed -n '/^[[:space:]]*\[/q; s/^[[:space:]]*version[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' <<<"$user_config")
  [ "${version:-3}" -ge 3 ] 2>/dev/null || return 0
  { [ -n "$version" ] || echo 'version = 3'; printf '%s\n' "$user_config"; } >"$WORK/user-containerd.toml"
  for key in $(containerd --config "$WORK/user-containerd.toml" config dump 2>&1 >/dev/null |
    sed -n 's/.*msg="Ignoring unknown key in TOML for plugin".* key=\([^ "]*\) plugin=io\.containerd\.grpc\.v1\.cri$/\1/p' | LC_ALL=C sort -u); do
    stale+="${stale:+; }$key (now in ${CRI_MOVED[$key]:-$CRI_MOVED_OTHERS})"
  done
  [ -z "$stale" ] || fail "containerd.config in user data sets keys under io.containerd.grpc.v1.cri that containerd 2 (config version 3) no longer reads there: $stale. Merged with soci's wiring (version 3 keys), nodeadm would not migrate them and containerd 2 would ignore them; move them to where they are now"
}

# nodeadm's FastImagePull gate makes nodeadm write its own soci config over ours and a containerd
# drop-in that Requires= soci, in every config phase (amazon-eks-ami 81fec2e8
# nodeadm/internal/containerd/config.go writeSnapshotterConfig, UseSOCISnapshotter): the mode installed
# here would be replaced at the next boot, without a word. So we ask nodeadm whether the gate is on:
# `nodeadm config dump` over the sources nodeadm-run.service reads (the AMI's unit, 81fec2e8
# templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service; nodeadm_config in
# containerd.sh runs its config phase over the same) prints the NodeConfig nodeadm-run would merge, as
# compact JSON. nodeadm's own decoding then decides: YAML 1.1's true (yes, on, y, True ...:
# vendor/go.yaml.in/yaml/v2/resolve.go), the drop-ins it reads (files ending .yaml, .yml or .json in
# any letter case, dotfiles too, in name order: internal/configprovider/file.go), and a later source's
# value winning, false included (internal/api/merge.go). We refuse whatever this node's size: nodeadm
# ignores the gate below 4 vCPU and 7 GiB, but the same user data, AMI or launch template serves other
# instance types (and a stopped instance can change its type), where it would take effect.
refuse_fast_image_pull() {
  local merged rc=0
  # No nodeadm, nothing that reads the gate.
  command -v nodeadm >/dev/null || return 0
  merged=$(nodeadm config dump --config-source imds://user-data --config-source file:///etc/eks/nodeadm.d/ 2>"$WORK/nodeadm-dump") || rc=$?
  case $rc in
    0) [[ $merged == *'"FastImagePull":true'* ]] || return 0 ;;
    2) fast_image_pull_without_dump || return 0 ;;
    *) fail "nodeadm cannot read this node's NodeConfig (nodeadm config dump: $(tail -n 1 "$WORK/nodeadm-dump")), so whether its FastImagePull gate is on is unknown" ;;
  esac
  fail "nodeadm's FastImagePull gate is on in this node's NodeConfig (user data and /etc/eks/nodeadm.d, merged as nodeadm-run reads them): nodeadm would replace soci's config with its own (parallel pull) at every boot on an instance of 4 vCPU and 7 GiB or more; remove the gate from the node's NodeConfig, or use soci.mode: fast-image-pull"
}

# AMIs before v20260107 have no `nodeadm config dump` (amazon-eks-ami c12de9a8; flaggy exits 2): there
# the user data as nodeadm decoded it (the JSON cache nodeadm-config writes), then any drop-in nodeadm
# reads with a FastImagePull line in a YAML 1.1 spelling of true. A cautious reading, not nodeadm's: it
# misses anchors, and refuses all the same where a later false turns the gate off, or where nodeadm-run
# reads no drop-ins (AMIs before v20251023).
fast_image_pull_without_dump() {
  local f
  grep -qsE '"FastImagePull":[[:space:]]*true' /run/eks/nodeadm/config.json && return 0
  for f in /etc/eks/nodeadm.d/{,.}*; do
    [[ -f $f && ${f,,} =~ \.(yaml|yml|json)$ ]] &&
      grep -qE '^[^#]*FastImagePull["'"'"']?[[:space:]]*:[[:space:]]*(!!bool[[:space:]]+)?(y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON)([[:space:],}#]|$)' "$f" && return 0
  done
  return 1
}

# nodeadm-run reads drop-ins only where its unit names them (AMIs from v20251023; the unit before,
# amazon-eks-ami 6c054415 templates/al2023/runtime/rootfs/etc/systemd/system/nodeadm-run.service,
# ran `nodeadm init --skip config` with no sources).
nodeadm_run_unit() {
  if booted; then
    systemctl cat nodeadm-run.service 2>/dev/null || true
  else
    cat /etc/systemd/system/nodeadm-run.service /etc/systemd/system/nodeadm-run.service.d/*.conf \
      /usr/lib/systemd/system/nodeadm-run.service 2>/dev/null || true
  fi
}

start_soci_units() {
  if ! booted; then
    log info "no booted systemd (image build): soci is enabled, not started"
    return 0
  fi
  ! systemctl is-active --quiet soci-snapshotter.socket || SOCKET_WAS_ACTIVE=1
  if systemctl is-active --quiet soci-snapshotter.service; then
    if [ "$SOCI_CHANGED" = 1 ]; then
      # Restarting soci breaks lazily loaded containers ("Stale file handle").
      if grep -q ' fuse\.rawBridge ' /proc/mounts; then
        fail "soci's settings changed but it serves running containers; drain and reboot the node to apply them"
      fi
      STARTED=1
      # soci alone: a Requires= on soci (nodeadm's FastImagePull drop-in, or ours before) would restart
      # containerd with it, behind this script's back.
      timeout "$START_TIMEOUT" systemctl restart --job-mode=ignore-dependencies soci-snapshotter.service ||
        fail "soci-snapshotter did not restart"
    fi
  else
    STARTED=1
    timeout "$START_TIMEOUT" systemctl start soci-snapshotter.socket soci-snapshotter.service ||
      fail "soci-snapshotter did not become ready within ${START_TIMEOUT}s (journalctl -u soci-snapshotter)"
  fi
  systemctl is-active --quiet soci-snapshotter.service || fail "soci-snapshotter is not running (journalctl -u soci-snapshotter)"
  [ -S "$SOCKET" ] || fail "no socket at $SOCKET"
}

main() {
  umask 022
  for arg in "$@"; do
    case "$arg" in
      --strict) STRICT=1 ;;
      *) echo "usage: $0 [--strict]" >&2; exit 2 ;;
    esac
  done
  START_TIMEOUT=${SOCI_INSTALLER_START_TIMEOUT:-60}
  WORK=$(mktemp -d)
  CHANGED=() ENABLED=() KEPT=() MADE=()
  # shellcheck disable=SC2034 # live.sh reads WIRING_CHANGED
  UNITS_CHANGED=0 SOCI_CHANGED=0 WIRING_CHANGED=0 PHASE=stage
  STARTED=0 SOCKET_WAS_ACTIVE=0 CONTAINERD_WAS_ACTIVE=0 CONTAINERD_RESTARTED=0 KUBELET_RESTARTED=0
  COMMITTED=0 REASON="unexpected error"
  trap on_exit EXIT
  # Stopped from outside (the DaemonSet's time limit, systemctl stop): roll back and say so.
  trap 'fail "stopped by SIGTERM before it finished (a time limit, or the unit running it was stopped)"' TERM

  # 1. The node
  [ "$(id -u)" = 0 ] || fail "must run as root"
  if booted && systemctl is-active --quiet containerd.service; then CONTAINERD_WAS_ACTIVE=1; fi
  case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) fail "unsupported architecture $(uname -m)" ;;
  esac
  case " $ARCHES " in *" $ARCH "*) ;; *) fail "this profile serves $ARCHES, not $ARCH (node.arch)" ;; esac
  [ -r "$CONTAINERD_VERSION_FILE" ] || fail "$CONTAINERD_VERSION_FILE is missing: not an EKS AL2023 node"
  # The AMI writes containerd's whole --version line there; read it as nodeadm does: the first match of
  # [0-9]+\.[0-9]+.[0-9]+ (amazon-eks-ami nodeadm/internal/containerd/version.go, 81fec2e8), so a leading v
  # (upstream builds) or none (the AMI's package) reads the same.
  local have line
  have=$(grep -oE '[0-9]+\.[0-9]+.[0-9]+' "$CONTAINERD_VERSION_FILE" | head -n 1 || true)
  case "$have" in
    1.*) line=1.7 ;;
    2.*) line=2 ;;
    *) line="unknown ($have)" ;;
  esac
  [ "$line" = "$CONTAINERD_LINE" ] || fail "containerd $have runs here, but this profile was generated for containerd $CONTAINERD_LINE (node.containerd); its config keys would break nodeadm"
  if [ "$DROP_IN_WIRING" = 1 ] && ! [[ "$(nodeadm_run_unit)" =~ (^|$'\n')ExecStart=[^$'\n']*file:///etc/eks/nodeadm\.d ]]; then
    fail "this node's nodeadm-run.service does not read /etc/eks/nodeadm.d (EKS AMIs before v20251023): the wiring drop-in would be ignored; use soci.wiring: user-data on this AMI"
  fi
  check_user_config
  if [ "$AUTH" = ecr-credential-helper ]; then
    [ -x "$ECR_PROVIDER" ] || fail "$ECR_PROVIDER is missing: the ECR credential bridge needs kubelet's ECR credential provider (EKS AL2023 AMI); use soci.auth: ecr-credential-helper-package"
    command -v jq >/dev/null || fail "jq is missing: the ECR credential bridge needs it (the EKS AL2023 AMI ships it)"
  fi

  # 2. The binary
  local ami_version
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
    local url=${RELEASE_URL[$ARCH]} sha=${RELEASE_SHA[$ARCH]}
    # Installed from this very archive already (second run, reboot): no network needed.
    if ! { [ -x "$REL_BIN" ] && [ "$(cat "$STATE/release.sha256" 2>/dev/null)" = "$sha" ]; }; then
      fetch "$url" "$sha" "$WORK/soci.tar.gz"
      mkdir "$WORK/soci"
      tar -xzf "$WORK/soci.tar.gz" -C "$WORK/soci" || fail "cannot unpack $url"
      [ -f "$WORK/soci/soci-snapshotter-grpc" ] || fail "$url holds no soci-snapshotter-grpc"
      install_file "$WORK/soci/soci-snapshotter-grpc" "$REL_BIN" 0755
      [ ! -f "$WORK/soci/soci" ] || install_file "$WORK/soci/soci" "$REL_CLI" 0755
      put "$STATE/release.sha256" 0644 <<<"$sha"
    fi
    supported "$(version_of "$REL_BIN")" || fail "$REL_BIN does not report a version that supports mode $MODE"
  fi
  if [ "$AUTH" = ecr-credential-helper-package ] && ! command -v docker-credential-ecr-login >/dev/null; then
    if [ ${#ECR_HELPER_URL[@]} -gt 0 ]; then
      fetch "${ECR_HELPER_URL[$ARCH]}" "${ECR_HELPER_SHA[$ARCH]}" "$WORK/ecr-login"
      install_file "$WORK/ecr-login" "$ECR_HELPER_BIN" 0755
    else
      log info "installing the AL2023 package amazon-ecr-credential-helper"
      dnf install -y -q amazon-ecr-credential-helper || fail "cannot install amazon-ecr-credential-helper (no package repository?); bake it into the AMI or pin soci.ecrCredentialHelper"
    fi
  fi

  # 3. soci's own files (stage_files: the data header), then start and check it
  stage_files
  reload
  enable_unit soci-snapshotter.socket
  start_soci

  # 4. Wire containerd to soci: soci is verified
  PHASE=wire
  wire_files
  reload
  for unit in $ENABLE_UNITS; do enable_unit "$unit"; done
  local binary="$AMI_BIN (AMI)"
  [ "$USE_RELEASE" = 0 ] || binary="$REL_BIN (release $SOCI_VERSION)"
  apply_wiring
  # What uninstall disables: the units this installer enabled, and only those (EKS AL2023 AMIs from
  # v20250813 ship their own soci socket enabled: it stays so).
  if [ ${#ENABLED[@]} -gt 0 ]; then
    { cat "$STATE/enabled-units" 2>/dev/null || true; printf '%s\n' "${ENABLED[@]}"; } | put "$STATE/enabled-units" 0644
  fi
  # uninstall reads the wiring's place here (user data: it cannot take soci off such a node).
  put "$STATE/installed" 0644 <<<"soci-installer $VERSION: mode $MODE, binary $binary, wiring in $WIRING_IN"
  # What an uninstall that failed or was stopped recorded is about the install before this one.
  rm -f "$STATE/last-failure" "$STATE"/uninstall-*
  COMMITTED=1
  finish
}
