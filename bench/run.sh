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

# measure NH BATCH K [--pcd]: one configuration (with --pcd: CD and PCD) on every implementation.
measure() {
  local nh=$1 b=$2 k=$3 pcd=${4:-} tag="$1-$2-$3"
  build/bench/rbm_bench --device cpu --hidden "$nh" --batch "$b" --k "$k" $pcd "${timing[@]}" \
    --json "$out/rows/rbm-$tag.json" | grep "^rbm "
  for peer in sklearn_peer numpy_tutorial torch_peer; do
    [ "$peer" = sklearn_peer ] && [ "$k" != 1 ] && continue  # BernoulliRBM does PCD-1 only
    extra=()  # torch.compile (~20 s per shape) where the headline is: 784x500 CD-1 at batch 100 and 1000
    [ "$peer" = torch_peer ] && [ "$pcd" = --pcd ] && extra=(--compile)
    python3 "bench/peers/$peer.py" --hidden "$nh" --batch "$b" --k "$k" "${timing[@]}" "${extra[@]}" \
      --json "$out/rows/$peer-$tag.json" || echo "($peer: not run; see bench/setup_peers.sh)"
  done
}
for nh in ${hidden//,/ }; do
  for b in ${batch//,/ }; do
    if [ "$nh" = 500 ] && { [ "$b" = 100 ] || [ "$b" = 1000 ]; }; then measure "$nh" "$b" 1 --pcd; else measure "$nh" "$b" 1; fi
  done
done
for b in 100 1000; do measure 500 "$b" 10; done
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
