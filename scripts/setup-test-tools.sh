#!/usr/bin/env bash
# Installs the real tools the test suite validates against (see test/support/):
#   - Debian packages: shellcheck, cloud-init, containerd (1.6, bookworm), python3, systemd-container, pigz
#     (soci's gzip decompressor in parallel modes, as on the AMI), debootstrap, packer, iproute2, zstd,
#     ca-certificates; docker-registry, skopeo, apache2-utils (htpasswd), openssl and jq for the registry
#     tests (check-image, the mirror, the credential bridge); strace (kills a render mid-way in cli.test.ts);
#     busybox-static (the pull tests' image program);
#   - containerd 1.7 (Debian trixie) and containerd 2.x (Debian sid), downloaded as .debs through a
#     private apt configuration (nothing system-wide is changed) and unpacked with dpkg-deb -x into
#     .cache/containerd/1.7/root and .cache/containerd/2/root.
# Writes .cache/containerd/versions.txt ("<line> <debian version> <containerd binary>" per line;
# binary paths relative to the repository root unless absolute).
#
# Run as root. Idempotent: a second run checks what is there and does nothing else.
# Quiet on success; on failure prints the failing step and the tail of its log, and exits non-zero.
# The Debian mirror is read from this machine's apt sources; no host name is written in this repo.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
CACHE=$ROOT_DIR/.cache/containerd
LOG=$ROOT_DIR/.cache/setup-test-tools.log
mkdir -p "$CACHE"
: >"$LOG"

die() { echo "setup-test-tools.sh: $*" >&2; exit 1; }
step() { CURRENT_STEP=$*; }
on_error() {
  local rc=$?
  echo "setup-test-tools.sh: FAILED (exit $rc) during: ${CURRENT_STEP:-?}" >&2
  if [ -s "$LOG" ]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 40 "$LOG" >&2
  fi
  exit "$rc"
}
trap on_error ERR
CURRENT_STEP=start

[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages)"
command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian machine"
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------------------------------------
# 1. Debian packages (skip apt entirely when all are installed)
PACKAGES=(shellcheck cloud-init containerd python3 systemd-container debootstrap packer iproute2 zstd ca-certificates xz-utils pigz docker-registry skopeo apache2-utils openssl jq strace busybox-static)
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get update"
  apt-get update >>"$LOG" 2>&1
  step "apt-get install ${missing[*]}"
  apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$LOG" 2>&1
fi
# Debian's docker-registry package enables a registry on every interface's port 5000; the tests run their
# own inside the test node's network namespace only, so a booted host does not keep that one running.
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry.service 2>/dev/null; then
  step "systemctl disable --now docker-registry.service"
  systemctl disable --now docker-registry.service >>"$LOG" 2>&1
fi
step "checking installed tools"
for tool in shellcheck cloud-init containerd ctr python3 systemd-analyze systemd-nspawn debootstrap packer ip zstd xz unpigz docker-registry skopeo htpasswd openssl jq strace unshare busybox; do
  command -v "$tool" >/dev/null || die "$tool is still missing after apt-get install"
done
# Debian's own interpreter (a pyenv or venv python3 earlier in PATH does not see cloud-init's modules)
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing"
/usr/bin/python3 -c 'import cloudinit.user_data' 2>>"$LOG" || die "/usr/bin/python3 cannot import cloudinit.user_data (cloud-init)"

# ---------------------------------------------------------------------------------------------
# 2. The Debian mirror, from this machine's apt sources (deb822 first, then one-line format)
step "reading the Debian mirror from /etc/apt/sources.list*"
mirror_from_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # a stanza whose Suites has a plain codename (not -security/-updates) and whose URI is a debian archive
    awk '
      function flush() {
        if (uri != "" && suites ~ /(^|[ \t])[a-z]+([ \t]|$)/ && uri !~ /security/) { print uri; found = 1; exit }
        uri = ""; suites = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:"   { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" {
      i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i+1) !~ /-/ && $i !~ /security/) print $i
    }' "$f"
  done
}
MIRROR=$(mirror_from_sources | head -n 1)
[ -n "$MIRROR" ] || die "could not find a Debian mirror URI in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "$KEYRING missing (install debian-archive-keyring)"

# ---------------------------------------------------------------------------------------------
# 3. containerd 1.7 (trixie) and 2.x (sid) through private apt configs, unpacked into the cache
fetch_containerd() {
  local line=$1 suite=$2 want_prefix=$3
  local dir=$CACHE/$line apt=$CACHE/$line/apt
  if [ -x "$dir/root/usr/bin/containerd" ] && [ -x "$dir/root/usr/bin/ctr" ] && [ -s "$dir/version" ]; then
    return 0
  fi
  step "containerd $line: private apt update ($suite)"
  rm -rf "$apt" "$dir/root.tmp"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/debs"
  echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >"$apt/etc/sources.list"
  local opts=(
    -o "Dir::Etc::SourceList=$apt/etc/sources.list"
    -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
    -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache"
    -o "Dir::Etc::Preferences=$apt/etc/preferences"
    -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
    -o APT::Sandbox::User=root
  )
  apt-get "${opts[@]}" --error-on=any update >>"$LOG" 2>&1
  step "containerd $line: apt-get download containerd ($suite)"
  # "containerd/$suite": never fall back to the version installed from bookworm
  cd "$apt/debs"
  apt-get "${opts[@]}" download "containerd/$suite" >>"$LOG" 2>&1
  cd "$ROOT_DIR"
  local deb
  deb=$(ls "$apt"/debs/containerd_*.deb)
  [ "$(echo "$deb" | wc -l)" = 1 ] || die "expected one containerd .deb in $apt/debs, got: $deb"
  local version
  version=$(dpkg-deb -f "$deb" Version)
  case "$version" in
    "$want_prefix"*) ;;
    *) die "containerd from $suite is $version, expected $want_prefix*: the suite moved on; update this script" ;;
  esac
  step "containerd $line: unpacking $deb"
  mkdir -p "$dir/root.tmp"
  dpkg-deb -x "$deb" "$dir/root.tmp"
  [ -x "$dir/root.tmp/usr/bin/containerd" ] || die "$deb has no usr/bin/containerd"
  "$dir/root.tmp/usr/bin/containerd" --version >>"$LOG" 2>&1 || die "containerd $line from $suite does not run on this machine"
  rm -rf "$dir/root"
  mv "$dir/root.tmp" "$dir/root"
  echo "$version" >"$dir/version"
  # the package lists are large and no longer needed; keep the .deb
  rm -rf "$apt/lists" "$apt/cache"
}
fetch_containerd 1.7 trixie 1.7.
fetch_containerd 2 sid 2.

# ---------------------------------------------------------------------------------------------
# 4. versions.txt
step "writing $CACHE/versions.txt"
v16=$(dpkg-query -W -f='${Version}' containerd)
case "$v16" in 1.6.*) ;; *) die "Debian's containerd is $v16, expected 1.6.x (bookworm)";; esac
{
  echo "1.6 $v16 /usr/bin/containerd"
  echo "1.7 $(cat "$CACHE/1.7/version") .cache/containerd/1.7/root/usr/bin/containerd"
  echo "2 $(cat "$CACHE/2/version") .cache/containerd/2/root/usr/bin/containerd"
} >"$CACHE/versions.txt.tmp"
if ! cmp -s "$CACHE/versions.txt.tmp" "$CACHE/versions.txt" 2>/dev/null; then
  mv "$CACHE/versions.txt.tmp" "$CACHE/versions.txt"
else
  rm -f "$CACHE/versions.txt.tmp"
fi
trap - ERR
