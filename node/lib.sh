#!/bin/bash
# soci-installer: the functions every install path shares (boot, live, bake). Assembled, with the
# generated data header before it, into each script (src/artifacts/node-script.ts); holds no state
# of its own: main in install.sh sets it up.
# shellcheck source=log.sh
. "${BASH_SOURCE[0]%/*}/log.sh"
fail() {
  log err "$*"
  REASON=$*
  exit 1
}
booted() { [ -d /run/systemd/system ]; }
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }
same() { [ -f "$2" ] && [ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ]; }

# Remember a file's state before the first change of this run (and, once ever, for uninstall: the
# records this run adds are in KEPT, so a rollback takes them back).
save() {
  local path=$1
  CHANGED+=("$path")
  mkdir -p "$WORK/orig$(dirname "$path")"
  [ ! -e "$path" ] || cp -a "$path" "$WORK/orig$path"
  case "$path" in "$STATE"/*) return 0 ;; esac
  local keep="$STATE/original$path"
  if [ ! -e "$keep" ] && [ ! -e "$keep.absent" ]; then
    make_dirs "$(dirname "$keep")"
    if [ -e "$path" ]; then cp -a "$path" "$keep"; else keep=$keep.absent && : >"$keep"; fi
    KEPT+=("$keep")
  fi
}
mark() {
  # shellcheck disable=SC2034 # live.sh reads it
  [ "$PHASE" = stage ] || WIRING_CHANGED=1
  case "$1" in
    /etc/systemd/* | /usr/local/lib/systemd/*) UNITS_CHANGED=1 ;;
  esac
  # shellcheck disable=SC2034 # install.sh reads it
  case "$1" in
    /etc/soci-snapshotter-grpc/* | /etc/systemd/system/soci-snapshotter.* | "$REL_BIN" | /root/.docker/*) SOCI_CHANGED=1 ;;
  esac
}
# Text files that differ only in comment lines (e.g. a newer generator's stamp): no setting changed.
only_comments_differ() {
  [ "$3" != 0755 ] && [ -f "$2" ] && [ "$(grep -v '^#' "$1" | sha256sum)" = "$(grep -v '^#' "$2" | sha256sum)" ]
}
# make_dirs DIR: mkdir -p, remembering the first directory it had to create (in MADE), so that a
# rollback removes the directories this run made (/root/.docker, /etc/soci-snapshotter-grpc) too.
make_dirs() {
  local dir=$1 top=
  while [ ! -d "$dir" ]; do top=$dir && dir=$(dirname "$dir"); done
  [ -n "$top" ] || return 0
  mkdir -p "$1"
  MADE+=("$top")
}
# install_file SRC PATH MODE: put SRC at PATH atomically, unless it is already there.
install_file() {
  local src=$1 path=$2 mode=$3
  if same "$src" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then return 0; fi
  save "$path"
  only_comments_differ "$src" "$path" "$mode" || mark "$path"
  make_dirs "$(dirname "$path")"
  cp "$src" "$path.soci-installer.tmp"
  chmod "$mode" "$path.soci-installer.tmp"
  mv -f "$path.soci-installer.tmp" "$path"
  log info "wrote $path"
}
# put PATH MODE <content
put() {
  cat >"$WORK/new"
  install_file "$WORK/new" "$1" "$2"
}
# put_own PATH MODE <content: as put, for a file the node's owner may have written: only over a
# file this installer created, never over different content of someone else.
put_own() {
  cat >"$WORK/own"
  if [ -e "$1" ] && ! same "$WORK/own" "$1" && [ ! -e "$STATE/original$1.absent" ]; then
    fail "$1 exists with other content; soci-installer writes it only where it is absent or identical: merge these lines into it yourself, or remove it: $(tr -s '[:space:]' ' ' <"$WORK/own")"
  fi
  install_file "$WORK/own" "$1" "$2"
}
# unput PATH: remove a file this installer may have written before.
unput() {
  [ -e "$1" ] || return 0
  save "$1"
  mark "$1"
  rm -f "$1"
  log info "removed $1"
}
enable_unit() {
  if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
    # Listed first: an enable that fails half way (one WantedBy= link made) is undone by the rollback too.
    ENABLED+=("$1")
    systemctl enable "$1" >/dev/null 2>&1 || fail "cannot enable $1"
  fi
}
reload() {
  if [ "$UNITS_CHANGED" = 1 ] && booted; then systemctl daemon-reload; fi
  UNITS_CHANGED=0
}

rollback() {
  local i path
  set +e
  log err "rolling back: $REASON"
  for unit in "${ENABLED[@]}"; do systemctl disable "$unit" >/dev/null 2>&1; done
  # Files first, and systemd told, before soci stops: while containerd's drop-in (ours, or a Requires=
  # of an older one) is loaded, stopping soci could stop containerd too.
  for ((i = ${#CHANGED[@]} - 1; i >= 0; i--)); do
    path=${CHANGED[$i]}
    if [ -e "$WORK/orig$path" ]; then mv -f "$WORK/orig$path" "$path"; else rm -f "$path"; fi
  done
  # This run's uninstall records go too: a stale .absent would let put_own overwrite a file the owner
  # writes later, and uninstall restore what this run never kept. An earlier install's records stay.
  rm -f "${KEPT[@]}"
  # The directories it made (for files and for records), where they are empty again (files someone
  # else put there keep theirs).
  for ((i = ${#MADE[@]} - 1; i >= 0; i--)); do
    [ ! -d "${MADE[$i]}" ] || find "${MADE[$i]}" -depth -type d -empty -delete
  done
  UNITS_CHANGED=1
  reload
  if [ "$STARTED" = 1 ] && booted; then
    systemctl stop soci-snapshotter.service >/dev/null 2>&1
    [ "$SOCKET_WAS_ACTIVE" = 1 ] || systemctl stop soci-snapshotter.socket >/dev/null 2>&1
  fi
  # The one restart a failed live conversion may cost: containerd back on its old config.
  if [ "$CONTAINERD_RESTARTED" = 1 ]; then systemctl restart containerd.service; fi
  # containerd as found: if it ran when we began, it runs now.
  if [ "$CONTAINERD_WAS_ACTIVE" = 1 ] && ! systemctl is-active --quiet containerd.service; then
    systemctl start containerd.service
  fi
  # kubelet, if live mode restarted it, back on its old image service endpoint.
  if [ "$KUBELET_RESTARTED" = 1 ]; then systemctl restart kubelet.service; fi
  mkdir -p "$STATE" && echo "$REASON" >"$STATE/last-failure"
  log err "soci-snapshotter NOT installed; $ROLLBACK_TEXT"
}
on_exit() {
  local rc=$?
  if [ "$COMMITTED" != 1 ] && [ "$rc" != 0 ]; then
    rollback
    rm -rf "$WORK"
    [ "$STRICT" = 1 ] && exit 1
    exit 0
  fi
  rm -rf "$WORK"
}

supported() { [ -n "$1" ] && ver_ge "$1" "$MIN_VERSION" && case " $BAD_VERSIONS " in *" $1 "*) false ;; *) true ;; esac; }
version_of() { "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true; }
# fetch URL SHA256 DEST: download and verify against the sha256 pinned at generation time.
fetch() {
  log info "downloading $1"
  curl -fsSL --retry 3 --connect-timeout 10 -o "$3" "$1" || fail "download failed: $1"
  echo "$2  $3" | sha256sum --check --status || fail "sha256 mismatch for $1 (expected $2); nothing installed"
}
