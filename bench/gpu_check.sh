#!/usr/bin/env bash
# One prepared command for a machine with an NVIDIA GPU (docs/gpu.md, "GPU check"), correctness first:
#   deps        the carried .debs (bench/fetch_gpu_deps.sh, bench/.deps) unpacked, whenever they are there
#   build       rbm, rbm_gpu_tests and rbm_bench alone, for the GPU's architecture; the Python extension
#               starts building beside the tests, in the background
#   philox      the device generator continues the host's Philox sequence (every GPU test builds on it)
#   gpu-tests   the `gpu` label, -j4, OPENBLAS_NUM_THREADS=2, RBM_GPU_TESTS_REQUIRED=1 (no silent skips)
#   memcheck, racecheck, initcheck
#               compute-sanitizer over the kernel tests (Bernoulli, Gaussian and learned sigma, labels,
#               statistics, device arrays, propagation, categorical units, fine-tuning's small networks), not over
#               cuBLAS-bound training runs
#   train       rbm train --device cuda: 10 epochs of the built-in digits
#   stack       a labelled 784-500-500-2000 stack, an epoch a layer, propagated on the device, then two
#               epochs of fine-tuning there
#   python      the Python package's CUDA-array tests (its own producers with streams, PyTorch and CuPy
#               where the machine has them)
#   throughput  only then: rbm_bench FP32 / TF32 / BF16 / Gaussian rows and PyTorch on the same card,
#               in the time left (no CPU rows on device time)
# Each step has a budget and a hard limit; a step that no longer fits is skipped, saying so. The whole
# keeps to GPU_CHECK_SECONDS (default 540: one 9-minute device call, leaving a rerun's worth of a
# 15-minute lease). `--plan` lists the steps and budgets and exits; naming steps runs only those (and
# deps) (`bench/gpu_check.sh build throughput` on a warm machine: an incremental build, then the tables).
# Without a GPU the GPU steps are skipped and the end-to-end runs use the CPU: a rehearsal anywhere.
# Logs go to a work folder; $OUT (the device tool's folder; else bench/results) gets summary.txt,
# table.md, the benchmark JSON and logs.tar.gz (the device tool returns at most 8 files). The summary is
# printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="/usr/local/cuda/bin:$PATH"

# name budget-seconds what
steps=(
  "deps 10 the carried .debs under bench/.deps/root"
  "build 150 configure and build rbm, rbm_gpu_tests, rbm_bench (the Python extension then, in the background)"
  "philox 15 GpuModel.DevicePhiloxDrawsTheHostSequence alone"
  "gpu-tests 90 ctest -L gpu -j4 (OPENBLAS_NUM_THREADS=2, RBM_GPU_TESTS_REQUIRED=1)"
  "memcheck 60 compute-sanitizer memcheck over the kernel tests"
  "racecheck 40 compute-sanitizer racecheck over the kernel tests"
  "initcheck 40 compute-sanitizer initcheck over the kernel tests"
  "train 20 rbm train --device cuda, 10 epochs of the built-in digits"
  "stack 40 a labelled 784-500-500-2000 stack, an epoch a layer, two of fine-tuning"
  "python 50 python/tests/test_device.py against the extension built beside the tests"
  "throughput 0 rbm_bench FP32/TF32/BF16/Gaussian rows and PyTorch on the card, in the time left"
)
# GPU_CHECK_SCALE=N multiplies every budget and the total: a rehearsal on a 2-core machine builds for
# minutes, not the GPU machine's seconds.
scale=${GPU_CHECK_SCALE:-1}
total=$(( ${GPU_CHECK_SECONDS:-540} * scale ))
plan_only=0
selected=()
for a in "$@"; do
  case $a in
    --plan) plan_only=1 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) selected+=("$a") ;;
  esac
done
if [ "$plan_only" = 1 ]; then
  printf 'bench/gpu_check.sh: %d s in all (GPU_CHECK_SECONDS)\n' "$total"
  sum=0
  for s in "${steps[@]}"; do
    read -r name budget what <<<"$s"
    budget=$((budget * scale))
    sum=$((sum + budget))
    [ "$budget" = 0 ] && budget="rest"
    printf '  %-11s %5s s  %s\n' "$name" "$budget" "$what"
  done
  printf '  budgets before the throughput tables: %d s; the tables get what is left (at least %d s)\n' "$sum" "$((total - sum))"
  exit 0
fi
wanted() {
  [ ${#selected[@]} -eq 0 ] || [ "$1" = deps ] && return 0  # the carried libraries: always
  local s
  for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}
budget_of() {
  local s name budget what
  for s in "${steps[@]}"; do
    read -r name budget what <<<"$s"
    [ "$name" = "$1" ] && { echo $((budget * scale)); return; }
  done
  echo 0
}

out=${OUT:-$root/bench/results}
mkdir -p "$out"
work=$(mktemp -d /tmp/gpu_check.XXXXXX)
logs=$work/logs
mkdir -p "$logs"
build=$root/build-gpu
status=0
deadline=$((SECONDS + total))
: >"$work/summary.txt"
: >"$work/steps.txt"
note() { printf '%s\n' "$*" | tee -a "$work/summary.txt"; }
record() { printf '%-8s %-11s %s\n' "$1" "$2" "$3" >>"$work/steps.txt"; }  # ran|FAILED|skipped NAME TEXT
left() { echo $((deadline - SECONDS)); }
# begin NAME: whether to run step NAME now (selected, and its budget still fits); prints its header.
begin() {
  wanted "$1" || return 1
  local need
  need=$(budget_of "$1")
  if [ "$(left)" -lt "$need" ]; then
    record skipped "$1" "$(left) s left, needs ~$need s"
    return 1
  fi
  printf '== %s (%d s left)\n' "$1" "$(left)"
  return 0
}
# limit NAME: the step's hard limit in seconds: its budget, or what is left for the last step.
limit() {
  local b
  b=$(budget_of "$1")
  [ "$b" -gt 0 ] && echo "$b" || echo $(($(left) - 5))
}
first_errors() { grep -m "${2:-12}" -E "error:|Error|FAILED|Failure|ERROR" "$1"; }

# --- which GPU
gpu=""
arch=90
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
  [ -n "$cc" ] && arch=$cc
  note "GPU: $gpu (sm_$arch), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  export RBM_GPU_TESTS_REQUIRED=1  # a GPU is here: "no usable GPU" fails a test instead of skipping it
  dev=cuda
else
  note "GPU: none usable here: a rehearsal (GPU steps skipped, end-to-end runs on the CPU)"
  dev=cpu
fi

# --- deps
cmake_args=()
if begin deps; then
  if ls bench/.deps/debs/*.deb >/dev/null 2>&1; then
    dep=$root/bench/.deps/root
    rm -rf "$dep" && mkdir -p "$dep"
    for f in bench/.deps/debs/*.deb; do dpkg -x "$f" "$dep"; done
    lib=$dep/usr/lib/x86_64-linux-gnu
    # dpkg -x runs no maintainer scripts: the links update-alternatives and ldconfig would have made.
    ln -sf libopenblas.so.0 "$lib/openblas-pthread/libopenblas.so" 2>/dev/null || true
    [ -e "$lib/libz.so" ] || ln -sf "$(ls "$dep"/lib/x86_64-linux-gnu/libz.so.1.* "$lib"/libz.so.1.* 2>/dev/null | head -1)" "$lib/libz.so"
    export LD_LIBRARY_PATH="$lib/openblas-pthread:$lib:$dep/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
    # OpenBLAS through FindBLAS as it is meant to be pointed: BLA_VENDOR (CMakeLists.txt) and a library
    # search path that holds it (FindBLAS ignores a preset BLAS_LIBRARIES).
    cmake_args+=(-DCMAKE_PREFIX_PATH="$dep/usr;$lib/cmake;$dep/usr/share/cmake"
                 -DCMAKE_LIBRARY_PATH="$lib/openblas-pthread;$lib"
                 -DRBM_CBLAS_INCLUDE_DIR="$dep/usr/include/x86_64-linux-gnu/openblas-pthread"
                 -DZLIB_INCLUDE_DIR="$dep/usr/include" -DZLIB_LIBRARY="$lib/libz.so"
                 -DPNG_PNG_INCLUDE_DIR="$dep/usr/include" -DPNG_LIBRARY="$lib/libpng16.so"
                 -DCMAKE_CXX_FLAGS="-isystem $dep/usr/include")
    record ran deps "$(ls bench/.deps/debs/*.deb | wc -l) carried packages"
  else
    record skipped deps "no bench/.deps/debs (run bench/fetch_gpu_deps.sh here and carry bench/.deps): the system's"
  fi
fi

# --- build: only what the steps run
if begin build; then
  targets=(rbm rbm_gpu_tests rbm_bench)
  t0=$SECONDS
  if timeout "$(limit build)" bash -c '
       cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRBM_CUDA=ON -DRBM_PLOTS=OFF \
         -DCMAKE_CUDA_ARCHITECTURES="$2-real" "${@:4}" && cmake --build "$1" --parallel "$(nproc)" --target $3' \
       _ "$build" "$arch" "${targets[*]}" "${cmake_args[@]}" >"$logs/build.log" 2>&1; then
    record ran build "ok in $((SECONDS - t0)) s (sm_$arch)"
  else
    record FAILED build "after $((SECONDS - t0)) s (logs/build.log)"
    note "build FAILED; its first errors:"
    first_errors "$logs/build.log" 15 | tee -a "$work/summary.txt"
    status=1
  fi
fi
have() { [ -x "$build/$1" ]; }

# The Python extension, beside the tests (the CPUs are idle while the GPU tests run): the package's
# own CMake project, built without pip (pybind11 from the machine, else from the carried wheels).
py_pid=""
if wanted python && have host/rbm; then
  pyb=$(python3 -m pybind11 --cmakedir 2>/dev/null)
  if [ -z "$pyb" ] && ls bench/.deps/wheels/pybind11-*.whl >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-index --no-deps \
      --target "$work/pybind11" bench/.deps/wheels/pybind11-*.whl &&
      pyb=$(PYTHONPATH=$work/pybind11 python3 -m pybind11 --cmakedir 2>/dev/null)
  fi
  if [ -n "$pyb" ]; then
    # Its own process group (setsid), so that the summary can stop it if it is still building.
    # Python_EXECUTABLE: the python3 that runs the tests (the GPU machine's is a venv's), not another one.
    setsid bash -c 'cmake -S python -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRBM_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="$2-real" -Dpybind11_DIR="$3" -DPython_EXECUTABLE="$(command -v python3)" "${@:5}" &&
      cmake --build "$1" --parallel "$4" --target _core' _ "$root/build-gpu-python" "$arch" "$pyb" \
      "$(( $(nproc) / 2 + 1 ))" "${cmake_args[@]}" >"$logs/python-build.log" 2>&1 &
    py_pid=$!
  else
    echo "no pybind11 on this machine and none carried" >"$logs/python-build.log"
  fi
fi

export OPENBLAS_NUM_THREADS=2
gtest=$build/tests/rbm_gpu_tests
# gtest NAME FILTER LOG: the GPU test binary on FILTER under the step's limit.
gtest_step() {
  if timeout "$(limit "$1")" "$gtest" --gtest_filter="$2" --gtest_brief=1 >"$3" 2>&1; then
    record ran "$1" "$(grep -E '^\[  PASSED  \]|tests? ran' "$3" | tail -1)"
  else
    record FAILED "$1" "$(grep -cE '^\[  FAILED  \]' "$3") failed or cut off at $(limit "$1") s ($(basename "$3"))"
    grep -m8 -E '^\[  FAILED  \]|Failure|error' "$3" | tee -a "$work/summary.txt"
    status=1
  fi
}

if begin philox && have tests/rbm_gpu_tests; then
  gtest_step philox "GpuModel.DevicePhiloxDrawsTheHostSequence" "$logs/philox.log"
fi

if begin gpu-tests && have tests/rbm_gpu_tests; then
  if timeout "$(limit gpu-tests)" ctest --test-dir "$build" -L gpu -j4 --timeout 120 --output-on-failure \
       >"$logs/gpu-tests.log" 2>&1; then
    record ran gpu-tests "$(grep -E 'tests passed|tests failed' "$logs/gpu-tests.log" | tail -1)"
  else
    record FAILED gpu-tests "$(grep -E 'tests passed|tests failed' "$logs/gpu-tests.log" | tail -1) (logs/gpu-tests.log)"
    status=1
  fi
  note "gpu tests: $(grep -cE 'Test +#[0-9]+: .* Passed' "$logs/gpu-tests.log") passed, $(grep -cE 'Test +#[0-9]+: .*Skipped' "$logs/gpu-tests.log") skipped"
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Exception|Subprocess)" "$logs/gpu-tests.log" | head -20 | tee -a "$work/summary.txt"
fi

# The kernel tests (every custom kernel family at small sizes), not whole runs (mostly cuBLAS).
kernels='GpuKernels.*:GpuKernelsGaussian.*:GpuLabelKernels.*:*GpuCdStep.*:*GpuGaussianCdStep.*:*GpuLabelStep.*:*GpuAdamCdStep.*:GpuFineTune.AClassifier*:GpuCategorical.*:*GpuCategoricalStep*/labels_hybrid:GpuGradientHookModel.*:*GpuTempering*/bernoulli_r4_k1:*GpuTempering*/categorical_r3'
kernels+=':-GpuKernels.OutOfMemoryNamesTheRequest'
for tool in memcheck racecheck initcheck; do
  begin "$tool" || continue
  if [ -z "$gpu" ]; then
    record skipped "$tool" "no GPU"
  elif ! command -v compute-sanitizer >/dev/null; then
    record skipped "$tool" "compute-sanitizer is not on PATH"
  elif have tests/rbm_gpu_tests; then
    log=$logs/sanitizer-$tool.log
    if timeout "$(limit "$tool")" compute-sanitizer --tool "$tool" --error-exitcode 9 --print-limit 20 \
         "$gtest" --gtest_filter="$kernels" --gtest_brief=1 >"$log" 2>&1; then
      record ran "$tool" "clean: $(grep -E 'ERROR SUMMARY' "$log" | tail -1 | sed 's/=* *//')"
    else
      record FAILED "$tool" "$(grep -E 'ERROR SUMMARY' "$log" | tail -1 | sed 's/=* *//') or cut off at $(limit "$tool") s"
      grep -m6 -E "^========= (Invalid|Uninitialized|Race|Error|Program hit)|^\[  FAILED" "$log" | tee -a "$work/summary.txt"
      status=1
    fi
  fi
done

# --- end to end
if begin train && have host/rbm; then
  if ( time timeout "$(limit train)" "$build/host/rbm" train --device "$dev" --epochs 10 --out "$work/run" ) \
       >"$logs/train.log" 2>&1; then
    record ran train "ok on $dev: $(grep -E '^real' "$logs/train.log" | awk '{print $2}')"
    grep -E "^epoch (1|10)/|^trained" "$logs/train.log" | cut -c1-150 | tee -a "$work/summary.txt"
  else
    record FAILED train "on $dev (logs/train.log)"
    first_errors "$logs/train.log" 5 | tee -a "$work/summary.txt"
    status=1
  fi
fi

if begin stack && have host/rbm; then
  # Hinton et al.'s shape, an epoch a layer, the top labelled (hybrid): each layer's samples/s from its
  # metrics.csv, the test accuracy. Without a GPU (a rehearsal): a small stack on the CPU.
  shape=(--hidden 500,500,2000)
  [ -z "$gpu" ] && shape=(--hidden 50,40 --train-limit 2000 --test-limit 500)
  if ( time timeout "$(limit stack)" "$build/host/rbm" train --device "$dev" "${shape[@]}" --labels \
         --objective hybrid --alpha 0.1 --epochs 1 --batch 100 --fine-tune 2 --quiet --out "$work/stack" ) \
       >"$logs/stack.log" 2>&1; then
    record ran stack "ok on $dev: $(grep -E '^real' "$logs/stack.log" | awk '{print $2}')"
    awk -F, 'NR > 1 && $2 == 1 { printf "stack layer %s: %s training samples/s\n", $1, $5 }' \
      "$work/stack/metrics.csv" | tee -a "$work/summary.txt"
    grep -E "^(trained|fine-tuned|test set)" "$logs/stack.log" | cut -c1-200 | tee -a "$work/summary.txt"
  else
    record FAILED stack "on $dev (logs/stack.log)"
    first_errors "$logs/stack.log" 5 | tee -a "$work/summary.txt"
    status=1
  fi
fi

# --- Python: the extension built beside the tests, the package from the tree, its CUDA-array tests
if begin python; then
  if [ -z "$py_pid" ]; then
    record skipped python "no extension build ($(tail -1 "$logs/python-build.log" 2>/dev/null || echo 'not started'))"
  elif ! python3 -c "import numpy, scipy, sklearn, pytest" 2>/dev/null; then
    record skipped python "python3 here cannot import numpy, scipy, scikit-learn and pytest"
  else
    waited=0
    while kill -0 "$py_pid" 2>/dev/null && [ "$waited" -lt "$(limit python)" ]; do sleep 2; waited=$((waited + 2)); done
    so=$(ls "$root"/build-gpu-python/_core*.so 2>/dev/null | head -1)
    if kill -0 "$py_pid" 2>/dev/null || [ -z "$so" ]; then
      kill -- "-$py_pid" 2>/dev/null
      record FAILED python "the extension did not build (logs/python-build.log)"
      first_errors "$logs/python-build.log" 8 | tee -a "$work/summary.txt"
      status=1
    else
      mkdir -p "$work/py/rbm" && cp python/rbm/*.py "$so" "$work/py/rbm/"
      if PYTHONPATH=$work/py timeout "$(( $(limit python) - waited + 10 ))" python3 -m pytest -q -p no:cacheprovider \
           -rs python/tests/test_device.py >"$logs/python.log" 2>&1; then
        record ran python "$(tail -1 "$logs/python.log")"
      else
        record FAILED python "$(tail -1 "$logs/python.log") (logs/python.log)"
        grep -m8 -E "^FAILED|^E " "$logs/python.log" | tee -a "$work/summary.txt"
        status=1
      fi
      grep -E "^SKIPPED" "$logs/python.log" | head -5 | tee -a "$work/summary.txt"
    fi
  fi
fi

# --- throughput, in the time left: the tables of bench/RESULTS.md
if begin throughput; then
  if [ -z "$gpu" ]; then
    record skipped throughput "no GPU (no CPU rows on device time: bench/run.sh measures the CPU)"
  elif have bench/rbm_bench; then
    # bench NAME SECONDS ARGS...: one rbm_bench table if SECONDS still fit.
    bench() {
      local name=$1 need=$2
      shift 2
      if [ "$(left)" -lt $((need + 5)) ]; then record skipped "$name" "$(left) s left, needs ~$need s"; return; fi
      if timeout "$need" "$build/bench/rbm_bench" --device cuda --json "$out/$name.json" "$@" >"$logs/$name.txt" 2>&1; then
        record ran "$name" "ok ($name.json)"
      else
        record FAILED "$name" "or cut off at $need s (logs/$name.txt)"
        status=1
      fi
    }
    bench bench-gpu 90 --hidden 500,2000 --batch 100,1000,4096 --k 1,10 --gemm fp32
    bench bench-gpu-lowp 40 --hidden 500,2000 --batch 1000 --k 1 --gemm tf32,bf16
    bench bench-gpu-gauss 30 --visible gaussian --hidden 500 --batch 100,1000 --k 1
    if ! python3 -c "import torch" 2>/dev/null; then
      record skipped torch "python3 cannot import torch here"
    elif [ "$(left)" -ge 45 ]; then
      if timeout 40 python3 bench/peers/torch_peer.py --devices cuda --hidden 500,2000 --batch 100,1000,4096 --k 1,10 \
           --reps 3 --seconds 0.3 --json "$out/torch.json" >"$logs/torch.txt" 2>&1; then
        record ran torch "ok (torch.json)"
      else
        record FAILED torch "or cut off at 40 s (logs/torch.txt)"
      fi
    else
      record skipped torch "$(left) s left, needs ~40 s"
    fi
    python3 bench/report.py "$out"/bench-gpu*.json $(ls "$out"/torch.json 2>/dev/null) >"$out/table.md" 2>&1 || true
    grep -E "^- GPU" "$out/table.md" | tee -a "$work/summary.txt"
    grep -E "^\| (rbm|PyTorch)" "$out/table.md" | head -24 >"$work/table-head.txt"
  fi
fi

# --- the summary, last
[ -n "$py_pid" ] && kill -- "-$py_pid" 2>/dev/null
tar -czf "$out/logs.tar.gz" -C "$work" logs 2>/dev/null
{
  echo
  [ -s "$work/table-head.txt" ] && cat "$work/table-head.txt" && echo
  echo "steps (status $status; $(left) s of ${total} s left):"
  cat "$work/steps.txt"
} >>"$work/summary.txt"
cp "$work/summary.txt" "$out/summary.txt"
echo
cat "$work/summary.txt"
rm -rf "$work"
exit $status
