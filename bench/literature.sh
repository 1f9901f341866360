#!/usr/bin/env bash
# The literature's RBM experiments, rerun with this project (issue 24, item 5), the papers' figures
# printed beside ours:
#   sm   Salakhutdinov & Murray (ICML 2008): 784x500 RBMs on binarised digits by CD-1, CD-3, CD-25 and
#        PCD-1 (Tieleman 2008), each scored by AIS (100 runs x 14,500 temperatures from the base-rate
#        model) with its 3-standard-error interval: held-out log-likelihood per image, in nats.
#   lb   Larochelle & Bengio (ICML 2008): classification RBMs trained generatively, discriminatively
#        and by the hybrid objective; held-out error (%).
#   dbn  Hinton, Osindero & Teh (2006) / Hinton & Salakhutdinov (2006): a 784-500-500-2000 stack with
#        labels, greedy then fine-tuned by backpropagation; held-out error (%).
#
#   bench/literature.sh [--data DIR|fashion-mnist] [--only sm,lb,dbn] [--epochs N] [--out DIR]
#
# --data: a directory with train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz] (and labels);
# default the built-in 10,000 training digits. Someone who has the original 60,000 MNIST digits points
# --data at them and runs the papers' own setting. --epochs: the sm models' passes over the training
# set (default 100 on 10,000 images, i.e. 10,000 updates of 100 images; the papers made far more).
# Results: OUT/<section>-*.json and a Markdown table on stdout (also OUT/table.md).
# Cost on the 2-core CPU machine, built-in digits: sm ~35 min (CD-25 most of it), lb ~4 min, dbn ~10 min.
set -euo pipefail
cd "$(dirname "$0")/.."
rbm=${RBM:-build/host/rbm}
data="" only="sm,lb,dbn" epochs=100 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "bench/literature.sh: unknown argument '$1' (--data DIR, --only sm,lb,dbn, --epochs N, --out DIR)" >&2; exit 2 ;;
  esac
done
name=$(basename "${data:-digits}")
out=${out:-bench/results/literature/$name}
mkdir -p "$out"
data_flag=()
[ -n "$data" ] && data_flag=(--data "$data")
device=(--device "${DEVICE:-auto}")
has() { [[ ",$only," == *",$1,"* ]]; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if has sm; then
  # Their recipe as far as the paper gives it: 500 hidden units, batches of 100, binarised pixels,
  # momentum 0.5 then 0.9, weight decay 0.0002; PCD at a fifth of CD's rate (Tieleman 2008).
  common=("${data_flag[@]}" "${device[@]}" --binarize --hidden 500 --batch 100 --epochs "$epochs" --weight-decay 0.0002
          --initial-momentum 0.5 --momentum-epochs 5 --momentum 0.9 --seed 1 --quiet)
  for run in "cd1 --k 1 --lr 0.05" "cd3 --k 3 --lr 0.05" "cd25 --k 25 --lr 0.05" "pcd1 --k 1 --pcd --lr 0.01"; do
    set -- $run
    tag=$1; shift
    log "sm $tag: training"
    "$rbm" train "${common[@]}" "$@" --out "$out/sm-$tag" >/dev/null
    log "sm $tag: AIS"
    "$rbm" evaluate "${data_flag[@]}" "${device[@]}" --model "$out/sm-$tag/model.safetensors" --ais-runs 100 \
      --ais-steps 14500 --pll-samples 0 --json "$out/sm-$tag.json" >/dev/null 2>&1
  done
fi

if has lb; then
  # The classification RBM at rbm train --labels's defaults (500 hidden units, batches of 20, rate 0.3
  # decaying by 0.8 an epoch, 10 epochs), the objective alone changed.
  for objective in generative discriminative hybrid; do
    log "lb $objective"
    "$rbm" train "${data_flag[@]}" "${device[@]}" --labels --objective "$objective" --seed 1 --quiet \
      --out "$out/lb-$objective" >/dev/null
    "$rbm" classify "${data_flag[@]}" --model "$out/lb-$objective/model.safetensors" --json "$out/lb-$objective.json" >/dev/null
  done
fi

if has dbn; then
  # The greedy 784-500-500-2000 stack at rbm train's defaults with labels, then fine-tuned (the best
  # epoch on the last 2,000 training images kept, as bench/fine_tune_quality.py does).
  log "dbn"
  "$rbm" train "${data_flag[@]}" "${device[@]}" --hidden 500,500,2000 --labels --validation 2000 --fine-tune 50 \
    --seed 1 --quiet --out "$out/dbn" >/dev/null
  "$rbm" classify "${data_flag[@]}" --model "$out/dbn/model.safetensors" --json "$out/dbn.json" >/dev/null
  "$rbm" classify "${data_flag[@]}" --greedy --model "$out/dbn/model.safetensors" --json "$out/dbn-greedy.json" >/dev/null
fi

python3 bench/literature_table.py "$out" "$name" | tee "$out/table.md"
