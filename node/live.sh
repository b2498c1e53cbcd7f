#!/bin/bash
# soci-installer live: install.sh on a running node, run by the DaemonSet's init container as a
# transient systemd unit on the host. On top of the boot path it regenerates containerd's config
# with nodeadm, restarts containerd once (containers keep running), imports the pause image into
# soci, checks a snapshot, and forgets images whose layers are gone (kubelet pulls them again,
# through soci). Always strict: a failure rolls back and exits 1, so the pod says so.
# shellcheck source=install.sh
. "${BASH_SOURCE[0]%/*}/install.sh"
# shellcheck source=containerd.sh
. "${BASH_SOURCE[0]%/*}/containerd.sh"
STRICT=1

check_user_config() {
  refuse_v2_user_config
  refuse_fast_image_pull
}
start_soci() { start_soci_units; }
# Only a changed wiring file, or a containerd config without soci, is worth a containerd restart.
apply_wiring() {
  if [ "$WIRING_CHANGED" = 0 ] && grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml 2>/dev/null; then return 0; fi
  local path endpoint_before probe
  # containerd takes the wiring now: nodeadm writes its config, as at boot.
  for path in "${NODEADM_WRITES[@]}"; do save "$path"; done
  endpoint_before=$(kubelet_endpoint)
  nodeadm_config
  grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml || fail "nodeadm's containerd config does not name soci"
  CONTAINERD_RESTARTED=1
  systemctl restart containerd.service || fail "containerd did not restart"
  # containerd answers before all its plugins are up: wait (a minute at most) for soci among them.
  for _ in $(seq 60); do soci_listed && break; sleep 1; done
  soci_listed || fail "containerd does not list the soci snapshotter"
  systemctl restart "$PAUSE_UNIT" || fail "the pause image did not import into soci"
  probe="soci-installer-probe-$$"
  ctr --namespace k8s.io snapshots --snapshotter soci prepare "$probe" >/dev/null || fail "a snapshot through soci failed"
  ctr --namespace k8s.io snapshots --snapshotter soci rm "$probe"
  # Layers unpacked for overlayfs were discarded: such images cannot be unpacked for soci.
  # Forget them; running containers keep their snapshots, kubelet pulls the image again.
  incomplete_images | while read -r ref; do
    ctr --namespace k8s.io images rm "$ref" >/dev/null && log info "forgot $ref (its layers were discarded; kubelet pulls it again through soci)"
  done
  # kubelet reads imageServiceEndpoint only when it starts: without a restart the CRI keychain never
  # sees a pull's credentials, and parallel pulls of private images fail until the next reboot.
  # Running pods keep running. Only when nodeadm changed the endpoint, so a second run restarts nothing.
  if [ "$(kubelet_endpoint)" != "$endpoint_before" ] && systemctl is-active --quiet kubelet.service; then
    KUBELET_RESTARTED=1
    systemctl restart kubelet.service || fail "kubelet did not restart with soci's image service endpoint (journalctl -u kubelet)"
    log info "restarted kubelet: its image service is now soci ($(kubelet_endpoint))"
  fi
}
finish() { log info "done: soci-snapshotter in $MODE mode; wiring in $WIRING_IN"; }
