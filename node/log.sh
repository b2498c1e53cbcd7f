#!/bin/bash
# soci-installer: log LEVEL MESSAGE, to stderr and the journal (journalctl -t soci-installer).
log() {
  local level=$1
  shift
  echo "soci-installer: $*" >&2
  logger -t soci-installer -p "user.$level" -- "$*" 2>/dev/null || true
}
