STRICT=1

check_user_config() {
  refuse_v2_user_config
  refuse_fast_image_pull
}
start_soci() { start_soci_units; }
apply_wiring() {
  if [ "$WIRING_CHANGED" = 0 ] && grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml 2>/dev/null; then return 0; fi
  local path endpoint_before probe
  for path in "${NODEADM_WRITES[@]}"; do save "$path"; done
  endpoint_before=$(kubelet_endpoint)
  nodeadm_config
  grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml || fail "nodeadm's containerd config does not name soci"
  CONTAINERD_RESTARTED=1
  systemctl restart containerd.service || fail "containerd did not restart"
  for _ in $(seq 60); do soci_listed && break; sleep 1; done
  soci_listed || fail "containerd does not list the soci snapshotter"
  systemctl restart "$PAUSE_UNIT" || fail "the pause image did not import into soci"
  probe="soci-installer-probe-$$"
  ctr --namespace k8s.io snapshots --snapshotter soci prepare "$probe" >/dev/null || fail "a snapshot through soci failed"
  ctr --namespace k8s.io snapshots --snapshotter soci rm "$probe"
  incomplete_images | while read -r ref; do
    ctr --namespace k8s.io images rm "$ref" >/dev/null && log info "forgot $ref (its layers were discarded; kubelet pulls it again through soci)"
  done
  if [ "$(kubelet_endpoint)" != "$endpoint_before" ] && systemctl is-active --quiet kubelet.service; then
    KUBELET_RESTARTED=1
    systemctl restart kubelet.service || fail "kubelet did not restart with soci's image service endpoint (journalctl -u kubelet)"
    log info "restarted kubelet: its image service is now soci ($(kubelet_endpoint))"
  fi
}
finish() { log info "done: soci-snapshotter in $MODE mode; wiring in $WIRING_IN"; }
