#!/usr/bin/env python3
"""Writes a small segmentation set in the ADE20K layout for trying `mae segment`:
discs (class 1), squares (2) and triangles (3) on striped, noisy backgrounds (class 0), as
ROOT/images/{training,validation}/N.png with ROOT/annotations/{training,validation}/N.png
(8-bit grey label maps). The same kind of set the segmentation test makes (tests/common/shapes_dataset.h).

    ~/.cache/mae/venv/bin/python scripts/make_shapes.py /tmp/shapes --train 2000 --val 200 --size 64
"""
import argparse
import os

import numpy as np
from PIL import Image


def sample(rng, size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    freq, angle, phase = 0.15 + 0.5 * rng.random(), np.pi * rng.random(), 2 * np.pi * rng.random()
    a, b = 40 + 170 * rng.random(3), 40 + 170 * rng.random(3)
    t = 0.5 + 0.5 * np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    image = a * t[..., None] + b * (1 - t[..., None]) + rng.normal(0, 12, (size, size, 3))
    labels = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 3)):
        cls = int(rng.integers(1, 4))
        r = size * (0.16 + 0.12 * rng.random())
        cx, cy = r + (size - 2 * r) * rng.random(), r + (size - 2 * r) * rng.random()
        dx, dy = x + 0.5 - cx, y + 0.5 - cy
        inside = {1: dx ** 2 + dy ** 2 <= r ** 2,
                  2: (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r),
                  3: (dy <= 0.8 * r) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)}[cls]
        labels[inside] = cls
        image[inside] = 255 * rng.random(3) + rng.normal(0, 6, (int(inside.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), labels


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--val", type=int, default=200)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    for split, count in (("training", args.train), ("validation", args.val)):
        for folder in ("images", "annotations"):
            os.makedirs(os.path.join(args.root, folder, split), exist_ok=True)
        for n in range(count):
            image, labels = sample(rng, args.size)
            Image.fromarray(image).save(os.path.join(args.root, "images", split, f"{n}.png"))
            Image.fromarray(labels).save(os.path.join(args.root, "annotations", split, f"{n}.png"))
    with open(os.path.join(args.root, "classes.txt"), "w") as f:
        f.write("background\ndisc\nsquare\ntriangle\n")
    print(f"{args.train} training and {args.val} validation pairs in {args.root}")


if __name__ == "__main__":
    main()
