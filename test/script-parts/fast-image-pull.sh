cpus=$(nproc)
mem_kib=0
if block=$(cat /sys/devices/system/memory/block_size_bytes 2>/dev/null); then
  online=0
  for f in /sys/devices/system/memory/memory[0-9]*/online; do
    [ "$(cat "$f" 2>/dev/null)" != 1 ] || online=$((online + 1))
  done
  mem_kib=$((16#$block * online / 1024))
fi
if [ ! -x /usr/bin/soci-snapshotter-grpc ]; then
  log warning "this AMI has no soci-snapshotter (EKS AL2023 v20250813 or later has it): FastImagePull does nothing"
elif [ "$cpus" -lt 4 ] || [ "$mem_kib" -lt 7340032 ]; then
  log warning "$cpus vCPU and $((mem_kib / 1024)) MiB: nodeadm ignores FastImagePull below 4 vCPU and 7 GiB"
else
  log info "FastImagePull can take effect: $cpus vCPU, $((mem_kib / 1024)) MiB"
fi
