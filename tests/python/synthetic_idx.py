"""Synthetic IDX images for the Python tests, as tests/common/synthetic_idx.h writes them: bars whose
orientation and place depend on the class."""
import os
import struct

import numpy as np


def write_idx(folder, count, size, classes):
    """Writes images.idx [count, size, size] and labels.idx [count] in `folder`; returns both arrays."""
    rng = np.random.default_rng(3)
    images = np.zeros((count, size, size), np.uint8)
    labels = np.arange(count, dtype=np.uint8) % classes
    for i, k in enumerate(labels):
        pos = int(k) * size // classes + 2
        img = rng.integers(0, 40, (size, size)) + 20
        if k % 2 == 0:
            img[:, pos - 1:pos + 2] = 220
        else:
            img[pos - 1:pos + 2, :] = 220
        images[i] = np.minimum(img, 255)
    with open(os.path.join(folder, "images.idx"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, size, size) + images.tobytes())
    with open(os.path.join(folder, "labels.idx"), "wb") as f:
        f.write(struct.pack(">II", 0x801, count) + labels.tobytes())
    return images, labels
