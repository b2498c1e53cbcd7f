STRICT=1

check_user_config() { :; }
apply_wiring() { :; }

start_soci() {
  local bin=$AMI_BIN pid ready=0
  [ "$USE_RELEASE" = 0 ] || bin=$REL_BIN
  mkdir "$WORK/soci-check"
  "$bin" --config "$SOCI_CONFIG" --root "$WORK/soci-check/root" --address "$WORK/soci-check/sock" >"$WORK/soci-check/log" 2>&1 &
  pid=$!
  for _ in $(seq $((START_TIMEOUT * 10))); do
    if grep -q 'successfully started' "$WORK/soci-check/log"; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$ready" = 1 ] || fail "bake: $bin does not start with $SOCI_CONFIG: $(tail -n 1 "$WORK/soci-check/log")"
  log info "bake: soci starts with its config (checked on a scratch root); enabled, not started (instances of the image start it at boot)"
}

finish() {
  local path auditd_was_active=0
  if [ -s /etc/machine-id ]; then
    : >/etc/machine-id
    echo "soci-installer: bake: emptied /etc/machine-id" >&2
  fi
  if command -v dnf >/dev/null; then dnf clean all >/dev/null 2>&1 || true; fi
  for path in /var/cache/dnf /etc/hostname /etc/resolv.conf \
    /var/lib/cloud/data /var/lib/cloud/instance /var/lib/cloud/instances /var/lib/cloud/sem \
    /etc/ssh/ssh_host_* /root/.ssh/authorized_keys /home/ec2-user/.ssh/authorized_keys \
    /var/lib/dhclient/* /var/lib/dhcp/dhclient.* /var/lib/yum/history /var/lib/dnf/history* \
    /var/log/cloud-init.log /var/log/cloud-init-output.log /var/log/messages /var/log/secure \
    /var/log/wtmp /var/log/btmp /var/log/lastlog /var/log/audit/audit.log.* /var/log/journal/*; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      rm -rf "$path"
      echo "soci-installer: bake: removed $path" >&2
    fi
  done
  if booted && systemctl is-active --quiet auditd.service; then
    auditd_was_active=1
    service auditd stop >/dev/null 2>&1 || systemctl stop auditd.service
  fi
  if [ -s /var/log/audit/audit.log ]; then
    truncate -s 0 /var/log/audit/audit.log
    echo "soci-installer: bake: emptied /var/log/audit/audit.log" >&2
  fi
  if [ "$auditd_was_active" = 1 ]; then service auditd start >/dev/null 2>&1 || systemctl start auditd.service; fi
  echo "soci-installer: done: image baked with soci-snapshotter in $MODE mode; wiring in $WIRING_IN" >&2
}
