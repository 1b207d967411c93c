#!/usr/bin/env bash
# Out of GPU memory, on the GPU machine: the CLI asks about this repository's src/core/wim with the 1.5b
# test model while a reserve leaves only LEFT_MIB of the GPU's memory to it, for each LEFT_MIB.
#   . .gpu/setup.sh && bash bench/gpu-fit.sh "$OUT"
# Each run's stderr (the backend note says how many layers ran on the GPU) and exit status go to
# OUT/fit.log. Needs dist/ (npm run build) carried along.
set -u
out=${1:?usage: bench/gpu-fit.sh OUTDIR}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
[ -f "$models/1.5b.gguf" ] || node --import tsx scripts/write-test-model.ts --out "$models/1.5b.gguf" --shape 1.5b >>"$out/fit.log" 2>&1
total=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
echo "GPU memory: total ${total} MiB, used ${used} MiB before the runs" >>"$out/fit.log"
for left in ${LEFT_MIB:-99999 2600 2100 1700 1200 700}; do
  reserve=$(( total - used - left ))
  flags=(); [ "$reserve" -gt 0 ] && flags=(--gpu-reserve-mib "$reserve")
  echo "=== ${left} MiB left (reserve ${reserve} MiB)" >>"$out/fit.log"
  start=$(date +%s%N)
  node dist/cli.js ask src/core/wim "${QUESTION:-Where is the context sized for a run?}" --model "$models/1.5b.gguf" --gpu vulkan \
    "${flags[@]}" --margin-tokens 32 --answer-tokens 32 --cache-mib 0 >"$out/answer.txt" 2>>"$out/fit.log"
  echo "exit $? in $(( ($(date +%s%N) - start) / 1000000 )) ms; answer $(wc -c <"$out/answer.txt") bytes" >>"$out/fit.log"
done
rm -f "$out/answer.txt"
