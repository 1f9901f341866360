"""Reads IDX image/label files (gzip or raw) into NumPy arrays, for the Python peers in bench/peers."""
import gzip
import os
import struct

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split="train"):
    """Images [n, 784] as float32 in [0, 1] and labels [n], as the project's trainer sees them."""
    names = {"train": ["train-images-idx3-ubyte", "train-10k-images-idx3-ubyte"], "test": ["t10k-images-idx3-ubyte"]}
    for base in names[split]:
        for ext in ("", ".gz"):
            path = os.path.join(data_dir, base + ext)
            if os.path.exists(path):
                images = read_idx(path).reshape(-1, 784).astype(np.float32) / np.float32(255)
                labels = read_idx(path.replace("images-idx3", "labels-idx1"))
                return images, labels
    raise FileNotFoundError(f"{data_dir}: no {split} images")
