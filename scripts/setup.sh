#!/usr/bin/env bash
# Installs what rbm's build and tests need from Debian's packages (run as root or with sudo).
# The CUDA toolkit (nvcc, cuBLAS, cuRAND) is expected at /usr/local/cuda or on PATH.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ pkg-config \
  libopenblas-dev zlib1g-dev libpng-dev libstb-dev libcairo2-dev \
  libcli11-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev \
  clang libclang-rt-14-dev \
  dataset-fashion-mnist >/dev/null
# The Python package's build and test requirements (PyPI): NumPy, SciPy and scikit-learn (its
# dependencies), pytest, and safetensors (the C++ tests also check that Python reads our models).
python3 -m pip install --quiet --disable-pip-version-check numpy scipy scikit-learn pytest safetensors
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: note: no CUDA toolkit (nvcc): the build will have the CPU backend alone (install CUDA 12.x/13.x for the GPU one)"
fi
echo "setup: done"
