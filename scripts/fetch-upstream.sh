#!/usr/bin/env bash
# Builds the upstream programs of scripts/setup-upstream.sh from source, on a machine with internet.
# Usage: fetch-upstream.sh OUT_DIR NAME...
set -euo pipefail
echo "fetch-upstream.sh: building from source is not written yet; set SOCI_INSTALLER_UPSTREAM" >&2
exit 1
