#!/usr/bin/env bash
# Prints the path of llama.cpp's llama-bench for the engine the project runs on a backend, for the
# benchmarks' reference rows (--llama-bench PATH): the engine's own limit beside the project's figure.
#   bench/build-llama-bench.sh [cpu|vulkan|cuda]
# cpu, vulkan: the project runs node-llama-cpp's prebuilt libraries for these. llama-bench's two
#   source files, from the llama.cpp commit those libraries were built from (node-llama-cpp's git
#   bundle), are compiled once (about 20 s) and linked against those very libraries, so that a ratio
#   is node-llama-cpp's and the project's cost alone: same kernels, same compile flags, same shaders.
#   No Vulkan SDK or glslc is needed (a source build of the Vulkan backend needs both, and newer
#   Vulkan headers than Debian 12's). Each call refreshes the links to the libraries, so a binary
#   compiled on one machine runs on another with the same node_modules (the GPU machine, which has
#   no bundle: carry the cache folder, ASK_CODEBASE_SERVER_CACHE).
# cuda: on the H200, the CUDA addon build (`NLC_BENCH=1 bash .gpu-cudasrc/device.sh`) already
#   builds llama-bench from the tree the project's CUDA libraries come from: that one. Elsewhere it
#   is built once from source by scripts/build-llama.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/llama-source.sh"
backend=${1:-cpu}
if [ "$backend" = cuda ]; then
  if [ -d /opt/nlc/build ]; then
    found=$(find /opt/nlc/build -name llama-bench -type f -perm -u+x 2>/dev/null | head -1)
    if [ -n "$found" ]; then echo "$found"; exit 0; fi
  fi
  exec bash "$root/scripts/build-llama.sh" llama-bench cuda
fi
case "$backend" in cpu) suffix= ;; vulkan) suffix=-vulkan ;; *) echo "build-llama-bench: unknown backend $backend (cpu, vulkan or cuda)" >&2; exit 1 ;; esac
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=linux-x64$suffix ;;
  Linux-aarch64) pkg=linux-arm64$suffix ;;
  *) echo "build-llama-bench: only Linux builds are linked against node-llama-cpp's prebuilt libraries here; scripts/build-llama.sh llama-bench $backend builds one from source" >&2; exit 1 ;;
esac
libs="$root/node_modules/@node-llama-cpp/$pkg/bins/$pkg"
[ -d "$libs" ] || { echo "build-llama-bench: node-llama-cpp's $pkg libraries are not installed ($libs; npm ci installs them where the platform has them)" >&2; exit 1; }
# The versioned names node-llama-cpp gives its builds (libllama.vulkan.v0.4.0.so): the release is in the name.
llama=$(cd "$libs" && ls libllama.*.so 2>/dev/null | head -1)
ggml=$(cd "$libs" && ls libggml.*.so 2>/dev/null | head -1)
[ -n "$llama" ] && [ -n "$ggml" ] && [ -f "$libs/libllama-common.so" ] || { echo "build-llama-bench: $libs lacks libllama, libggml or libllama-common" >&2; exit 1; }
cache=${ASK_CODEBASE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ask-codebase/llama-server}
# One per node-llama-cpp version and package (the version fixes the llama.cpp commit; the bundle may be absent).
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$root/node_modules/node-llama-cpp/package.json" | head -1)
out="$cache/node-llama-cpp-$version-llama-bench-$pkg"
mkdir -p "$out"
# ggml loads its backends (libggml-vulkan.so, the best libggml-cpu-*.so) from the executable's
# folder, and the binary finds its libraries there too ($ORIGIN): links to this machine's copies.
for f in "$libs"/*.so; do ln -sfn "$f" "$out/$(basename "$f")"; done
if [ -x "$out/llama-bench" ]; then echo "$out/llama-bench"; exit 0; fi
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "build-llama-bench: $bundle is missing (npm ci), and no llama-bench is in $out" >&2; exit 1; }
for tool in git g++; do command -v "$tool" >/dev/null || { echo "build-llama-bench: $tool is needed" >&2; exit 1; }; done
exec 9>"$out/.lock"
flock 9
if [ -x "$out/llama-bench" ]; then echo "$out/llama-bench"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-llama-bench: compiling llama-bench $(llama_source_commit "$bundle") against node-llama-cpp's $pkg libraries (once)" >&2
llama_source_checkout "$bundle" "$work/src"
s="$work/src"
# Release flags as llama.cpp's own build; NDEBUG, or llama-bench warns that its asserts slow it.
g++ -std=c++17 -O3 -DNDEBUG -I"$s/include" -I"$s/ggml/include" -I"$s/common" -I"$s/tools/llama-bench" -I"$s/vendor" \
  "$s/tools/llama-bench/llama-bench.cpp" "$s/tools/llama-bench/main.cpp" -o "$work/llama-bench" \
  -L"$libs" -l:libllama-common.so -l:"$llama" -l:"$ggml" -l:libggml-base.so -Wl,-rpath,'$ORIGIN' -pthread >&2
mv "$work/llama-bench" "$out/llama-bench"
echo "$out/llama-bench"
