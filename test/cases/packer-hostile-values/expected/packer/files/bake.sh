#!/bin/bash
# soci-installer 0.1.0: SOCI snapshotter in lazy mode baked into an EKS AL2023 AMI (containerd 2).
# This data header, then soci-installer's node/log.sh, node/lib.sh, node/install.sh, node/bake.sh without their comment lines:
# read those files, commented, in the soci-installer package (node_modules/soci-installer/node/) or its repository.
# Profile values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC2016
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VERSION='0.1.0'
MODE='lazy'
SOURCE='ami'
CONTAINERD_LINE='2'
MIN_VERSION='0.10.0'
BAD_VERSIONS='0.10.0 0.11.0'
SOCI_VERSION='0.15.0'
ARCHES='amd64 arm64'
AUTH='none'
AMI_BIN='/usr/bin/soci-snapshotter-grpc'
REL_BIN='/usr/local/bin/soci-snapshotter-grpc'
REL_CLI='/usr/local/bin/soci'
SOCKET='/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock'
STATE='/var/lib/soci-installer'
CONTAINERD_VERSION_FILE='/etc/eks/containerd-version.txt'
ECR_PROVIDER='/etc/eks/image-credential-provider/ecr-credential-provider'
ECR_HELPER_BIN='/usr/local/bin/docker-credential-ecr-login'
ENABLE_UNITS='soci-installer-pause-import.service'
DROP_IN_WIRING='1'
WIRING_IN='/etc/eks/nodeadm.d/50-soci-installer.yaml'
ROLLBACK_TEXT='containerd stays on its default snapshotter (overlayfs)'
SOCI_CONFIG='/etc/soci-snapshotter-grpc/config.toml'
declare -A RELEASE_URL=()
declare -A RELEASE_SHA=()
declare -A ECR_HELPER_URL=()
declare -A ECR_HELPER_SHA=()
# The node files, in the order they are written: stage before soci starts, wire once it runs.
stage_files() {
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
}
wire_files() {
put '/etc/systemd/system/containerd.service.d/20-soci-installer.conf' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0 once soci-snapshotter was running (or, in an AMI bake, installed):
# containerd's snapshotter is soci, so soci starts first (After=; Type=notify, so it is ready).
# Wants=, not Requires= as nodeadm's own 10-soci-snapshotter.conf: Requires= also stops and restarts
# containerd whenever soci is stopped or restarted (uninstall, rollback, a settings change), and fails
# containerd's start, and with it nodeadm-run and the node join, whenever soci does not start.
[Unit]
Wants=soci-snapshotter.service
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
# nodeadm merges it over user data on every boot. To return this node to overlayfs, run soci-installer's uninstall
# (daemonset-uninstall.yaml): deleting this file alone leaves the pause-import unit failing and the images soci pulled
# without layers overlayfs can use, so their pods do not start.
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  containerd:
    config: |
      [plugins."io.containerd.cri.v1.images"]
      snapshotter = "soci"
      disable_snapshot_annotations = false

      # For `ctr image pull` (containerd 2 transfer service) only: kubelet pulls through CRI and ignores it.
      [[plugins."io.containerd.transfer.v1.local".unpack_config]]
      platform = "linux"
      snapshotter = "soci"

      [proxy_plugins.soci]
      type = "snapshot"
      address = "/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock"

      [proxy_plugins.soci.exports]
      root = "/var/lib/soci-snapshotter-grpc"
      # For `ctr image pull` (containerd 2 transfer service) only: kubelet pulls through CRI and ignores it.
      enable_remote_snapshot_annotations = "true"
SOCI_INSTALLER_EOF
}
<stored once: script-parts/log.sh>
<stored once: script-parts/lib.sh>
<stored once: script-parts/install.sh>
<stored once: script-parts/bake.sh>
main "$@"
