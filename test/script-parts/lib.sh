fail() {
  log err "$*"
  REASON=$*
  exit 1
}
booted() { [ -d /run/systemd/system ]; }
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }
same() { [ -f "$2" ] && [ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ]; }

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
only_comments_differ() {
  [ "$3" != 0755 ] && [ -f "$2" ] && [ "$(grep -v '^#' "$1" | sha256sum)" = "$(grep -v '^#' "$2" | sha256sum)" ]
}
make_dirs() {
  local dir=$1 top=
  while [ ! -d "$dir" ]; do top=$dir && dir=$(dirname "$dir"); done
  [ -n "$top" ] || return 0
  mkdir -p "$1"
  MADE+=("$top")
}
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
put() {
  cat >"$WORK/new"
  install_file "$WORK/new" "$1" "$2"
}
put_own() {
  cat >"$WORK/own"
  if [ -e "$1" ] && ! same "$WORK/own" "$1" && [ ! -e "$STATE/original$1.absent" ]; then
    fail "$1 exists with other content; soci-installer writes it only where it is absent or identical: merge these lines into it yourself, or remove it: $(tr -s '[:space:]' ' ' <"$WORK/own")"
  fi
  install_file "$WORK/own" "$1" "$2"
}
unput() {
  [ -e "$1" ] || return 0
  save "$1"
  mark "$1"
  rm -f "$1"
  log info "removed $1"
}
enable_unit() {
  if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
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
  for ((i = ${#CHANGED[@]} - 1; i >= 0; i--)); do
    path=${CHANGED[$i]}
    if [ -e "$WORK/orig$path" ]; then mv -f "$WORK/orig$path" "$path"; else rm -f "$path"; fi
  done
  rm -f "${KEPT[@]}"
  for ((i = ${#MADE[@]} - 1; i >= 0; i--)); do
    [ ! -d "${MADE[$i]}" ] || find "${MADE[$i]}" -depth -type d -empty -delete
  done
  UNITS_CHANGED=1
  reload
  if [ "$STARTED" = 1 ] && booted; then
    systemctl stop soci-snapshotter.service >/dev/null 2>&1
    [ "$SOCKET_WAS_ACTIVE" = 1 ] || systemctl stop soci-snapshotter.socket >/dev/null 2>&1
  fi
  if [ "$CONTAINERD_RESTARTED" = 1 ]; then systemctl restart containerd.service; fi
  if [ "$CONTAINERD_WAS_ACTIVE" = 1 ] && ! systemctl is-active --quiet containerd.service; then
    systemctl start containerd.service
  fi
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
fetch() {
  log info "downloading $1"
  curl -fsSL --retry 3 --connect-timeout 10 -o "$3" "$1" || fail "download failed: $1"
  echo "$2  $3" | sha256sum --check --status || fail "sha256 mismatch for $1 (expected $2); nothing installed"
}
