#!/bin/bash
# soci-installer uninstall: puts this node back as it was before soci-installer touched it.
# Every file install.sh changed was kept, once, under /var/lib/soci-installer/original/ (or marked
# .absent when it did not exist): they are copied back byte for byte or removed, containerd is
# configured by nodeadm again and restarted once (containers keep running), the units install.sh
# enabled are disabled (not the AMI's own), images that exist only in soci are forgotten (kubelet
# pulls them again), and /var/lib/soci-installer is removed.
# Refused while lazily loaded containers run (they need soci). A second run does nothing.
# Stopped (SIGTERM: the DaemonSet's RuntimeMaxSec, a shutdown, systemctl stop), it leaves on disk what
# runs, containerd as found, and a record in $STATE of what is left; it says so, and the next run
# (the uninstall pod retries) completes it.
# shellcheck source=log.sh
. "${BASH_SOURCE[0]%/*}/log.sh"
# shellcheck source=containerd.sh
. "${BASH_SOURCE[0]%/*}/containerd.sh"
DONE=/run/soci-installer/uninstalled
# What a stopped run leaves to the next one: kubelet's image service endpoint before the uninstall
# (kubelet is restarted while its files say otherwise), and that containerd is moving off soci (from
# before nodeadm rewrites its config until soci's images are forgotten).
KUBELET_RECORD=$STATE/uninstall-kubelet-endpoint
SWITCH_RECORD=$STATE/uninstall-containerd-switch

# Nothing here is rolled back (only files a stopped nodeadm was rewriting are put back, in on_exit): a
# failure says what to do, and a second run carries on.
report() {
  log err "uninstall $*"
  # The uninstall pod's termination message (a failed install may have left one of its own there).
  if [ -d "$STATE" ]; then echo "uninstall $*" >"$STATE/last-failure"; fi
}
fail() {
  report "failed: $*"
  exit 1
}
# record FILE TEXT: written whole or not at all.
record() {
  printf '%s\n' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

WORK=$(mktemp -d)
STOPPED=0 SWITCH=none RELOAD=0 TMP=
containerd_was_active=0
# Whatever stops this run, containerd ends as it was found (running if it ran), on the config it runs
# with: nodeadm rewrites its files in place (os.WriteFile in amazon-eks-ami 81fec2e8
# nodeadm/internal/util/files.go), so files it was writing when stopped, before containerd restarted
# onto them, are put back.
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
  # Files were restored: systemd sees them (a dropped Requires= on soci no longer binds containerd).
  [ "$RELOAD" = 0 ] || systemctl daemon-reload
  restore_containerd
  if [ "$STOPPED" = 1 ]; then
    report "stopped by SIGTERM before it finished (a time limit, a shutdown, or its unit was stopped): nothing is rolled back, containerd is $(systemctl is-active containerd.service) on the config it runs with; run the uninstall again to complete it (the uninstall DaemonSet's pod retries it)"
  fi
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'STOPPED=1; exit 1' TERM
# Ready only once this run completes: not on an earlier uninstall's marker (install and uninstall
# again, same boot).
rm -f "$DONE"

if [ ! -d "$STATE/original" ]; then
  log info "nothing to undo: soci-installer left no state on this node"
  rm -rf "$STATE"
  mkdir -p "${DONE%/*}" && : >"$DONE"
  exit 0
fi
# soci.wiring: user-data puts soci's proxy plugin in the user data's NodeConfig: nodeadm writes it into
# containerd's config at every boot, whatever is undone here. (install.sh records where the wiring is.)
if grep -qF 'wiring in user data' "$STATE/installed" 2>/dev/null; then
  fail "soci's wiring is in this node's user data (soci.wiring: user-data): nodeadm writes it into containerd's config at every boot, so soci cannot be taken off this node; nothing was changed; replace the node (launch it with user data without soci)"
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

# containerd's state now: whatever happens below, it ends the same (running if it ran).
systemctl is-active --quiet containerd.service && containerd_was_active=1
# kubelet reads imageServiceEndpoint only when it starts: with soci's endpoint (auth: cri-keychain) it
# would keep pulling through a socket that is going away. Restart it below only if ours changed it
# (since the first run: a stopped one may have changed the files already).
[ -e "$KUBELET_RECORD" ] || record "$KUBELET_RECORD" "$(kubelet_endpoint)"
# The units install.sh enabled, never the AMI's own, disabled while their files are still there: a
# release install's soci socket on an AMI without soci units would else stay a dangling link. The
# pause unit by name too: installs before enabled-units existed did not list it.
systemctl disable "$PAUSE_UNIT" >/dev/null 2>&1 || true
while read -r unit; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done < <(cat "$STATE/enabled-units" 2>/dev/null || true)

# Each file whole or not at all (a copy cut short by a stop would leave half a unit or config).
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
# Our containerd drop-in is gone now; systemd must know before soci stops, or a Requires= on soci
# (an older drop-in of ours) stops containerd with it.
systemctl daemon-reload
RELOAD=0

# containerd off soci: nodeadm writes its config, containerd restarts onto it, and images soci pulled
# are forgotten. Decided by what runs as well as by the file: a stopped run may have left the config
# rewritten and containerd not yet restarted, or restarted with soci's images not yet forgotten.
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
  # Images soci pulled have no layers for overlayfs: forget them, kubelet pulls them again.
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
# Back to the AMI's soci (or none), once containerd no longer uses it (until then containerd's calls
# would start it again through its socket): stop ours; the socket is enabled now only where the AMI
# enabled it, and then it listens again.
systemctl stop soci-snapshotter.service soci-snapshotter.socket >/dev/null 2>&1 || true
if systemctl is-enabled --quiet soci-snapshotter.socket 2>/dev/null; then systemctl start soci-snapshotter.socket; fi
rm -rf "$STATE"
mkdir -p "${DONE%/*}" && : >"$DONE"
log info "uninstalled: the node is as it was before soci-installer"
