#!/usr/bin/env bash
# Builds host code and tests with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan and runs
# the CPU test suite under them (label cpu; GPU tests need a GPU and are not instrumented).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRBM_SANITIZE=ON >/dev/null
cmake --build build-asan --parallel "$(nproc)"
# protect_shadow_gap=0: the CUDA runtime maps memory where ASan keeps its shadow gap.
export ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan -L cpu --output-on-failure --timeout 900
