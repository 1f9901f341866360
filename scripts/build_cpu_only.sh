#!/usr/bin/env bash
# The build without the CUDA backend (what a machine without the CUDA toolkit gets): configures
# build-cpu with RBM_CUDA=OFF and no CUDA directory on PATH (the toolkit hidden from CMake and from the
# compiler's include path), builds, checks that nothing links a CUDA library, and runs the CPU tests.
# .ci/run runs it, so that this variant cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v cuda | paste -sd: -)
cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DRBM_CUDA=OFF >/dev/null
cmake --build build-cpu --parallel "$(nproc)"
for exe in build-cpu/host/rbm build-cpu/tests/rbm_tests; do
  if ldd "$exe" | grep -Ei 'libcuda|libcudart|libcublas|libcurand'; then
    echo "build_cpu_only: $exe links a CUDA library" >&2
    exit 1
  fi
done
build-cpu/host/rbm info | grep -q "cuda: not built" || { echo "build_cpu_only: rbm info does not say cuda is not built" >&2; exit 1; }
ctest --test-dir build-cpu --output-on-failure --timeout 900

# The Python package the same way (a user's machine without the toolkit): built into its own folders,
# checked to link no CUDA library and to say so, then its tests (the GPU ones skip, saying why).
rm -rf build-cpu/python-site
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target build-cpu/python-site \
  -C build-dir="$PWD/build-cpu/python-build" -C cmake.define.RBM_CUDA=OFF ./python
core=$(ls build-cpu/python-site/rbm/_core*.so)
if ldd "$core" | grep -Ei 'libcuda|libcudart|libcublas|libcurand'; then
  echo "build_cpu_only: the Python package links a CUDA library" >&2
  exit 1
fi
PYTHONPATH=build-cpu/python-site python3 -c 'import rbm, sys; b = rbm.backends(); print("rbm.backends():", b); sys.exit(0 if b["cuda"].startswith("not built") else 1)'
# scikit-learn's estimator checks exercise the Python layer, the same in both builds: the main run has them.
PYTHONPATH=build-cpu/python-site python3 -m pytest -q -p no:cacheprovider python/tests -k "not scikit_learn_estimator_checks"
