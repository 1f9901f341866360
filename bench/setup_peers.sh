#!/usr/bin/env bash
# Installs the Python peers' packages from PyPI (never needed by the build or the tests). PyTorch's
# PyPI wheel brings the CUDA libraries (about 3 GB, about a minute here); its CPU column needs them
# only to import. SKIP_TORCH=1 leaves it out (its column is then skipped).
set -euo pipefail
python3 -m pip install --quiet scikit-learn numpy matplotlib safetensors
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  python3 -c "import torch" 2>/dev/null || python3 -m pip install --quiet torch
fi
