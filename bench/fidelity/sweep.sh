#!/usr/bin/env bash
# Trains several fidelity models at once on one GPU and brings each one's weights and log back.
#   bash bench/fidelity/sweep.sh OUT DATA MINUTES "name: train.py options" ...
# DATA is made first when it does not exist (makeData.ts with $DATA_ARGS, one worker per core).
# A 6M-parameter model leaves most of an H200 idle (0.34M tokens/s alone), so runs that share it
# each lose little: on one device call this compares settings that would otherwise take one call each.
# Each run writes OUT/NAME.f16, OUT/NAME.json (weights) and OUT/NAME.log.
set -uo pipefail
out=$1 data=$2 minutes=$3
shift 3
if [ ! -f "$data/part-0.json" ]; then
  t0=$(date +%s)
  # shellcheck disable=SC2086
  node --import tsx bench/fidelity/makeData.ts --out "$data" --workers "$(nproc)" ${DATA_ARGS:-} || exit 1
  echo "sweep: data in $(( $(date +%s) - t0 )) s"
fi
pids=()
for spec in "$@"; do
  name=${spec%%:*} opts=${spec#*:}
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 python3 bench/fidelity/train.py --data "$data" --out "/tmp/sweep-$name" --minutes "$minutes" $opts > "$out/$name.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for spec in "$@"; do
  name=${spec%%:*}
  cp "/tmp/sweep-$name/weights.f16" "$out/$name.f16" 2>/dev/null
  cp "/tmp/sweep-$name/weights.json" "$out/$name.json" 2>/dev/null
  grep '"event": "done"' "$out/$name.log" | sed "s/^/$name: /"
done
exit $status
