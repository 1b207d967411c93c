#!/usr/bin/env bash
# Builds one of llama.cpp's programs (llama-server for the server tests, llama-bench for the
# benchmarks' reference row) from the llama.cpp source node-llama-cpp ships in its npm package
# (llama/gitRelease.bundle, a git bundle of the exact commit its binaries were built from): nothing
# is downloaded. Once per machine, commit, program and backend, into a cache folder; prints the
# binary's path on stdout, the build's progress on stderr.
#   scripts/build-llama.sh [llama-server|llama-bench] [cpu|cuda|vulkan]   (default: llama-server cpu)
#   ASK_CODEBASE_SERVER_CACHE overrides the cache folder. cuda needs nvcc; vulkan needs glslc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/llama-source.sh"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "build-llama: $bundle is missing (run npm ci)" >&2; exit 1; }
for tool in git cmake make g++; do
  command -v "$tool" >/dev/null || { echo "build-llama: $tool is needed (apt-get install git cmake make g++)" >&2; exit 1; }
done
target=${1:-llama-server}
backend=${2:-cpu}
case "$target" in llama-server|llama-bench) ;; *) echo "build-llama: unknown program $target" >&2; exit 1 ;; esac
case "$backend" in
  cpu) gpu_flags=() ;;
  cuda) gpu_flags=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native) ;;
  vulkan) gpu_flags=(-DGGML_VULKAN=ON) ;;
  *) echo "build-llama: unknown backend $backend" >&2; exit 1 ;;
esac
commit=$(llama_source_commit "$bundle")
cache=${ASK_CODEBASE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ask-codebase/llama-server}
# The CPU server keeps its old folder, so machines that built it once do not build it again.
if [ "$target" = llama-server ] && [ "$backend" = cpu ]; then out="$cache/$commit"; else out="$cache/$commit-$target-$backend"; fi
bin="$out/bin/$target"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
# One build at a time: a second caller waits for the first.
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-llama: building $target $commit for $backend (once; a few minutes)" >&2
llama_source_checkout "$bundle" "$work/src"
# No curl (nothing is downloaded), no tests or examples; static, so the binary can be moved.
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON "${gpu_flags[@]}" >&2
cmake --build "$work/build" --target "$target" -j "$(nproc)" >&2
mkdir -p "$out.tmp/bin"
cp "$work/build/bin/$target" "$out.tmp/bin/"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$bin"
