#!/usr/bin/env bash
# The CPU benchmark table: this project's CD-k update (rbm_bench) beside the same machine's OpenBLAS
# SGEMM, scikit-learn's BernoulliRBM, a NumPy transcription of the tutorial and (when installed) plain
# PyTorch, measured in one run on the same data. About 5-10 minutes on 2 cores. Peers' packages come
# from PyPI (bench/setup_peers.sh); the build and tests never need them.
# Configuration by configuration, this project and then each peer back to back, so that the ratios
# compare numbers taken seconds apart (the development machine is a shared VM whose speed drifts).
# Output: bench/results/rows/*.json, bench/results/table.md, bench/results/throughput.png.
set -uo pipefail
cd "$(dirname "$0")/.."
out=bench/results
rm -rf "$out/rows"
mkdir -p "$out/rows"
hidden=${HIDDEN:-50,500,2000}
batch=${BATCH:-10,100,1000,4096}
timing=(--reps 5 --seconds 0.3)
echo "# $(date -u +%F), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null)"
# The sampling passes' cost per value on one thread (Philox per implementation, fused sigmoid + draw).
if [ -x build/bench/rbm_kernel_bench ]; then
  build/bench/rbm_kernel_bench 2>/dev/null | grep -E "^(philox|sigmoid|sample)" | tee "$out/kernels.txt"
fi

# measure NH BATCH: one model size and batch on every implementation. At batch >= 100 the whole grid
# of the issue: k in {1, 10}, CD and PCD for this project; k in {1, 10} for the NumPy and PyTorch
# peers (CD); scikit-learn's BernoulliRBM does PCD-1 only. torch.compile (~20 s of compiling per
# shape) at 784x500, batch 100 and 1000, CD-1.
measure() {
  local nh=$1 b=$2 ks=1 pcd=() tag="$1-$2"
  [ "$b" -ge 100 ] && ks=1,10 && pcd=(--pcd)
  build/bench/rbm_bench --device cpu --hidden "$nh" --batch "$b" --k "$ks" "${pcd[@]}" "${timing[@]}" \
    --json "$out/rows/rbm-$tag.json" | grep "^rbm "
  peer() {  # peer NAME K [extra...]
    local name=$1 k=$2
    shift 2
    python3 "bench/peers/$name.py" --hidden "$nh" --batch "$b" --k "$k" "${timing[@]}" "$@" \
      --json "$out/rows/$name-$tag-k$k.json" || echo "($name: not run; see bench/setup_peers.sh)"
  }
  peer sklearn_peer 1
  peer numpy_tutorial "$ks"
  if [ "$nh" = 500 ] && { [ "$b" = 100 ] || [ "$b" = 1000 ]; }; then peer torch_peer 1 --compile; else peer torch_peer 1; fi
  [ "$ks" = 1,10 ] && peer torch_peer 10
}
for nh in ${hidden//,/ }; do
  for b in ${batch//,/ }; do measure "$nh" "$b"; done
done
# The ratios that decide the targets, interleaved (bench/ab.py: A B A B ..., median ratio and its
# spread, a row over 15 % measured again): 784x500 against each peer, Bernoulli and Gaussian units.
# AB=0 skips them (about 6 minutes).
if [ "${AB:-1}" = 1 ]; then
  ab() {  # ab PEER BATCH [extra...]
    local peer=$1 b=$2
    shift 2
    python3 bench/ab.py --peer "$peer" --hidden 500 --batch "$b" "$@" \
      --json "$out/rows/ab-$peer-$b$(printf '%s' "$*" | tr -c 'a-z0-9' '-').json" || echo "(ab $peer $b: not run)"
  }
  for b in 10 100 1000; do ab torch_peer "$b"; ab numpy_tutorial "$b"; ab sklearn_peer "$b"; done
  for b in 100 1000; do ab torch_peer "$b" --visible gaussian; done
fi
python3 bench/report.py "$out"/rows/*.json --plot "$out/throughput.png" | tee "$out/table.md"

# One whole MNIST-sized epoch, end to end (process start, loading and inflating 60,000 images,
# the evaluations before and after, writing the files): Fashion-MNIST from the Debian package.
if [ -d /usr/share/datasets/fashion-mnist ] && [ -x /usr/bin/time ]; then
  echo
  echo "| whole process, one epoch of 60,000 Fashion-MNIST images (784x500, CD-1/PCD-1, batch 100) | seconds | peak RSS MiB |"
  echo "|---|---|---|"
  /usr/bin/time -f "%e %M" -o "$out/e2e-rbm.txt" build/host/rbm train --device cpu --data fashion-mnist --epochs 1 \
    --hidden 500 --batch 100 --quiet --out "$out/e2e-run" >/dev/null 2>&1 &&
    read -r secs kb <"$out/e2e-rbm.txt" && echo "| rbm train (evaluations included) | $secs | $((kb / 1024)) |"
  /usr/bin/time -f "%e %M" -o "$out/e2e-sklearn.txt" python3 bench/peers/sklearn_epoch.py \
    /usr/share/datasets/fashion-mnist >/dev/null 2>&1 &&
    read -r secs kb <"$out/e2e-sklearn.txt" && echo "| scikit-learn BernoulliRBM fit, n_iter=1 | $secs | $((kb / 1024)) |"
  /usr/bin/time -f "%e %M" -o "$out/e2e-torch.txt" python3 bench/peers/torch_epoch.py \
    /usr/share/datasets/fashion-mnist >/dev/null 2>&1 &&
    read -r secs kb <"$out/e2e-torch.txt" && echo "| plain PyTorch CD-1, CPU (import included) | $secs | $((kb / 1024)) |"
  rm -rf "$out/e2e-run"
fi
