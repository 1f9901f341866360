#!/usr/bin/env bash
# The learning-rate sweep behind --optimizer's defaults (issue 24, item 1): a 784-500 Bernoulli RBM,
# CD-1, trained at each rate of a grid under SGD (momentum 0.5, the default) and under Adam, then
# scored by held-out log-likelihood (AIS, with its interval) and the mean-field reconstruction error.
# A rate that diverges or does not learn is a row too. Prints one CSV line per run.
#   bench/optimizer_sweep.sh [--data DIR|fashion-mnist] [--epochs N] [--train-limit N] [--out DIR]
#                            [--sgd "0.01 0.1 ..."] [--adam "0.0001 0.001 ..."] [--ais-steps N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rbm=${RBM:-$here/build/host/rbm}
data=() epochs=20 limit=0 out=${TMPDIR:-/tmp}/rbm-optimizer-sweep ais_steps=3000
sgd_rates="0.01 0.03 0.1 0.3 1" adam_rates="0.0001 0.0003 0.001 0.003 0.01"
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=(--data "$2"); shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --train-limit) limit=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sgd) sgd_rates=$2; shift 2 ;;
    --adam) adam_rates=$2; shift 2 ;;
    --ais-steps) ais_steps=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
echo "optimizer,lr,epochs,seconds,held_out_ll,ll_low,ll_high,recon_mean_field_test,note"
for opt in sgd adam; do
  rates=$sgd_rates
  [ "$opt" = adam ] && rates=$adam_rates
  for lr in $rates; do
    dir="$out/$opt-$lr"
    rm -rf "$dir"
    t0=$(date +%s.%N)
    note=""
    if ! "$rbm" train "${data[@]}" --train-limit "$limit" --hidden 500 --epochs "$epochs" --optimizer "$opt" \
        --lr "$lr" --device cpu --quiet --out "$dir" > "$dir.log" 2>&1; then
      note="training failed: $(tail -1 "$dir.log" | tr ',' ';')"
      echo "$opt,$lr,$epochs,,,,,,$note"
      continue
    fi
    grep -q "^warning" "$dir.log" && note="$(grep '^warning' "$dir.log" | head -1 | cut -c1-80 | tr ',' ';')"
    t1=$(date +%s.%N)
    "$rbm" evaluate "${data[@]}" --model "$dir/model.safetensors" --device cpu --ais-runs 100 \
      --ais-steps "$ais_steps" --pll-samples 0 --json "$dir/eval.json" > /dev/null 2>&1
    python3 - "$dir/eval.json" "$opt" "$lr" "$epochs" "$(echo "$t1 - $t0" | bc)" "$note" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
def find(d, *keys):
    for k in keys:
        if isinstance(d, dict) and k in d:
            d = d[k]
        else:
            return float("nan")
    return d
ll = j.get("ais", {})
print(",".join(map(str, [sys.argv[2], sys.argv[3], sys.argv[4], round(float(sys.argv[5]), 1),
                         find(ll, "log_likelihood"), find(ll, "log_likelihood_low"),
                         find(ll, "log_likelihood_high"), find(j, "recon_err_mean_field", "test"), sys.argv[6]])))
PY
  done
done
