#!/usr/bin/env bash
# Builds host code and tests with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan and runs
# the CPU test suite under them (label cpu; GPU tests need a GPU and are not instrumented); then the
# CPU backend's threaded update under ThreadSanitizer (build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
# The CPU suite needs the program and the test executable only: no CUDA library (its device code
# cannot be instrumented, and the CPU suite runs the CPU backend), no benchmarks, no GPU tests — the
# compile time stays within CI's budget (and line tables, -g1, are all the reports need).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DRBM_SANITIZE=ON -DRBM_CUDA=OFF >/dev/null
cmake --build build-asan --parallel "$(nproc)" --target rbm rbm_tests
# protect_shadow_gap=0: the CUDA runtime maps memory where ASan keeps its shadow gap.
export ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1:abort_on_error=1
# Font caches of cairo/fontconfig live as long as the process: suppressed by name (scripts/lsan.supp).
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan -L cpu --output-on-failure --timeout 900

# ThreadSanitizer on the CPU backend's thread team: its own tests and the CD-step tests (1, 3 and 4
# threads against the double reference, and the backend on OpenBLAS's thread count). cpu_kernels.cpp is left uninstrumented
# (its passes share nothing) and built without its per-ISA clones (RBM_NO_CLONES): clang 14 emits only the
# AVX-512 clone of an externally visible target_clones function, which faults on an AVX2-only CPU.
cuda=/usr/local/cuda
blas_inc=$(dirname "$(find /usr/include -name cblas.h | head -1)")
mkdir -p build-tsan
clang++ -std=c++17 -O2 -ffp-contract=off -DRBM_NO_CLONES -Ihost/include -Icuda/include -c host/src/cpu_kernels.cpp -o build-tsan/cpu_kernels.o
clang++ -std=c++17 -O1 -g -fsanitize=thread -DRBM_TEST_TMP=\"build-tsan/tmp\" -Icuda/include -Ihost/include -I"$cuda/include" -I"$blas_inc" \
  tests/test_cpu_cd_step.cpp tests/test_thread_team.cpp build-tsan/cpu_kernels.o host/src/cpu_backend.cpp host/src/cpu_maths.cpp host/src/cpu_hidden_units.cpp host/src/philox.cpp \
  host/src/thread_team.cpp host/src/evaluation.cpp host/src/exact_log_z.cpp host/src/classification.cpp cuda/src/error.cpp cuda/src/ais.cpp \
  -L"$cuda/lib64" -Wl,-rpath,"$cuda/lib64" -lcublas -lcurand -lcudart -lopenblas -lgtest -lgtest_main -lpthread \
  -o build-tsan/cd_step_tsan
# Without address randomisation where allowed, so that TSan's fixed memory layout fits whatever the
# kernel's mmap entropy (clang 14's TSan fails on kernels with 32 random bits).
norand=()
setarch "$(uname -m)" -R true 2>/dev/null && norand=(setarch "$(uname -m)" -R)
TSAN_OPTIONS=halt_on_error=1 OPENBLAS_NUM_THREADS=2 "${norand[@]}" build-tsan/cd_step_tsan
