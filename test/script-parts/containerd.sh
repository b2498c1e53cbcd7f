
kubelet_endpoint() {
  local dir files=(/etc/kubernetes/kubelet/config.json)
  dir=$(grep -oE -- '--config-dir=[^ "]+' /etc/eks/kubelet/environment 2>/dev/null | tail -n 1 || true)
  [ -z "$dir" ] || files+=("${dir#--config-dir=}"/*.conf)
  grep -hoE '"imageServiceEndpoint": *"[^"]*"' "${files[@]}" 2>/dev/null | tail -n 1 || true
}

nodeadm_config() {
  nodeadm init --skip run --config-source imds://user-data --config-source file:///etc/eks/nodeadm.d/ ||
    fail "nodeadm could not regenerate containerd's config"
}

# shellcheck disable=SC2034 # live.sh and uninstall.sh read it
NODEADM_WRITES=(/etc/containerd/config.toml /etc/kubernetes/kubelet/config.json /etc/kubernetes/kubelet/config.json.d/40-nodeadm.conf /etc/eks/kubelet/environment)

soci_listed() { [[ "$(ctr plugins ls 2>/dev/null)" =~ io\.containerd\.snapshotter\.v1\ +soci\ [^$'\n']*\ ok ]]; }

incomplete_images() {
  ctr --namespace k8s.io images check 2>/dev/null | awk 'NR > 1 && $4 == "incomplete" { print $1 }'
}
