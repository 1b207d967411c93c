#!/usr/bin/env bash
# Margins written on forks of the reader (core/wim/forkedMargins.ts) against the product without
# them, in one call on the GPU machine, each benchmark run once each way:
#   . .gpu/setup.sh && GPU=cuda bash bench/gpu-forks.sh OUT
#   GPU     vulkan (default), cpu or cuda
#   SHAPES  test model shapes (default "0.5b"), written once into $MODELS_DIR (default /tmp/m)
#   PARTS   any of: wim (npm run bench), warm (bench:warm); default "wim warm"
#   WAYS    forks (as shipped), forksN (the reader's batches capped at N tokens while a fork decodes,
#           ASK_CODEBASE_FORK_BATCH=N) and before (ASK_CODEBASE_ADDON_SHIM=nosync,greedy: the shim
#           without shared cells, so margins on the reader as before); default "forks before"
#   LIMIT   seconds for each run (default 240)
# Each run's output goes to OUT/<shape>-<part>-<way>.txt, the times to OUT/forks.log.
set -u
out=${1:?usage: bench/gpu-forks.sh OUTDIR}
gpu=${GPU:-vulkan}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
for shape in ${SHAPES:-0.5b}; do
  m="$models/$shape.gguf"
  [ -f "$m" ] || node --import tsx scripts/write-test-model.ts --out "$m" --shape "$shape" >>"$out/forks.log" 2>&1
  for part in ${PARTS:-wim warm}; do
    for way in ${WAYS:-forks before}; do
      shim=${ASK_CODEBASE_ADDON_SHIM:-}
      [ "$way" = before ] && shim=nosync,greedy
      cap=${way#forks}; [ "$cap" = "$way" ] && cap=
      started=$(date +%s)
      ASK_CODEBASE_ADDON_SHIM=$shim ASK_CODEBASE_FORK_BATCH=$cap timeout "${LIMIT:-240}" node --import tsx "bench/$part.ts" --model "$m" --gpu "$gpu" >"$out/$shape-$part-$way.txt" 2>&1 \
        || echo "FAILED: $shape $part $way" >>"$out/forks.log"
      echo "$shape $part $way: $(( $(date +%s) - started )) s" >>"$out/forks.log"
    done
  done
done
cat "$out/forks.log"
