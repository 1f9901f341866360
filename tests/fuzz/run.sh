#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with AddressSanitizer and UndefinedBehaviorSanitizer) and runs
# each from its seed corpus. A crash leaves crash-* in build-fuzz/ and fails the script; turn it into a
# regression test (tests/test_fuzz_regressions.cpp) before fixing it.
# Usage: tests/fuzz/run.sh [SECONDS]   explore for SECONDS per target (default 30), a new random seed each time
#        tests/fuzz/run.sh --ci        a fixed seed and 1,000,000 inputs per target: the same run every
#                                      time, so CI's verdict does not depend on luck
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--ci" ]; then
  bound=(-seed=1 -runs=1000000)
else
  bound=(-max_total_time="${1:-30}")
fi
out=build-fuzz
mkdir -p "$out"
cuda=/usr/local/cuda
blas_inc=$(dirname "$(find /usr/include -name cblas.h | head -1)")
common=(-std=c++17 -O1 -g -fno-sanitize-recover=undefined -Icuda/include -Ihost/include -I"$cuda/include" -I"$blas_inc")
sources=(cuda/src/error.cpp host/src/idx.cpp host/src/read_checks.cpp host/src/npy.cpp host/src/safetensors.cpp
         host/src/tools.cpp host/src/picture_decode.cpp host/src/shuffle.cpp host/src/image.cpp host/src/cpu_backend.cpp host/src/cpu_maths.cpp
         host/src/cpu_kernels.cpp host/src/cpu_hidden_units.cpp
         host/src/philox.cpp host/src/thread_team.cpp host/src/evaluation.cpp host/src/exact_log_z.cpp
         host/src/classification.cpp cuda/src/ais.cpp)
libs=(-L"$cuda/lib64" -Wl,-rpath,"$cuda/lib64" -lcublas -lcurand -lcudart -lopenblas -lstb -lpng -lz)
echo "== building the sources under test (instrumented, once)"
objects=()
for src in "${sources[@]}"; do
  obj=$out/$(basename "${src%.cpp}").o
  clang++ "${common[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$obj" &
  objects+=("$obj")
done
wait
status=0
for target in idx npy safetensors image; do
  echo "== fuzz_$target: building"
  clang++ "${common[@]}" -fsanitize=fuzzer,address,undefined "tests/fuzz/fuzz_$target.cpp" "${objects[@]}" "${libs[@]}" \
    -o "$out/fuzz_$target"
  echo "== fuzz_$target: ${bound[*]}"
  rm -rf "$out/corpus-$target" && mkdir -p "$out/corpus-$target"  # start from the committed seeds only
  if ! (cd "$out" && ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1 ./"fuzz_$target" "${bound[@]}" \
          -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 "corpus-$target" "../tests/fuzz/corpus/$target" \
          >"fuzz_$target.log" 2>&1); then
    echo "fuzz_$target: FOUND A PROBLEM"; tail -40 "$out/fuzz_$target.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$out/fuzz_$target.log" | tail -2
  fi
done
exit $status
