#!/usr/bin/env bash
# The CPU benchmark table: this project's CD-k update (rbm_bench) beside the same machine's OpenBLAS
# SGEMM, scikit-learn's BernoulliRBM, a NumPy transcription of the tutorial and (when installed) plain
# PyTorch, measured in one run on the same data. About 5-10 minutes on 2 cores. Peers' packages come
# from PyPI (bench/setup_peers.sh); the build and tests never need them.
# Output: bench/results/*.json, bench/results/table.md, bench/results/throughput.png.
set -uo pipefail
cd "$(dirname "$0")/.."
out=bench/results
mkdir -p "$out"
hidden=${HIDDEN:-50,500,2000}
batch=${BATCH:-10,100,1000,4096}
echo "# $(date -u +%F), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null)"
build/bench/rbm_bench --device cpu --hidden "$hidden" --batch "$batch" --k 1 --reps 5 --seconds 0.3 --json "$out/rbm-cpu.json"
build/bench/rbm_bench --device cpu --hidden 500 --batch 100,1000 --k 10 --reps 5 --seconds 0.3 --json "$out/rbm-cpu-k10.json"
build/bench/rbm_bench --device cpu --hidden 500 --batch 100,1000 --k 1 --pcd --reps 5 --seconds 0.3 --json "$out/rbm-cpu-pcd.json"
for peer in sklearn_peer numpy_tutorial torch_peer; do
  python3 "bench/peers/$peer.py" --hidden "$hidden" --batch "$batch" --k 1 --json "$out/$peer.json" ||
    echo "($peer: not run; see bench/setup_peers.sh)"
done
for peer in numpy_tutorial torch_peer; do  # CD-10 (scikit-learn has PCD-1 only)
  python3 "bench/peers/$peer.py" --hidden 500 --batch 100,1000 --k 10 --json "$out/$peer-k10.json" ||
    echo "($peer k=10: not run)"
done
python3 bench/report.py "$out"/*.json --plot "$out/throughput.png" | tee "$out/table.md"

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
