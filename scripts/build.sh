#!/usr/bin/env bash
# Configures (once) and builds rbm into ./build. Extra arguments go to the CMake configure step,
# e.g. scripts/build.sh -DCMAKE_CUDA_ARCHITECTURES=80-real
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
if [ ! -f build/CMakeCache.txt ] || [ $# -gt 0 ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build build --parallel "$(nproc)"
