#!/bin/bash
# soci-installer 0.1.0: mode fast-image-pull: logs whether the FastImagePull gate can take effect.
# This data header, then soci-installer's node/log.sh, node/fast-image-pull.sh without their comment lines:
# read those files, commented, in the soci-installer package (node_modules/soci-installer/node/) or its repository.
# Profile values below are single-quoted on purpose: nothing in them is expanded.
# shellcheck disable=SC2016
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
<stored once: script-parts/log.sh>
<stored once: script-parts/fast-image-pull.sh>
