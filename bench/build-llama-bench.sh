#!/usr/bin/env bash
# Prints the path of llama.cpp's llama-bench built from the same llama.cpp commit as node-llama-cpp
# 3.21.1's binaries, for bench:decode's and bench's reference rows (--llama-bench PATH).
#   bench/build-llama-bench.sh [cpu|cuda|vulkan]
# On the H200, the CUDA addon build (`NLC_BENCH=1 bash .gpu-cudasrc/device.sh`) already builds it
# from that tree: that one is used rather than spending another build's minutes of device time.
# Elsewhere it is built once by scripts/build-llama.sh into the cache folder.
set -euo pipefail
backend=${1:-cpu}
if [ "$backend" = cuda ] && [ -d /opt/nlc/build ]; then
  found=$(find /opt/nlc/build -name llama-bench -type f -perm -u+x 2>/dev/null | head -1)
  if [ -n "$found" ]; then echo "$found"; exit 0; fi
fi
exec bash "$(dirname "$0")/../scripts/build-llama.sh" llama-bench "$backend"
