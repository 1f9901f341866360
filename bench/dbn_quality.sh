#!/usr/bin/env bash
# Deep belief networks against their single RBM (issue 15): a 784-500-500 stack trained greedily (PCD-1:
# with CD-1 the top RBM's chains fall into a mode of blank pictures) on binarised pixels, its variational lower bound on the held-out log-likelihood beside the bottom RBM's
# own AIS log-likelihood (rbm evaluate on the stack), and the samples of the down pass; then a
# 784-500-500-2000 stack with labels on its top layer (Hinton et al. 2006's shape): its accuracy and a
# sheet of generated pictures, a row per class; then the same with a hybrid top, and its bound.
#   bench/dbn_quality.sh [digits|fashion] [OUT]     (RBM=path/to/rbm to choose the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
RBM=${RBM:-build/host/rbm}
which=${1:-digits}
out=${2:-runs/dbn-$which}
data=()
[ "$which" = fashion ] && data=(--data fashion-mnist)
mkdir -p "$out"
common=(--binarize --batch 100 --momentum 0.9 --initial-momentum 0.5 --momentum-epochs 5 --weight-decay 0.0002)
time "$RBM" train "${data[@]}" "${common[@]}" --hidden 500,500 --epochs 20,20 --lr 0.01 --pcd --quiet --out "$out/stack"
time "$RBM" evaluate "${data[@]}" --model "$out/stack/model.safetensors" --json "$out/stack/evaluate.json" \
  --bound-images 1000 --bound-samples 10
"$RBM" sample --model "$out/stack/model.safetensors" --chains 10 --steps 1000 --every 100 --out "$out/stack/samples.png"
time "$RBM" train "${data[@]}" "${common[@]}" --hidden 500,500,2000 --epochs 20,20,20 --lr 0.01 --pcd --labels \
  --objective generative --quiet --out "$out/labelled"
"$RBM" classify "${data[@]}" --model "$out/labelled/model.safetensors" --json "$out/labelled/classify.json" | head -3
"$RBM" sample --model "$out/labelled/model.safetensors" --class all --chains 10 --steps 1000 --out "$out/labelled/classes.png"
# The same shape with a hybrid top (discriminative + 0.01 x generative) at a tenfold rate: what classifies.
time "$RBM" train "${data[@]}" "${common[@]}" --hidden 500,500,2000 --epochs 20,20,20 --lr 0.01,0.01,0.1 --pcd --labels \
  --objective hybrid --alpha 0.01 --quiet --out "$out/hybrid"
"$RBM" classify "${data[@]}" --model "$out/hybrid/model.safetensors" --json "$out/hybrid/classify.json" | head -3
"$RBM" sample --model "$out/hybrid/model.safetensors" --class all --chains 10 --steps 1000 --out "$out/hybrid/classes.png"
# Its bound, the labels summed out of the top (one AIS per class, so fewer temperatures).
time "$RBM" evaluate "${data[@]}" --model "$out/hybrid/model.safetensors" --json "$out/hybrid/evaluate.json" \
  --bound-images 1000 --bound-samples 10 --ais-steps 3000
