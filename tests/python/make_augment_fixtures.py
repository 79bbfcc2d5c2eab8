"""Writes tests/fixtures/augment/pil_ops.safetensors: what Pillow makes of the image operations that
timm's RandAugment calls, for the C++ test DataAugmentOps.MatchPillowBitForBit (pil_ops.h).

Run: python tests/python/make_augment_fixtures.py  (needs numpy, Pillow, safetensors). Deterministic.
Keys: input.<mode> ([H, W, C] uint8, mode grey or rgb) and <case>.<mode>, the op's output; the case
names are the ones the C++ test lists. The ops are called as timm/data/auto_augment.py calls them.
"""
import os

import numpy as np
import PIL
from PIL import Image, ImageEnhance, ImageOps
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "augment", "pil_ops.safetensors")
H, W = 29, 23  # over 510 pixels, so that equalize has a step of at least 2
FILL = {"grey": 73, "rgb": (124, 116, 104)}
RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def solarize_add(img, add, thresh=128):  # timm's, a lookup table through Image.point
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * (3 if img.mode == "RGB" else 1))


def affine(img, data, resample, fill):
    return img.transform(img.size, Image.AFFINE, data, resample=resample, fillcolor=fill)


def cases():
    c = {
        "autocontrast": lambda im, f: ImageOps.autocontrast(im),
        "equalize": lambda im, f: ImageOps.equalize(im),
        "invert": lambda im, f: ImageOps.invert(im),
        "posterize_1": lambda im, f: ImageOps.posterize(im, 1),
        "posterize_4": lambda im, f: ImageOps.posterize(im, 4),
        "solarize_26": lambda im, f: ImageOps.solarize(im, 26),
        "solarize_128": lambda im, f: ImageOps.solarize(im, 128),
        "solarize_add_40": lambda im, f: solarize_add(im, 40),
    }
    for name, enhancer in [("color", ImageEnhance.Color), ("contrast", ImageEnhance.Contrast),
                           ("brightness", ImageEnhance.Brightness), ("sharpness", ImageEnhance.Sharpness)]:
        for factor in (0.19, 0.73, 1.81):
            c[f"{name}_{factor}"] = lambda im, f, e=enhancer, k=factor: e(im).enhance(k)
    for rname, r in RESAMPLE.items():
        for deg in (-27.3, 13.5, 90.0, 180.0):
            c[f"rotate_{deg}_{rname}"] = lambda im, f, d=deg, r=r: im.rotate(d, resample=r, fillcolor=f)
        for k in (0.27, -0.13):
            c[f"shear_x_{k}_{rname}"] = lambda im, f, k=k, r=r: affine(im, (1, k, 0, 0, 1, 0), r, f)
        c[f"shear_y_0.27_{rname}"] = lambda im, f, r=r: affine(im, (1, 0, 0, 0.27, 1, 0), r, f)
        for px in (4.95, -2.3):
            c[f"translate_x_{px}_{rname}"] = lambda im, f, p=px, r=r: affine(im, (1, 0, p, 0, 1, 0), r, f)
        c[f"translate_y_-3.7_{rname}"] = lambda im, f, r=r: affine(im, (1, 0, 0, 0, 1, -3.7), r, f)
    return c


def main():
    rng = np.random.default_rng(7)
    inputs = {"grey": rng.integers(30, 200, size=(H, W, 1), dtype=np.uint8),
              "rgb": rng.integers(30, 200, size=(H, W, 3), dtype=np.uint8)}
    tensors = {}
    for mode, pixels in inputs.items():
        tensors[f"input.{mode}"] = pixels
        img = Image.fromarray(pixels[:, :, 0] if mode == "grey" else pixels, "L" if mode == "grey" else "RGB")
        for name, op in cases().items():
            out = np.asarray(op(img, FILL[mode]), dtype=np.uint8)
            tensors[f"{name}.{mode}"] = np.ascontiguousarray(out.reshape(H, W, -1))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(tensors, OUT, metadata={"pillow_version": PIL.__version__,
                                      "generated_by": "tests/python/make_augment_fixtures.py (rerun it; do not edit)"})
    print(f"wrote {len(tensors)} tensors to {OUT}")


if __name__ == "__main__":
    main()
