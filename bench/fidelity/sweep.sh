#!/usr/bin/env bash
# Trains several fidelity models at once on one GPU and brings each one's weights and log back.
#   bash bench/fidelity/sweep.sh OUT DATA MINUTES "name: train.py options" ...
# DATA is made first when it holds no round yet: makeData.ts with $DATA_ARGS (shared options such
# as --min-chars), $ROUND_EXAMPLES examples (40000) from seed $SEED (1), one worker per core.
# ROUNDS=N (1) goes on making N-1 more rounds of new codebases (DATA/r1, r2, ...) while the models
# train, which read each round as it is finished: at a million tokens a second and more, one
# round is read in under two minutes, and the GPU machine's cores are otherwise idle.
# A 6M-parameter model leaves most of an H200 idle, so runs that share it each lose little: on
# one device call this compares settings that would otherwise take one call each.
# Each run writes OUT/NAME.f16, OUT/NAME.json (weights) and OUT/NAME.log.
set -uo pipefail
out=$1 data=$2 minutes=$3
shift 3
per=${ROUND_EXAMPLES:-40000} seed=${SEED:-1} rounds=${ROUNDS:-1}
round() {  # round K, with W workers
  # shellcheck disable=SC2086
  node --import tsx bench/fidelity/makeData.ts --out "$data/r$1" --workers "$2" --examples "$per" --seed $((seed + $1 * per)) ${DATA_ARGS:-} > "$data/r$1.log" 2>&1
}
if ! ls "$data"/r*/part-0.json > /dev/null 2>&1; then
  mkdir -p "$data"
  t0=$(date +%s)
  round 0 "$(nproc)" || { cat "$data/r0.log"; exit 1; }
  echo "sweep: data in $(( $(date +%s) - t0 )) s"
fi
if [ "$rounds" -gt 1 ]; then
  # Two cores stay with the trainers, which feed the GPU from Python.
  (for k in $(seq 1 $((rounds - 1))); do round "$k" "$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))" || break; done) &
  maker=$!
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
[ -n "${maker:-}" ] && kill -- "$maker" 2>/dev/null && pkill -f "makeData.ts --out $data" 2>/dev/null
for spec in "$@"; do
  name=${spec%%:*}
  cp "/tmp/sweep-$name/weights.f16" "$out/$name.f16" 2>/dev/null
  cp "/tmp/sweep-$name/weights.json" "$out/$name.json" 2>/dev/null
  grep '"event": "done"' "$out/$name.log" | sed "s/^/$name: /"
done
exit $status
