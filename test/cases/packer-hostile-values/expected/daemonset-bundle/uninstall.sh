#!/bin/bash
# soci-installer 0.1.0: puts this node back as it was before soci-installer.
# This data header, then soci-installer's node/log.sh, node/containerd.sh, node/uninstall.sh without their comment lines:
# read those files, commented, in the soci-installer package (node_modules/soci-installer/node/) or its repository.
# Profile values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC2016
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STATE='/var/lib/soci-installer'
PAUSE_UNIT='soci-installer-pause-import.service'
NAMESPACE='soci-installer'
<stored once: script-parts/log.sh>
<stored once: script-parts/containerd.sh>
<stored once: script-parts/uninstall.sh>
