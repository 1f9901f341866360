#!/usr/bin/env bash
# Installs the Python package from ./python (pip; scikit-build-core builds the project's own CMake
# targets, incrementally in python/build/ after the first time) and runs its tests (pytest). The
# test command of the README ends with it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore ./python
python3 -m pytest -q -p no:cacheprovider python/tests
