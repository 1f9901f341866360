#!/usr/bin/env bash
# Installs the Python peers' packages from PyPI (never needed by the build or the tests). PyTorch is
# optional here: its PyPI wheel brings the CUDA libraries (gigabytes); GPU machines usually have it.
set -euo pipefail
python3 -m pip install --quiet scikit-learn numpy matplotlib safetensors
python3 -c "import torch" 2>/dev/null || echo "setup_peers: PyTorch not installed; its column is skipped (pip install torch to add it)"
