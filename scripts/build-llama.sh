#!/usr/bin/env bash
# Builds llama.cpp's llama-server for the CPU from the llama.cpp source node-llama-cpp ships in its
# npm package (llama/gitRelease.bundle, a git bundle of the exact commit its binaries were built
# from): nothing is downloaded. Once per machine and commit, into a cache folder; prints the
# binary's path on stdout, the build's progress on stderr.
#   scripts/build-llama-server.sh        (ASK_CODEBASE_SERVER_CACHE overrides the cache folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bundle" ] || { echo "build-llama-server: $bundle is missing (run npm ci)" >&2; exit 1; }
for tool in git cmake make g++; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: $tool is needed (apt-get install git cmake make g++)" >&2; exit 1; }
done
commit=$(git bundle list-heads "$bundle" | awk '{ print $1; exit }')
cache=${ASK_CODEBASE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ask-codebase/llama-server}
out="$cache/$commit"
bin="$out/bin/llama-server"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
# One build at a time: a second caller waits for the first.
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-llama-server: building llama-server $commit for the CPU (once; a few minutes)" >&2
git clone -q "$bundle" "$work/src" >&2
git -C "$work/src" -c advice.detachedHead=false checkout -q "$commit" >&2
# No curl (nothing is downloaded), no tests or examples; static, so the binary can be moved.
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$out.tmp/bin"
cp "$work/build/bin/llama-server" "$out.tmp/bin/"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$bin"
