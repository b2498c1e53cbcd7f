#!/bin/bash
# soci-installer 0.1.0: SOCI snapshotter in parallel mode on a running EKS AL2023 node (containerd 2).
# This data header, then soci-installer's node/log.sh, node/lib.sh, node/install.sh, node/containerd.sh, node/live.sh without their comment lines:
# read those files, commented, in the soci-installer package (node_modules/soci-installer/node/) or its repository.
# Profile values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC2016
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HTTP_PROXY='http://proxy.example.com:3128/p%40th'\''$(id)'
export http_proxy='http://proxy.example.com:3128/p%40th'\''$(id)'
export HTTPS_PROXY='http://proxy.example.com:3128/'\''$HOME;x'
export https_proxy='http://proxy.example.com:3128/'\''$HOME;x'
export NO_PROXY='*.internal,10.0.0.0/8'
export no_proxy='*.internal,10.0.0.0/8'
VERSION='0.1.0'
MODE='parallel'
SOURCE='release'
CONTAINERD_LINE='2'
MIN_VERSION='0.11.0'
BAD_VERSIONS='0.10.0 0.11.0'
SOCI_VERSION='0.15.0'
ARCHES='amd64'
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
PAUSE_UNIT='soci-installer-pause-import.service'
declare -A CRI_MOVED=([sandbox_image]='io.containerd.cri.v1.images as pinned_images.sandbox' [registry]='io.containerd.cri.v1.images' [image_decryption]='io.containerd.cri.v1.images' [max_concurrent_downloads]='io.containerd.cri.v1.images' [image_pull_progress_timeout]='io.containerd.cri.v1.images' [image_pull_with_sync_fs]='io.containerd.cri.v1.images' [stats_collect_period]='io.containerd.cri.v1.images' [containerd]='io.containerd.cri.v1.runtime, its snapshotter, disable_snapshot_annotations, discard_unpacked_layers and runtimes.*.snapshot in io.containerd.cri.v1.images')
CRI_MOVED_OTHERS='io.containerd.cri.v1.runtime'
declare -A RELEASE_URL=([amd64]='https://mirror.example.com/$(touch$IFS/tmp/pwned)/it'\''s;$(id)/%41&x=1/v0.15.0/soci-snapshotter-0.15.0-linux-amd64.tar.gz')
declare -A RELEASE_SHA=([amd64]='1111111111111111111111111111111111111111111111111111111111111111')
declare -A ECR_HELPER_URL=()
declare -A ECR_HELPER_SHA=()
# The node files, in the order they are written: stage before soci starts, wire once it runs.
stage_files() {
if [ -x '/usr/bin/unpigz' ]; then
put '/etc/soci-snapshotter-grpc/config.toml' 0644 <<'SOCI_INSTALLER_EOF'
# soci-snapshotter-grpc configuration, written by soci-installer 0.1.0 (mode parallel).
# Regenerate it from the profile rather than editing it here.

[pull_modes.soci_v1]
enable = false

[pull_modes.soci_v2]
enable = false

[pull_modes.parallel_pull_unpack]
enable = true
max_concurrent_downloads = -1
max_concurrent_downloads_per_image = 20
concurrent_download_chunk_size = "16mb"
max_concurrent_unpacks = -1
max_concurrent_unpacks_per_image = 12
discard_unpacked_layers = true

[pull_modes.parallel_pull_unpack.decompress_streams.gzip]
path = "/usr/bin/unpigz"
args = ["-d", "-c"]

[[resolver.host."docker.io".mirrors]]
host = "mirror.example.com"
insecure = false
SOCI_INSTALLER_EOF
else
log info '/usr/bin/unpigz is missing: /etc/soci-snapshotter-grpc/config.toml is written without it'
put '/etc/soci-snapshotter-grpc/config.toml' 0644 <<'SOCI_INSTALLER_EOF'
# soci-snapshotter-grpc configuration, written by soci-installer 0.1.0 (mode parallel).
# Regenerate it from the profile rather than editing it here.

[pull_modes.soci_v1]
enable = false

[pull_modes.soci_v2]
enable = false

[pull_modes.parallel_pull_unpack]
enable = true
max_concurrent_downloads = -1
max_concurrent_downloads_per_image = 20
concurrent_download_chunk_size = "16mb"
max_concurrent_unpacks = -1
max_concurrent_unpacks_per_image = 12
discard_unpacked_layers = true

[[resolver.host."docker.io".mirrors]]
host = "mirror.example.com"
insecure = false
SOCI_INSTALLER_EOF
fi
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
# downloaded (0.15.0, sha256-verified) instead of the AMI's binary.
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
put '/etc/systemd/system/soci-snapshotter.service.d/30-soci-installer-proxy.conf' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0: soci-snapshotter reaches registries through this proxy.
[Service]
Environment="HTTP_PROXY=http://proxy.example.com:3128/p%%40th'$(id)"
Environment="http_proxy=http://proxy.example.com:3128/p%%40th'$(id)"
Environment="HTTPS_PROXY=http://proxy.example.com:3128/'$HOME;x"
Environment="https_proxy=http://proxy.example.com:3128/'$HOME;x"
Environment="NO_PROXY=*.internal,10.0.0.0/8"
Environment="no_proxy=*.internal,10.0.0.0/8"
SOCI_INSTALLER_EOF
}
wire_files() {
put_own '/etc/containerd/certs.d/docker.io/hosts.toml' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0: containerd's mirrors for docker.io, the same as soci's [resolver].
[host."https://mirror.example.com"]
capabilities = ["pull", "resolve"]
SOCI_INSTALLER_EOF
put '/etc/systemd/system/containerd.service.d/30-soci-installer-proxy.conf' 0644 <<'SOCI_INSTALLER_EOF'
# Written by soci-installer 0.1.0: containerd reaches registries through this proxy.
[Service]
Environment="HTTP_PROXY=http://proxy.example.com:3128/p%%40th'$(id)"
Environment="http_proxy=http://proxy.example.com:3128/p%%40th'$(id)"
Environment="HTTPS_PROXY=http://proxy.example.com:3128/'$HOME;x"
Environment="https_proxy=http://proxy.example.com:3128/'$HOME;x"
Environment="NO_PROXY=*.internal,10.0.0.0/8"
Environment="no_proxy=*.internal,10.0.0.0/8"
SOCI_INSTALLER_EOF
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
<stored once: script-parts/containerd.sh>
<stored once: script-parts/live.sh>
main "$@"
