"""Cuts 8x8 grey patches from the two photographs that scikit-learn ships (sklearn.datasets.
load_sample_images: china.jpg and flower.jpg, in the scikit-learn wheel; reading them needs Pillow) and
writes them as float32 .npy matrices [samples, 64] for `rbm train --visible gaussian`:
    python3 examples/gaussian_patches/make_patches.py OUT_DIR   # patches_train.npy (18,000), patches_test.npy (2,000)
"""
import sys

import numpy as np
from sklearn.datasets import load_sample_images

out = sys.argv[1] if len(sys.argv) > 1 else "."
rng = np.random.default_rng(0)
patches = []
for image in load_sample_images().images:
    grey = image.astype(np.float64).mean(axis=2)
    for _ in range(10000):
        y = rng.integers(0, grey.shape[0] - 8)
        x = rng.integers(0, grey.shape[1] - 8)
        patches.append(grey[y:y + 8, x:x + 8].ravel())
patches = np.array(patches, dtype=np.float32)
rng.shuffle(patches)
np.save(f"{out}/patches_train.npy", patches[:18000])
np.save(f"{out}/patches_test.npy", patches[18000:])
print(f"wrote {out}/patches_train.npy {patches[:18000].shape} and {out}/patches_test.npy {patches[18000:].shape}")
