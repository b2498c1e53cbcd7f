#!/bin/bash
# soci-installer uninstall: puts this node back as it was before soci-installer touched it.
# Every file install.sh changed was kept, once, under /var/lib/soci-installer/original/ (or marked
# .absent when it did not exist): they are copied back byte for byte or removed, containerd is
# configured by nodeadm again and restarted once (containers keep running), the units install.sh
# enabled are disabled (not the AMI's own), images that exist only in soci are forgotten (kubelet
# pulls them again), and /var/lib/soci-installer is removed.
# Refused while lazily loaded containers run (they need soci). A second run does nothing.
# shellcheck source=log.sh
. "${BASH_SOURCE[0]%/*}/log.sh"
# shellcheck source=containerd.sh
. "${BASH_SOURCE[0]%/*}/containerd.sh"
DONE=/run/soci-installer/uninstalled

# Nothing here is rolled back: a failure says what to do, and a second run carries on.
fail() {
  log err "uninstall failed: $*"
  exit 1
}

if [ ! -d "$STATE/original" ]; then
  log info "nothing to undo: soci-installer left no state on this node"
  rm -rf "$STATE"
  mkdir -p "${DONE%/*}" && : >"$DONE"
  exit 0
fi
if grep -q ' fuse\.rawBridge ' /proc/mounts; then
  fail "containers lazily loaded by soci run on this node: drain it (kubectl drain) and run again"
fi
# Containers on soci snapshots (parallel pull too) keep them: once soci is gone they cannot be removed.
# (Filters cannot select by snapshotter: containerd core/metadata/adaptors.go at v2.2.4.) Not ours:
# the pods of this DaemonSet's namespace go with it.
on_soci=()
for id in $(ctr --namespace k8s.io containers ls -q 2>/dev/null || true); do
  info=$(ctr --namespace k8s.io containers info "$id" 2>/dev/null) || continue
  [[ "$info" =~ \"Snapshotter\":\ *\"soci\" ]] || continue
  [[ "$info" =~ \"io\.kubernetes\.pod\.namespace\":\ *\"$NAMESPACE\" ]] || on_soci+=("$id")
done
if [ ${#on_soci[@]} -gt 0 ]; then
  fail "${#on_soci[@]} container(s) use the soci snapshotter (${on_soci[*]:0:5}): drain the node (kubectl drain, and delete its DaemonSet pods) and run again, or replace the node"
fi

wired=0
grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml 2>/dev/null && wired=1
# containerd's state now: whatever happens below, it ends the same (running if it ran).
containerd_was_active=0
systemctl is-active --quiet containerd.service && containerd_was_active=1
restore_containerd() {
  if [ "$containerd_was_active" = 1 ] && ! systemctl is-active --quiet containerd.service; then
    systemctl start containerd.service || log err "containerd did not start again"
  fi
}
trap restore_containerd EXIT
# kubelet reads imageServiceEndpoint only when it starts: with soci's endpoint (auth: cri-keychain) it
# would keep pulling through a socket that is going away. Restart it below only if ours changed it.
endpoint_before=$(kubelet_endpoint)
# The units install.sh enabled, never the AMI's own, disabled while their files are still there: a
# release install's soci socket on an AMI without soci units would else stay a dangling link. The
# pause unit by name too: installs before enabled-units existed did not list it.
systemctl disable "$PAUSE_UNIT" >/dev/null 2>&1 || true
while read -r unit; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done < <(cat "$STATE/enabled-units" 2>/dev/null || true)

cd "$STATE/original" || exit 1
while IFS= read -r -d '' kept; do
  path=/${kept#./}
  case "$path" in
    *.absent) rm -f "${path%.absent}" && log info "removed ${path%.absent}" ;;
    *) cp -a "$kept" "$path" && log info "restored $path" ;;
  esac
done < <(find . \( -type f -o -type l \) -print0)
cd /
# Our containerd drop-in is gone now; systemd must know before soci stops, or a Requires= on soci
# (an older drop-in of ours) stops containerd with it.
systemctl daemon-reload

if [ "$wired" = 1 ] && [ "$containerd_was_active" = 1 ]; then
  nodeadm_config
  ! grep -q soci-snapshotter-grpc.sock /etc/containerd/config.toml || fail "containerd's config still names soci"
  systemctl restart containerd.service || fail "containerd did not restart"
  for _ in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 1; done
  # Images soci pulled have no layers for overlayfs: forget them, kubelet pulls them again.
  incomplete_images | while read -r ref; do
    ctr --namespace k8s.io images rm "$ref" >/dev/null && log info "forgot $ref (pulled through soci; kubelet pulls it again)"
  done
fi
if [ "$(kubelet_endpoint)" != "$endpoint_before" ] && systemctl is-active --quiet kubelet.service; then
  restore_containerd
  systemctl restart kubelet.service || fail "kubelet did not restart without soci's image service endpoint"
  log info "restarted kubelet: its image service is containerd again"
fi
# Back to the AMI's soci (or none), once containerd no longer uses it (until then containerd's calls
# would start it again through its socket): stop ours; the socket is enabled now only where the AMI
# enabled it, and then it listens again.
systemctl stop soci-snapshotter.service soci-snapshotter.socket >/dev/null 2>&1 || true
if systemctl is-enabled --quiet soci-snapshotter.socket 2>/dev/null; then systemctl start soci-snapshotter.socket; fi
rm -rf "$STATE"
mkdir -p "${DONE%/*}" && : >"$DONE"
log info "uninstalled: the node is as it was before soci-installer"
