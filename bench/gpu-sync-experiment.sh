#!/usr/bin/env bash
# Whether node-llama-cpp 3.21.1's synchronize after every decode is what costs its prefill against
# llama-bench's, on the GPU machine after the CUDA build (`NLC_BENCH=1 bash .gpu-cudasrc/device.sh`,
# which also builds llama-bench; without it the rows have no llama-bench ratio):
#   . .gpu/setup.sh && bash bench/gpu-sync-experiment.sh OUT
# Its decode worker (llama/addon/AddonContext.cpp, AddonContextDecodeBatchWorker::Execute) calls
# llama_synchronize() after llama_decode(), so the CPU prepares each batch's inputs (the attention
# mask grows with the tokens already read) while the GPU waits; llama-bench queues batch after
# batch and syncs once. Runs bench:prefill-knobs and bench:decode-parts on the installed build, then
# on the same build with that one call removed (the only change, rebuilt in place), then puts the
# unchanged build back. PARTS (default "knobs decode") picks the measures; "warm" adds bench:warm,
# whose digest of every margin and answer says whether the two builds' outputs are the same.
# The product makes this change in its own CUDA build (src/engine/backend/addonPatch.ts).
set -u
out=${1:?usage: bench/gpu-sync-experiment.sh OUTDIR}
models=${MODELS_DIR:-/tmp/m}
mkdir -p "$out" "$models"
src=/opt/nlc/src/llama/addon/AddonContext.cpp
installed=node_modules/node-llama-cpp/llama/localBuilds/linux-x64-cuda/Release/llama-addon.node
[ -f "$src" ] && [ -f "$installed" ] || { echo "run .gpu-cudasrc/device.sh first"; exit 1; }
lb=$(bash bench/build-llama-bench.sh cuda 2>/dev/null) || lb=
[ -f "$models/0.5b.gguf" ] || node --import tsx scripts/write-test-model.ts --out "$models/0.5b.gguf" --shape 0.5b >/dev/null
parts=${PARTS:-knobs decode}
measure() { # label
  case " $parts " in *" knobs "*)
    for tokens in ${TOKENS:-30720}; do
      node --import tsx bench/prefillKnobs.ts --model "$models/0.5b.gguf" --gpu cuda --tokens "$tokens" ${lb:+--llama-bench "$lb"} >"$out/knobs-$1-$tokens.txt" 2>&1
    done ;;
  esac
  case " $parts " in *" decode "*) node --import tsx bench/decodeParts.ts --model "$models/0.5b.gguf" --gpu cuda >"$out/decode-$1.txt" 2>&1 ;; esac
  case " $parts " in *" warm "*) node --import tsx bench/warm.ts --model "$models/0.5b.gguf" --gpu cuda >"$out/warm-$1.txt" 2>&1 ;; esac
}
measure stock
cp "$installed" /opt/nlc/stock-addon.node
cp "$src" /opt/nlc/AddonContext.cpp.orig
# The product's own change (addonPatch.ts), made to the device build's tree.
node --import tsx -e 'import("./src/engine/backend/addonPatch.ts").then((m) => { const p = m.applySourcePatches("/opt/nlc/src"); console.log(JSON.stringify({ applied: p.applied, skipped: p.skipped })); })' >"$out/patched.txt" 2>&1
if cmake --build /opt/nlc/build --target llama-addon -j "$(nproc)" >"$out/rebuild.log" 2>&1; then
  cp -f "$(find /opt/nlc/out /opt/nlc/build -name llama-addon.node -newer /opt/nlc/AddonContext.cpp.orig | head -1)" "$installed"
  measure nosync
else
  echo "rebuild failed" >>"$out/rebuild.log"
fi
cp /opt/nlc/AddonContext.cpp.orig "$src"
cp /opt/nlc/stock-addon.node "$installed"
for f in "$out"/knobs-*.txt "$out"/decode-*.txt "$out"/warm-*.txt; do [ -f "$f" ] && { echo "== $(basename "$f")"; grep -v '^{' "$f" | tail -12; }; done
if [ -f "$out/warm-stock.txt" ] && [ -f "$out/warm-nosync.txt" ]; then
  a=$(grep -o 'sha256 [0-9a-f]*' "$out/warm-stock.txt"); b=$(grep -o 'sha256 [0-9a-f]*' "$out/warm-nosync.txt")
  echo "outputs: stock $a, without the synchronize $b: $([ -n "$a" ] && [ "$a" = "$b" ] && echo identical || echo DIFFERENT)"
fi
