#!/usr/bin/env bash
# One prepared command for a machine with an NVIDIA GPU (see README "GPU check"), most valuable first:
#   1. build for the GPU's architecture (sm_90 on H100/H200) with the libraries carried as .debs,
#   2. the `gpu`-labelled tests alone, first (with RBM_GPU_TESTS_REQUIRED=1 where a GPU is seen, so a
#      broken driver fails them instead of turning them into skips), then every other test,
#   3. the throughput table: this project on the GPU (FP32/TF32/BF16) beside cuBLAS and plain
#      PyTorch (eager and CUDA graph) on the same card, and the CPU,
#   4. compute-sanitizer memcheck, racecheck and initcheck over a short training run,
#   5. ten epochs of `rbm train` on the GPU.
# It keeps to GPU_CHECK_SECONDS (default 540: the device tool allows 600 per call), skipping what no
# longer fits and saying so. summary.txt says, step by step, what ran (and how it ended) and what was
# skipped and why; it is written as it goes, so a cut-off run still reports.
# Logs and JSON go to $OUT (the device tool's folder) or bench/results. Without a GPU the GPU steps
# say so and are skipped, so the script can be rehearsed anywhere. Before a device call, run
# bench/fetch_gpu_deps.sh here and carry bench/.deps: whenever bench/.deps/debs is there, the build
# uses those packages (whatever the machine has installed itself).
set -uo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
out=${OUT:-$root_dir/bench/results}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
status=0
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-540}))
step() { printf '\n== %s (%d s left)\n' "$*" "$((deadline - SECONDS))"; }
note() { printf '%s\n' "$*" | tee -a "$out/summary.txt"; }
# ran NAME RESULT / skipped NAME WHY: one line per step in the summary's step list.
ran() { printf 'ran      %-34s %s\n' "$1" "$2" >>"$out/steps.txt"; }
skipped() { printf 'skipped  %-34s %s\n' "$1" "$2" >>"$out/steps.txt"; }
# fits SECONDS NAME: whether NAME, needing about SECONDS, still fits the budget (else records the skip)
fits() {
  [ $((deadline - SECONDS)) -ge "$1" ] && return 0
  skipped "$2" "$((deadline - SECONDS)) s left of the budget, needs ~$1 s"
  note "$2: skipped, $((deadline - SECONDS)) s left of the budget (needs ~$1 s)"
  return 1
}
: >"$out/summary.txt"
: >"$out/steps.txt"

# --- dependencies: the carried .debs, unpacked under bench/.deps/root, whenever they are there
cmake_args=()
if [ -d bench/.deps/debs ] && ls bench/.deps/debs/*.deb >/dev/null 2>&1; then
  step "unpacking carried .debs"
  dep=$root_dir/bench/.deps/root
  rm -rf "$dep" && mkdir -p "$dep"
  for f in bench/.deps/debs/*.deb; do dpkg -x "$f" "$dep"; done
  lib=$dep/usr/lib/x86_64-linux-gnu
  # dpkg -x runs no maintainer scripts: make the links update-alternatives and ldconfig would have made.
  ln -sf libopenblas.so.0 "$lib/openblas-pthread/libopenblas.so" 2>/dev/null || true
  [ -e "$lib/libz.so" ] || ln -sf "$(ls "$dep"/lib/x86_64-linux-gnu/libz.so.1.* "$lib"/libz.so.1.* 2>/dev/null | head -1)" "$lib/libz.so"
  export LD_LIBRARY_PATH="$lib/openblas-pthread:$lib:$dep/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  # OpenBLAS through FindBLAS as it is meant to be pointed: BLA_VENDOR (set in CMakeLists.txt) and a
  # library search path that holds it (FindBLAS ignores a preset BLAS_LIBRARIES).
  cmake_args+=(-DCMAKE_PREFIX_PATH="$dep/usr;$lib/cmake;$dep/usr/share/cmake"
               -DCMAKE_LIBRARY_PATH="$lib/openblas-pthread;$lib"
               -DRBM_CBLAS_INCLUDE_DIR="$dep/usr/include/x86_64-linux-gnu/openblas-pthread"
               -DZLIB_INCLUDE_DIR="$dep/usr/include" -DZLIB_LIBRARY="$lib/libz.so"
               -DPNG_PNG_INCLUDE_DIR="$dep/usr/include" -DPNG_LIBRARY="$lib/libpng16.so"
               -DCMAKE_CXX_FLAGS="-isystem $dep/usr/include")
  ran "dependencies" "the carried .debs ($(ls bench/.deps/debs/*.deb | wc -l) packages) under bench/.deps/root"
else
  skipped "carried dependencies" "no bench/.deps/debs (run bench/fetch_gpu_deps.sh and carry bench/.deps); using the system's"
fi

# --- the GPU, if any
arch=90
gpu=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
  [ -n "$cc" ] && arch=$cc
  note "GPU: $gpu (sm_$arch)"
else
  note "GPU: none usable here; GPU steps are skipped (tests of label gpu skip and say why)"
fi

step "build (CUDA architectures ${arch}-real)"
build=$root_dir/build-gpu
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRBM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${arch}-real" \
         "${cmake_args[@]}" >"$out/build.log" 2>&1 &&
       cmake --build "$build" --parallel "$(nproc)" >>"$out/build.log" 2>&1; }; then
  tail -40 "$out/build.log"
  ran "build" "FAILED (see build.log)"
  note "build: FAILED (see build.log)"
  cat "$out/steps.txt"
  exit 1
fi
blas=$(grep -E "^BLAS_(openblas_LIBRARY|LIBRARIES)[:A-Z]*=" "$build/CMakeCache.txt" | head -1 | cut -d= -f2)
ran "build" "ok (sm_$arch; BLAS: ${blas:-?})"
note "build: ok (BLAS: ${blas:-?})"

# tests LABEL-ARGS NAME LOG LIMIT: one ctest call, its one-line result in the summary.
run_tests() {
  local name=$1 log=$2 limit=$3
  shift 3
  if timeout "$limit" ctest --test-dir "$build" --output-on-failure --timeout 200 -j"$(nproc)" "$@" >"$log" 2>&1; then
    ran "$name" "$(grep -E "tests passed|tests failed" "$log" | tail -1)"
  else
    status=1
    local line
    line=$(grep -E "tests passed|tests failed" "$log" | tail -1)
    ran "$name" "FAILED: ${line:-cut off after $limit s}"
  fi
  grep -E "tests passed|tests failed" "$log" | tail -1 | xargs -0 printf "$name: %s" | tee -a "$out/summary.txt"
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Exception)" "$log" | head -20 | tee -a "$out/summary.txt"
}

step "tests: the gpu label first"
if [ -n "$gpu" ]; then
  export RBM_GPU_TESTS_REQUIRED=1  # a GPU is here: "no usable GPU" is a failure, not a skip
fi
limit=$((deadline - SECONDS - 300))  # leave ~5 minutes for the rest
[ "$limit" -lt 60 ] && limit=60
run_tests "tests, label gpu" "$out/tests-gpu.log" "$limit" -L gpu
gpu_tests=$(grep -cE "Test +#[0-9]+: .* Passed" "$out/tests-gpu.log")
gpu_skipped=$(grep -cE "Test +#[0-9]+: .*Skipped" "$out/tests-gpu.log")
note "gpu-labelled tests: $gpu_tests passed, $gpu_skipped skipped"

step "tests: every other label"
limit=$((deadline - SECONDS - 240))  # leave ~4 minutes for the throughput table
[ "$limit" -lt 60 ] && limit=60
run_tests "tests, other labels" "$out/tests.log" "$limit" -LE gpu
grep -E "link_rbm:" "$out/tests.log" | head -3

step "throughput"
if [ -z "$gpu" ]; then
  skipped "GPU throughput table" "no GPU"
elif fits 60 "GPU throughput table"; then
  if timeout $((deadline - SECONDS - 30)) "$build/bench/rbm_bench" --device cuda --hidden 50,500,2000 \
       --batch 100,1000,4096 --k 1,10 --pcd --gemm fp32 --json "$out/bench-gpu.json" >"$out/bench-gpu.txt" 2>&1; then
    ran "GPU throughput table" "ok (bench-gpu.txt)"
  else
    status=1 && ran "GPU throughput table" "FAILED or cut off (bench-gpu.txt)"
  fi
  # The peer on the same card: plain PyTorch, eager and replayed as a CUDA graph.
  if ! python3 -c "import torch" 2>/dev/null; then
    skipped "PyTorch on the GPU" "python3 cannot import torch here"
  elif fits 40 "PyTorch on the GPU"; then
    if timeout $((deadline - SECONDS - 20)) python3 bench/peers/torch_peer.py --devices cuda --hidden 50,500,2000 \
         --batch 100,1000,4096 --k 1,10 --reps 3 --seconds 0.3 --json "$out/torch.json" >"$out/torch.txt" 2>&1; then
      ran "PyTorch on the GPU" "ok (torch.txt)"
    else
      status=1 && ran "PyTorch on the GPU" "FAILED or cut off (torch.txt)"
    fi
  fi
  if fits 30 "GPU TF32/BF16 rows"; then
    if timeout $((deadline - SECONDS - 10)) "$build/bench/rbm_bench" --device cuda --hidden 500 --batch 100,1000 --k 1 \
         --gemm tf32,bf16 --json "$out/bench-gpu-lowp.json" >"$out/bench-gpu-lowp.txt" 2>&1; then
      ran "GPU TF32/BF16 rows" "ok (bench-gpu-lowp.txt)"
    else
      status=1 && ran "GPU TF32/BF16 rows" "FAILED or cut off"
    fi
  fi
  if fits 30 "GPU Gaussian rows"; then
    if timeout $((deadline - SECONDS - 10)) "$build/bench/rbm_bench" --device cuda --visible gaussian --hidden 500 \
         --batch 100,1000 --k 1 --json "$out/bench-gpu-gauss.json" >"$out/bench-gpu-gauss.txt" 2>&1; then
      ran "GPU Gaussian rows" "ok (bench-gpu-gauss.txt)"
    else
      status=1 && ran "GPU Gaussian rows" "FAILED or cut off"
    fi
  fi
fi
if [ -z "$gpu" ] || fits 200 "CPU rows beside the GPU's"; then
  if "$build/bench/rbm_bench" --device cpu --hidden 500 --batch 100,1000 --k 1 --reps 3 \
       --json "$out/bench-cpu.json" >"$out/bench-cpu.txt" 2>&1; then
    ran "CPU rows" "ok (bench-cpu.txt)"
  else
    status=1 && ran "CPU rows" "FAILED (bench-cpu.txt)"
  fi
fi
python3 bench/report.py "$out"/bench-*.json $(ls "$out"/torch.json 2>/dev/null) >"$out/table.md" 2>&1 || true
grep -E "^- GPU" "$out/table.md" | tee -a "$out/summary.txt"

step "compute-sanitizer over a short training run"
if [ -z "$gpu" ]; then
  skipped "compute-sanitizer (3 tools)" "no GPU"
elif ! command -v compute-sanitizer >/dev/null; then
  skipped "compute-sanitizer (3 tools)" "compute-sanitizer is not on PATH"
else
  run=("$build/host/rbm" train --device cuda --train-limit 500 --test-limit 200 --epochs 1 --hidden 64 --batch 100 --quiet)
  for tool in memcheck racecheck initcheck; do
    fits 60 "compute-sanitizer $tool" || { status=1; continue; }
    limit=$((deadline - SECONDS - 40))
    [ "$limit" -gt 150 ] && limit=150
    if timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 9 "${run[@]}" --out "$out/san-$tool" \
         >"$out/sanitizer-$tool.log" 2>&1; then
      ran "compute-sanitizer $tool" "clean ($(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1))"
      note "compute-sanitizer $tool: clean ($(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1))"
    else
      ran "compute-sanitizer $tool" "FAILED or cut off after ${limit} s"
      note "compute-sanitizer $tool: FAILED or cut off after ${limit} s ($(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1))"
      grep -m5 -E "=========" "$out/sanitizer-$tool.log"
      status=1
    fi
  done
  rm -rf "$out"/san-*
fi

step "end-to-end training on the GPU"
if [ -z "$gpu" ]; then
  skipped "rbm train on the GPU" "no GPU"
elif fits 40 "rbm train on the GPU"; then
  if ( time timeout $((deadline - SECONDS - 10)) "$build/host/rbm" train --device cuda --epochs 10 --out "$out/run-gpu" ) \
       >"$out/train-gpu.log" 2>&1; then
    ran "rbm train on the GPU" "ok (train-gpu.log)"
  else
    status=1 && ran "rbm train on the GPU" "FAILED or cut off (train-gpu.log)"
  fi
  tail -4 "$out/train-gpu.log" | tee -a "$out/summary.txt"
  rm -f "$out/run-gpu/model.safetensors"
fi

step "labels and a stack on the GPU (a labelled 2-layer stack under memcheck, then 784-500-500-2000, an epoch a layer)"
if [ -z "$gpu" ]; then
  skipped "labels and stacks on the GPU" "no GPU"
else
  if command -v compute-sanitizer >/dev/null && fits 60 "compute-sanitizer memcheck, labels"; then
    limit=$((deadline - SECONDS - 40))
    [ "$limit" -gt 120 ] && limit=120
    # The label kernels, and the stack's propagation on the device (sampled) into the labelled top layer.
    if timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 9 "$build/host/rbm" train --device cuda \
         --labels --objective hybrid --alpha 0.1 --k 2 --pcd --train-limit 300 --test-limit 100 --epochs 1 --hidden 32,24 \
         --propagate sample --batch 50 --quiet --out "$out/san-labels" >"$out/sanitizer-labels.log" 2>&1; then
      ran "compute-sanitizer memcheck, labels" "clean"
    else
      status=1 && ran "compute-sanitizer memcheck, labels" "FAILED or cut off ($(grep -E 'ERROR SUMMARY' "$out/sanitizer-labels.log" | tail -1))"
    fi
    rm -rf "$out/san-labels"
  fi
  # Hinton et al.'s shape, one epoch a layer (CD-1, batch 100, as bench/dbn_bench.py on the CPU): each
  # layer's training samples/s from its metrics.csv, and the propagation's share of the wall time.
  if fits 40 "a labelled stack on the GPU"; then
    if ( time timeout $((deadline - SECONDS - 10)) "$build/host/rbm" train --device cuda --hidden 500,500,2000 --labels \
           --objective hybrid --alpha 0.1 --epochs 1 --lr 0.1 --batch 100 --out "$out/run-gpu-dbn" ) \
         >"$out/train-gpu-dbn.log" 2>&1; then
      ran "a labelled stack on the GPU" "ok (train-gpu-dbn.log)"
      awk -F, 'NR > 1 && $2 == 1 { printf "stack layer %s: %s training samples/s\n", $1, $5 }' \
        "$out/run-gpu-dbn/metrics.csv" | tee -a "$out/summary.txt"
    else
      status=1 && ran "a labelled stack on the GPU" "FAILED or cut off (train-gpu-dbn.log)"
    fi
    grep -E "trained a|test set|^real" "$out/train-gpu-dbn.log" | tee -a "$out/summary.txt"
    rm -rf "$out/run-gpu-dbn"
  fi
fi

step "the Python package's GPU tests (CUDA arrays in place, MemoryError)"
# Needs NumPy, SciPy and scikit-learn on the machine (not carried: compiled wheels are version-bound
# and large); the build's own Python tools come as carried pure-Python wheels (bench/.deps/wheels).
if [ -z "$gpu" ]; then
  skipped "Python package on the GPU" "no GPU"
elif ! python3 -c "import numpy, scipy, sklearn, pytest" 2>/dev/null; then
  skipped "Python package on the GPU" "python3 cannot import numpy, scipy, scikit-learn and pytest here"
elif fits 150 "Python package on the GPU"; then
  if timeout $((deadline - SECONDS - 10)) bash -c "python3 -m pip install --quiet --no-index --find-links bench/.deps/wheels \
       --no-build-isolation --target '$out/pydist' ./python && PYTHONPATH='$out/pydist' python3 -m pytest -q \
       -p no:cacheprovider python/tests/test_device.py" >"$out/python-gpu.log" 2>&1; then
    ran "Python package on the GPU" "ok ($(tail -1 "$out/python-gpu.log"))"
  else
    status=1 && ran "Python package on the GPU" "FAILED or cut off (python-gpu.log)"
  fi
  rm -rf "$out/pydist"
fi

step "summary"
{
  echo
  echo "steps (status $status; $((deadline - SECONDS)) s of the budget left):"
  cat "$out/steps.txt"
} >>"$out/summary.txt"
cat "$out/summary.txt"
echo
[ -f "$out/bench-gpu.txt" ] && cat "$out/bench-gpu.txt"
[ -f "$out/bench-gpu-lowp.txt" ] && tail -n +4 "$out/bench-gpu-lowp.txt"
[ -f "$out/bench-gpu-gauss.txt" ] && tail -n +4 "$out/bench-gpu-gauss.txt"
[ -f "$out/bench-cpu.txt" ] && cat "$out/bench-cpu.txt"
grep -E "^\| (rbm|PyTorch)" "$out/table.md" | head -40
exit $status
