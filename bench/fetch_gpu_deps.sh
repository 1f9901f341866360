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
du -sh . | cut -f1 | xargs echo "fetch_gpu_deps: total"
