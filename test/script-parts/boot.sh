STRICT=0

check_user_config() {
  refuse_v2_user_config
  refuse_fast_image_pull
}
start_soci() { start_soci_units; }
apply_wiring() { :; }
finish() {
  if booted && systemctl is-active --quiet containerd.service && [ ${#CHANGED[@]} -gt 0 ]; then
    log info "containerd is already running: the wiring applies when nodeadm next configures it (at the next boot)"
  fi
  log info "done: soci-snapshotter in $MODE mode; wiring in $WIRING_IN"
}
