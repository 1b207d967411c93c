#!/usr/bin/env bash
# A warm question's margins written on forks of the reader (core/wim/forkedMargins.ts) against the
# reader's backward pass, in one call on the GPU machine, each benchmark run once each way:
#   . .gpu/setup.sh && GPU=cuda bash bench/gpu-forks.sh OUT
#   GPU     vulkan (default), cpu or cuda
#   SHAPES  test model shapes (default "0.5b"), written once into $MODELS_DIR (default /tmp/m)
#   PARTS   any of: warm (bench:warm), wim (npm run bench); default "warm"
#   WAYS    forks (as shipped) and before (ASK_CODEBASE_FORKS=off: margins on the reader);
#           default "forks before"
#   LIMIT   seconds for each run (default 240)
# Each run's output goes to OUT/<shape>-<part>-<way>.txt, the times to OUT/forks.log.
# (bench/runs/h200-forks-cold.txt came from this script at 58726f4, when margins went on forks
# while reading too, with WAYS forksN capping the reader's batches at N tokens.)
set -u
out=${1:?usage: bench/gpu-forks.sh OUTDIR}
gpu=${GPU:-vulkan}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
for shape in ${SHAPES:-0.5b}; do
  m="$models/$shape.gguf"
  [ -f "$m" ] || node --import tsx scripts/write-test-model.ts --out "$m" --shape "$shape" >>"$out/forks.log" 2>&1
  for part in ${PARTS:-warm}; do
    for way in ${WAYS:-forks before}; do
      forks=on
      [ "$way" = before ] && forks=off
      started=$(date +%s)
      ASK_CODEBASE_FORKS=$forks timeout "${LIMIT:-240}" node --import tsx "bench/$part.ts" --model "$m" --gpu "$gpu" >"$out/$shape-$part-$way.txt" 2>&1 \
        || echo "FAILED: $shape $part $way" >>"$out/forks.log"
      echo "$shape $part $way: $(( $(date +%s) - started )) s" >>"$out/forks.log"
    done
  done
done
cat "$out/forks.log"
