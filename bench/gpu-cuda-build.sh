#!/usr/bin/env bash
# The CUDA build offer and build, end to end on the GPU machine, through the CLI as a user runs it:
#   . .gpu/setup.sh && bash bench/gpu-cuda-build.sh "$OUT"
# 1. asks about src/core/wim with --gpu auto: no CUDA build is installed (pack.sh leaves the prebuilt
#    out, as every VSIX does), so it runs on Vulkan and offers the build once;
# 2. `ask-codebase build-cuda`: node-llama-cpp's own source build (with the one change of
#    src/engine/backend/addonPatch.ts), kept in the build store
#    (BUILD_VIA=engine: requested of the engine's process, as the extension does);
# 3. the same question again: auto now probes the CUDA build and runs on it;
# 4. with the CUDA build moved out of node-llama-cpp's folder (an update would do that), a third
#    question puts it back from the store and runs on CUDA again.
# The build stays in node_modules while the machine is warm: `npm run bench:warm -- --gpu cuda` next.
# That machine has no network: `bash bench/gpu-cuda-prepare.sh` (here) packs what a user's machine
# would fetch or have: llama.cpp's source as a git bundle (sources only), npm, and git if it lacks one.
# Needs dist/ (npm run build) carried along. Everything goes to OUT/cuda-build.log.
set -u
out=${1:?usage: bench/gpu-cuda-build.sh OUTDIR}
log="$out/cuda-build.log"
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
exec >>"$log" 2>&1
export XDG_CACHE_HOME=/tmp/cuda-build-cache
rm -rf "$XDG_CACHE_HOME"
[ -d .gpu-build ] && . .gpu-build/setup.sh
echo "tools: git=$(command -v git) npm=$(command -v npm) cmake=$(command -v cmake) nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)"
nvidia-smi -L
[ -f "$models/0.5b.gguf" ] || node --import tsx scripts/write-test-model.ts --out "$models/0.5b.gguf" --shape 0.5b
ask() {
  local start; start=$(date +%s%N)
  node dist/cli.js ask src/core/wim "${QUESTION:-Where is the context sized for a run?}" --model "$models/0.5b.gguf" \
    --margin-tokens 32 --answer-tokens 32 --cache-mib 0 --json >"$out/events.ndjson"
  echo "exit $? in $(( ($(date +%s%N) - start) / 1000000 )) ms; $(grep -m1 '"run-started"' "$out/events.ndjson" | node -e 'const e=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(`backend ${e.backend} (${e.gpuNames.join(", ")})${e.backendNote ? "; note: " + e.backendNote : ""}`)')"
}
ask_text() {
  node dist/cli.js ask src/core/wim "${QUESTION:-Where is the context sized for a run?}" --model "$models/0.5b.gguf" \
    --margin-tokens 32 --answer-tokens 32 --cache-mib 0 >/dev/null
}
echo "=== 1. first question, auto (text output, for the offer's note)"
ask_text
echo "=== the offer's state"; cat "$XDG_CACHE_HOME/ask-codebase/cuda-build.json"; echo
start=$(date +%s)
if [ "${BUILD_VIA:-cli}" = engine ]; then
  echo "=== 2. the build through the engine's process, as the extension asks for it"
  node --import tsx bench/buildViaEngine.ts "$XDG_CACHE_HOME/ask-codebase/backend-builds"
else
  echo "=== 2. build-cuda"
  node dist/cli.js build-cuda
fi
echo "build exit $? in $(( $(date +%s) - start )) s"
ls -la "$XDG_CACHE_HOME/ask-codebase/backend-builds"/*/* node_modules/node-llama-cpp/llama/localBuilds/*/Release 2>&1 | head -30
du -sh "$XDG_CACHE_HOME/ask-codebase/backend-builds" node_modules/node-llama-cpp/llama/localBuilds
echo "=== 3. the same question, auto"
ask
echo "=== 4. node-llama-cpp's copy of the build gone (an update), then the question again"
rm -rf node_modules/node-llama-cpp/llama/localBuilds/*cuda*
ask
ls node_modules/node-llama-cpp/llama/localBuilds
