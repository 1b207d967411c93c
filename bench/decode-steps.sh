#!/usr/bin/env bash
# bash bench/decode-steps.sh COMMAND... runs a benchmark with the addon shim's timeline and the
# steps inside each llama_decode (bench/decodeSteps.c, compiled here with cc, about a second), e.g.
#   bash bench/decode-steps.sh node --import tsx bench/prefillParts.ts --model M --gpu cuda 2>LOG
#   node --import tsx bench/shimTimeline.ts LOG
# The benchmark puts the shim ahead of this preload when it starts again with it (bench/addonShim.ts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# One file, made again by each run: no temporary folder left behind per run.
so=${TMPDIR:-/tmp}/ask-codebase-decode-steps.so
cc -shared -fPIC -O2 -Wall -Werror -o "$so" "$here/decodeSteps.c" -ldl
export LD_PRELOAD="$so${LD_PRELOAD:+ $LD_PRELOAD}" ASK_CODEBASE_ADDON_SHIM_TRACE=timeline
exec "$@"
