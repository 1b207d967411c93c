#!/usr/bin/env bash
# The GPU benchmark sweep, in one command on the GPU machine (one warm machine, one run):
#   . .gpu/setup.sh && bash bench/gpu-sweep.sh "$OUT"
# Writes the 0.5b and 1.5b test models, then runs `npm run bench` over the settings the speed
# issue asks about; each run's JSON line goes to OUT/sweep.ndjson, its text to OUT/sweep.log.
# A setting that fails (the KV cache type is experimental in node-llama-cpp) is logged, not fatal.
set -u
out=${1:?usage: bench/gpu-sweep.sh OUTDIR}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
for shape in ${SHAPES:-0.5b 1.5b}; do
  [ -f "$models/$shape.gguf" ] || node --import tsx scripts/write-test-model.ts --out "$models/$shape.gguf" --shape "$shape" >>"$out/sweep.log" 2>&1
done
run() { # shape, then bench flags
  local shape=$1; shift
  echo "=== $shape $*" >>"$out/sweep.log"
  node --import tsx bench/wim.ts --model "$models/$shape.gguf" --gpu "${GPU:-vulkan}" "$@" >"$out/run.txt" 2>>"$out/sweep.log" || echo "FAILED: $shape $*" >>"$out/sweep.log"
  cat "$out/run.txt" >>"$out/sweep.log"
  tail -n 1 "$out/run.txt" | grep '^{' >>"$out/sweep.ndjson"
}
if [ -n "${CONFIGS:-}" ]; then
  while IFS= read -r line; do [ -n "$line" ] && run $line; done <<<"$CONFIGS"
else
  run 0.5b
  run 0.5b --batch-size 2048
  run 0.5b --batch-size 4096
  run 0.5b --batch-size 2048 --kv-type q8_0 --flash-attention on
  run 0.5b --batch-size 2048 --lookup
  run 1.5b
  run 1.5b --batch-size 2048
  run 1.5b --batch-size 2048 --kv-type q8_0 --flash-attention on
fi
rm -f "$out/run.txt"
