#!/bin/bash
# soci-installer 0.1.0: SOCI snapshotter in lazy mode on an EKS AL2023 node at boot (containerd 2).
# This data header, then soci-installer's node/log.sh, node/lib.sh, node/install.sh, node/boot.sh without their comment lines:
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
AUTH='ecr-credential-helper'
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
declare -A CRI_MOVED=([sandbox_image]='io.containerd.cri.v1.images as pinned_images.sandbox' [registry]='io.containerd.cri.v1.images' [image_decryption]='io.containerd.cri.v1.images' [max_concurrent_downloads]='io.containerd.cri.v1.images' [image_pull_progress_timeout]='io.containerd.cri.v1.images' [image_pull_with_sync_fs]='io.containerd.cri.v1.images' [stats_collect_period]='io.containerd.cri.v1.images' [containerd]='io.containerd.cri.v1.runtime, its snapshotter, disable_snapshot_annotations, discard_unpacked_layers and runtimes.*.snapshot in io.containerd.cri.v1.images')
CRI_MOVED_OTHERS='io.containerd.cri.v1.runtime'
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
put '/usr/local/bin/docker-credential-soci-ecr' 0755 <<'SOCI_INSTALLER_EOF'
#!/bin/bash
# docker-credential-soci-ecr, installed by soci-installer: root's Docker config names it
# ("credsStore": "soci-ecr"), so soci-snapshotter asks it for registry credentials (soci v0.15.0
# service/keychain/dockerconfig/dockerconfig.go: docker's config GetAuthConfig(host)).
# It speaks docker's credential-helper protocol (docker/docker-credential-helpers: `get` reads a
# server URL on stdin, prints {"ServerURL","Username","Secret"}) and answers ECR registries with the
# EKS AMI's own kubelet credential provider, so ECR tokens rotate and nothing is downloaded at boot.
# The provider speaks kubelet's protocol (k8s.io/kubelet/pkg/apis/credentialprovider/v1/types.go:
# a CredentialProviderRequest {apiVersion, kind, image} on stdin, a CredentialProviderResponse with an
# auth map of {username, password} on stdout). Registries the provider is not configured for get
# docker's "credentials not found" answer, so soci pulls them anonymously.
set -euo pipefail -f # -f: the patterns below are words, not file globs
PROVIDER=/etc/eks/image-credential-provider/ecr-credential-provider
# Written by nodeadm with the ECR hosts as matchImages
# (amazon-eks-ami nodeadm/internal/kubelet/image-credential-provider.go).
PROVIDER_CONFIG=/etc/eks/image-credential-provider/config.json
# The ECR patterns nodeadm writes for every kubelet version (it adds ecr-public.aws.com from v1.32, which
# older providers do not serve; amazon-eks-ami at 81fec2e8), for a node whose provider config is not there yet.
DEFAULT_MATCH='*.dkr.ecr.*.amazonaws.com *.dkr-ecr.*.on.aws *.dkr.ecr.*.amazonaws.com.cn *.dkr-ecr.*.on.amazonwebservices.com.cn *.dkr.ecr-fips.*.amazonaws.com *.dkr-ecr-fips.*.on.aws *.dkr.ecr.*.c2s.ic.gov *.dkr.ecr.*.sc2s.sgov.gov *.dkr.ecr.*.cloud.adc-e.uk *.dkr.ecr.*.csp.hci.ic.gov *.dkr.ecr.*.amazonaws.eu public.ecr.aws'

not_found() {
  # The exact text docker's client recognises (docker-credential-helpers credentials/error.go).
  echo "credentials not found in native keychain"
  exit 1
}

# kubelet's matchImages rule for a host: as many dot-separated parts, each a glob ("*" is one part).
matches() {
  local -a parts pattern
  local i
  IFS=. read -ra parts <<<"$1"
  IFS=. read -ra pattern <<<"$2"
  [ "${#parts[@]}" = "${#pattern[@]}" ] || return 1
  for i in "${!pattern[@]}"; do
    # shellcheck disable=SC2053 # the right side is a glob on purpose
    [[ ${parts[$i]} == ${pattern[$i]} ]] || return 1
  done
}

case "${1:-}" in
  get) ;;
  store | erase) exit 0 ;; # nothing is stored: tokens come from the provider each time
  list) echo '{}' && exit 0 ;;
  *) echo "usage: $0 get|store|erase|list" >&2 && exit 2 ;;
esac

read -r url || true
host=${url#*://}
host=${host%%/*}
[ -n "$host" ] || not_found

patterns=$(jq -r '.providers[]? | select(.name == "ecr-credential-provider") | .matchImages[]?' "$PROVIDER_CONFIG" 2>/dev/null || true)
[ -n "$patterns" ] || patterns=$DEFAULT_MATCH
ecr=0
for p in $patterns; do
  if matches "$host" "$p"; then ecr=1 && break; fi
done
[ "$ecr" = 1 ] || not_found

request=$(jq -cn --arg image "$host" '{apiVersion: "credentialprovider.kubelet.k8s.io/v1", kind: "CredentialProviderRequest", image: $image}')
response=$("$PROVIDER" <<<"$request") || {
  echo "ecr-credential-provider failed for $host" >&2
  exit 1
}
# The auth map is keyed by image patterns; the provider answers with the registry itself.
jq -ce --arg url "$url" --arg host "$host" '
  .auth // {} | (.[$host] // (to_entries | first | .value // empty))
  | select(.username != null and .password != null)
  | {ServerURL: $url, Username: .username, Secret: .password}' <<<"$response" || not_found
SOCI_INSTALLER_EOF
put_own '/root/.docker/config.json' 0600 <<'SOCI_INSTALLER_EOF'
{
  "credsStore": "soci-ecr"
}
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
<stored once: script-parts/boot.sh>
main "$@"
