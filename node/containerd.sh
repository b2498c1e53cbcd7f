#!/bin/bash
# soci-installer: what live.sh and uninstall.sh do to a running containerd and kubelet.

# kubelet's image service endpoint as its next start would read it (kubelet reads it only when it
# starts): config.json, then the drop-ins of --config-dir in lexical order, only when its flags name
# one. nodeadm writes config.json.d/40-nodeadm.conf, and --config-dir into the flags, only while a
# NodeConfig has kubelet.config, and never removes the file (amazon-eks-ami 81fec2e8
# nodeadm/internal/kubelet/config.go writeKubeletConfig): once our wiring is gone it may stay, unread.
kubelet_endpoint() {
  local dir files=(/etc/kubernetes/kubelet/config.json)
  dir=$(grep -oE -- '--config-dir=[^ "]+' /etc/eks/kubelet/environment 2>/dev/null | tail -n 1 || true)
  [ -z "$dir" ] || files+=("${dir#--config-dir=}"/*.conf)
  grep -hoE '"imageServiceEndpoint": *"[^"]*"' "${files[@]}" 2>/dev/null | tail -n 1 || true
}

# nodeadm's config phase over user data and the drop-ins, as nodeadm-run.service names its sources:
# it writes containerd's config, and kubelet's (config.json, the user part in
# config.json.d/40-nodeadm.conf, its flags in /etc/eks/kubelet/environment) [amazon-eks-ami 81fec2e8
# nodeadm/internal/kubelet/config.go, environment.go].
nodeadm_config() {
  nodeadm init --skip run --config-source imds://user-data --config-source file:///etc/eks/nodeadm.d/ ||
    fail "nodeadm could not regenerate containerd's config"
}

# The files nodeadm's config phase rewrites that the running containerd and kubelet read.
# shellcheck disable=SC2034 # live.sh and uninstall.sh read it
NODEADM_WRITES=(/etc/containerd/config.toml /etc/kubernetes/kubelet/config.json /etc/kubernetes/kubelet/config.json.d/40-nodeadm.conf /etc/eks/kubelet/environment)

# Whether the running containerd has the soci snapshotter (the proxy plugin is listed, ok, whether or
# not soci listens). (Read the whole list first: grep -q quitting early would fail ctr, and the pipe,
# under pipefail.)
soci_listed() { [[ "$(ctr plugins ls 2>/dev/null)" =~ io\.containerd\.snapshotter\.v1\ +soci\ [^$'\n']*\ ok ]]; }

# Image references whose content is incomplete (layers discarded after an unpack), one per line.
incomplete_images() {
  ctr --namespace k8s.io images check 2>/dev/null | awk 'NR > 1 && $4 == "incomplete" { print $1 }'
}
