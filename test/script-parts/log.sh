log() {
  local level=$1
  shift
  echo "soci-installer: $*" >&2
  logger -t soci-installer -p "user.$level" -- "$*" 2>/dev/null || true
}
