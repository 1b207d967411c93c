#!/usr/bin/env bash
# The project's figures beside the engine's own limit on one backend, in one call on the GPU machine:
#   . .gpu/setup.sh && GPU=vulkan bash bench/gpu-limits.sh OUT
# llama-bench comes from bench/build-llama-bench.sh for the same backend (for Vulkan and the CPU,
# linked against node-llama-cpp's prebuilt libraries, which the GPU machine's node_modules has:
# compile it here first with ASK_CODEBASE_SERVER_CACHE=$PWD/.cache/llama and carry .cache/llama).
#   GPU     vulkan (default), cpu or cuda
#   SHAPES  test model shapes (default "0.5b 1.5b"), written once into $MODELS_DIR (default /tmp/m)
#   PARTS   any of: decode (bench:decode, four depths), wim (npm run bench: plain prefill beside
#           llama-bench pp4096, and WiM's ratios), knobs (bench:prefill-knobs, like for like),
#           parts (bench:decode-parts), prefill (bench:prefill-parts: reading, and what WiM's stop
#           after each segment costs), warm (bench:warm: a warm second question, and a digest of
#           every margin and answer); default "decode wim knobs parts"
#   ASK_CODEBASE_ADDON_SHIM=off  every part without the addon shim (src/shared/addonShim.ts)
# Each part's output goes to OUT/<shape>-<part>.txt; a part that fails is logged and the rest go on.
set -u
out=${1:?usage: bench/gpu-limits.sh OUTDIR}
gpu=${GPU:-vulkan}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
lb=$(bash "$(dirname "$0")/build-llama-bench.sh" "$gpu") || { echo "gpu-limits: no llama-bench for $gpu" >&2; exit 1; }
echo "gpu-limits: $gpu, llama-bench $lb, addon shim ${ASK_CODEBASE_ADDON_SHIM:-on}" >"$out/limits.log"
for shape in ${SHAPES:-0.5b 1.5b}; do
  m="$models/$shape.gguf"
  [ -f "$m" ] || node --import tsx scripts/write-test-model.ts --out "$m" --shape "$shape" >>"$out/limits.log" 2>&1
  for part in ${PARTS:-decode wim knobs parts}; do
    case "$part" in
      decode) cmd=(bench/decodeDepth.ts --model "$m" --gpu "$gpu" --llama-bench "$lb") ;;
      wim) cmd=(bench/wim.ts --model "$m" --gpu "$gpu" --llama-bench "$lb") ;;
      knobs) cmd=(bench/prefillKnobs.ts --model "$m" --gpu "$gpu" --llama-bench "$lb") ;;
      parts) cmd=(bench/decodeParts.ts --model "$m" --gpu "$gpu") ;;
      prefill) cmd=(bench/prefillParts.ts --model "$m" --gpu "$gpu" --runs 5 --llama-bench "$lb") ;;
      warm) cmd=(bench/warm.ts --model "$m" --gpu "$gpu") ;;
      *) echo "gpu-limits: unknown part $part" >>"$out/limits.log"; continue ;;
    esac
    started=$(date +%s)
    node --import tsx "${cmd[@]}" >"$out/$shape-$part.txt" 2>&1 || echo "FAILED: $shape $part" >>"$out/limits.log"
    echo "$shape $part: $(( $(date +%s) - started )) s" >>"$out/limits.log"
  done
done
cat "$out/limits.log"
