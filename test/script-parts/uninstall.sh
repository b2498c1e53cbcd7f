DONE=/run/soci-installer/uninstalled
KUBELET_RECORD=$STATE/uninstall-kubelet-endpoint
SWITCH_RECORD=$STATE/uninstall-containerd-switch

report() {
  log err "uninstall $*"
  if [ -d "$STATE" ]; then echo "uninstall $*" >"$STATE/last-failure"; fi
}
fail() {
  report "failed: $*"
  exit 1
}
record() {
  printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

WORK=$(mktemp -d)
STOPPED=0 SWITCH=none RELOAD=0 TMP=
containerd_was_active=0
restore_containerd() {
  if [ "$containerd_was_active" = 1 ] && ! systemctl is-active --quiet containerd.service; then
    systemctl start containerd.service || log err "containerd did not start again"
  fi
}
on_exit() {
  local path
  set +e
  [ -z "$TMP" ] || rm -f "$TMP"
  if [ "$SWITCH" = config ]; then
    for path in "${NODEADM_WRITES[@]}"; do
      if [ -e "$WORK/before$path" ]; then cp -a "$WORK/before$path" "$path.tmp" && mv -f "$path.tmp" "$path"; else rm -f "$path"; fi
    done
  fi
  [ "$RELOAD" = 0 ] || systemctl daemon-reload
  restore_containerd
  if [ "$STOPPED" = 1 ]; then
    report "stopped by SIGTERM before it finished (a time limit, a shutdown, or its unit was stopped): nothing is rolled back, containerd is $(systemctl is-active containerd.service) on the config it runs with; run the uninstall again to complete it (the uninstall DaemonSet's pod retries it)"
  fi
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'STOPPED=1; exit 1' TERM
rm -f "$DONE"

if [ ! -d "$STATE/original" ]; then
  log info "nothing to undo: soci-installer left no state on this node"
  rm -rf "$STATE"
  mkdir -p "${DONE%/*}" && : >"$DONE"
  exit 0
fi
if grep -qF 'wiring in user data' "$STATE/installed" 2>/dev/null; then
  fail "soci's wiring is in this node's user data (soci.wiring: user-data): nodeadm writes it into containerd's config at every boot, so soci cannot be taken off this node; nothing was changed; replace the node (launch it with user data without soci)"
fi
if grep -q ' fuse\.rawBridge ' /proc/mounts; then
  fail "containers lazily loaded by soci run on this node: drain it (kubectl drain) and run again"
fi
on_soci=()
for id in $(ctr --namespace k8s.io containers ls -q 2>/dev/null || true); do
  info=$(ctr --namespace k8s.io containers info "$id" 2>/dev/null) || continue
  [[ "$info" =~ \"Snapshotter\":\ *\"soci\" ]] || continue
  [[ "$info" =~ \"io\.kubernetes\.pod\.namespace\":\ *\"$NAMESPACE\" ]] || on_soci+=("$id")
done
if [ ${#on_soci[@]} -gt 0 ]; then
  fail "${#on_soci[@]} container(s) use the soci snapshotter (${on_soci[*]:0:5}): drain the node (kubectl drain, and delete its DaemonSet pods) and run again, or replace the node"
fi

systemctl is-active --quiet containerd.service && containerd_was_active=1
[ -e "$KUBELET_RECORD" ] || record "$KUBELET_RECORD" "$(kubelet_endpoint)"
systemctl disable "$PAUSE_UNIT" >/dev/null 2>&1 || true
while read -r unit; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done < <(cat "$STATE/enabled-units" 2>/dev/null || true)

RELOAD=1
cd "$STATE/original" || exit 1
while IFS= read -r -d '' kept; do
  path=/${kept#./}
  case "$path" in
    *.absent) rm -f "${path%.absent}" && log info "removed ${path%.absent}" ;;
    *) TMP=$path.soci-installer.tmp && cp -a "$kept" "$TMP" && mv -f "$TMP" "$path" && TMP= && log info "restored $path" ;;
  esac
done < <(find . \( -type f -o -type l \) -print0)
cd /
systemctl daemon-reload
RELOAD=0

wired() { soci_listed || grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml 2>/dev/null; }
if [ "$containerd_was_active" = 1 ] && { [ -e "$SWITCH_RECORD" ] || wired; }; then
  record "$SWITCH_RECORD" "containerd moves off soci"
  if wired; then
    for path in "${NODEADM_WRITES[@]}"; do
      if [ -e "$path" ]; then mkdir -p "$WORK/before${path%/*}" && cp -a "$path" "$WORK/before$path"; fi
    done
    SWITCH=config
    nodeadm_config
    ! grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml || fail "containerd's config still names soci"
    SWITCH=restart
    systemctl restart containerd.service || fail "containerd did not restart"
  fi
  for _ in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 1; done
  incomplete_images | while read -r ref; do
    ctr --namespace k8s.io images rm "$ref" >/dev/null && log info "forgot $ref (pulled through soci; kubelet pulls it again)"
  done
  rm -f "$SWITCH_RECORD"
fi
if [ "$(kubelet_endpoint)" != "$(cat "$KUBELET_RECORD")" ] && systemctl is-active --quiet kubelet.service; then
  restore_containerd
  systemctl restart kubelet.service || fail "kubelet did not restart without soci's image service endpoint"
  record "$KUBELET_RECORD" "$(kubelet_endpoint)"
  log info "restarted kubelet: its image service is containerd again"
fi
systemctl stop soci-snapshotter.service soci-snapshotter.socket >/dev/null 2>&1 || true
if systemctl is-enabled --quiet soci-snapshotter.socket 2>/dev/null; then systemctl start soci-snapshotter.socket; fi
rm -rf "$STATE"
mkdir -p "${DONE%/*}" && : >"$DONE"
log info "uninstalled: the node is as it was before soci-installer"
