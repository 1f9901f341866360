#!/usr/bin/env bash
# Run HERE (a Debian machine with registry access), before a GPU call: downloads the .deb files of the
# build's libraries into bench/.deps/debs (git-ignored), for the call's `carry`. The GPU machine is
# offline and has only the CUDA toolkit; bench/gpu_check.sh unpacks these there with dpkg -x.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/.deps/debs
cd bench/.deps/debs
apt-get download \
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0 \
  libpng-dev libpng16-16 zlib1g-dev zlib1g libstb-dev libstb0 \
  libcli11-dev nlohmann-json3-dev libgtest-dev 2>&1 | grep -v "^Get:" || true
ls -1 *.deb | wc -l | xargs echo "fetch_gpu_deps: debs in bench/.deps/debs:"
# The Python package's build tools as pure-Python wheels (any interpreter): gpu_check.sh builds it with
# them where the machine has NumPy, SciPy and scikit-learn.
mkdir -p ../wheels
python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: --dest ../wheels \
  scikit-build-core pybind11 pathspec packaging 2>&1 | tail -2 || true
ls -1 ../wheels/*.whl 2>/dev/null | wc -l | xargs echo "fetch_gpu_deps: wheels in bench/.deps/wheels:"
du -sh .. | cut -f1 | xargs echo "fetch_gpu_deps: total"
