#!/usr/bin/env python3
"""Files written by other tools are read as they wrote them: TIFFs from tifffile (every sample
type, strips or tiles, interleaved or planar, either byte order, raw or deflate, and its default of
one page per band) and arrays from
numpy (.npy in C and Fortran order, .npz, one [N, C, H, W] array with labels).

`mae stats` reads each set; its per-band mean/std of pixel / range must equal numpy's on the
pixels the writer was given (range by type: 255 uint8, 65535 uint16, 32767 int16, 1 float32).
A pixel read from the wrong place, band or byte order moves them. Exits non-zero on a mismatch.

    python3 tests/python/test_foreign_arrays.py --mae build/bin/mae --work /tmp/foreign_test
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import mae_and_fresh_workdir, require_modules, run  # noqa: E402

require_modules("numpy", "tifffile")
import numpy as np  # noqa: E402
import tifffile  # noqa: E402

BANDS, H, W = 5, 19, 23
RANGE = {np.uint8: 255.0, np.uint16: 65535.0, np.int16: 32767.0, np.float32: 1.0}


def image(dtype, seed):
    """[H, W, BANDS] of `dtype`, seeded, spread over a good part of the type's range."""
    rng = np.random.default_rng(seed)
    unit = rng.random((H, W, BANDS)) * (np.arange(BANDS) + 1) / BANDS
    if dtype == np.float32:
        return unit.astype(np.float32)
    if dtype == np.int16:
        return ((unit - 0.5) * 20000).astype(np.int16)
    return (unit * RANGE[dtype]).astype(dtype)


def stats(mae, sets):
    out = run(mae, "stats", "--threads", "2", "--set", f"model.in_chans={BANDS}", *[a for s in sets for a in ("--set", s)])
    values = {}
    for key in ("mean", "std"):
        values[key] = np.array([float(v) for v in re.search(key + r": \[([^\]]*)\]", out).group(1).split(",")])
    return values


def expected(pixels):
    """pixels: list of [H, W, BANDS] arrays -> per-band mean/std of pixel / range, as float64."""
    flat = np.concatenate([(p.astype(np.float64) / RANGE[p.dtype.type]).reshape(-1, BANDS) for p in pixels])
    return {"mean": flat.mean(0), "std": flat.std(0)}


def compare(name, got, want):
    for key in ("mean", "std"):
        diff = np.abs(got[key] - want[key]).max()
        print(f"{name} {key}: max |difference| {diff:.3g}")
        if not diff <= 2e-6:  # `mae stats` prints 6 decimals
            sys.exit(f"FAILED: {name} {key}: ours {got[key]} numpy {want[key]}")


def main():
    mae, work = mae_and_fresh_workdir()
    # TIFF: every combination in one folder (each file is scaled by its own type's range).
    tiffs, pixels, seed = os.path.join(work, "tiff"), [], 0
    os.makedirs(tiffs)
    for dtype in (np.uint8, np.uint16, np.int16, np.float32):
        for planar in ("contig", "separate"):
            for tiled in (False, True):
                for byteorder in ("<", ">"):
                    for compression in (None, "zlib"):
                        seed += 1
                        p = image(dtype, seed)
                        data = np.moveaxis(p, 2, 0) if planar == "separate" else p
                        kwargs = {"tile": (16, 16)} if tiled else {"rowsperstrip": 5}
                        try:
                            tifffile.imwrite(os.path.join(tiffs, f"{seed:03d}.tif"), data, photometric="minisblack",
                                             planarconfig=planar, byteorder=byteorder, compression=compression, **kwargs)
                        except Exception as e:  # noqa: BLE001 (no codec for this combination)
                            print(f"note: tifffile cannot write {dtype.__name__} {planar} {compression}: {e}")
                            continue
                        pixels.append(p)
    compare(f"tifffile ({len(pixels)} files)", stats(mae, ["data.source=folder", f"data.root={tiffs}",
                                                          "data.train_files="]), expected(pixels))

    # tifffile's default for a [bands, H, W] array: one single-band page per band, read as bands.
    pages, pixels = os.path.join(work, "pages"), []
    os.makedirs(pages)
    for k, dtype in enumerate((np.uint8, np.uint16, np.float32)):
        p = image(dtype, 50 + k)
        tifffile.imwrite(os.path.join(pages, f"{k}.tif"), np.ascontiguousarray(np.moveaxis(p, 2, 0)))
        with tifffile.TiffFile(os.path.join(pages, f"{k}.tif")) as written:
            assert len(written.pages) == BANDS, f"tifffile wrote {len(written.pages)} pages, not {BANDS}"
        pixels.append(p)
    compare(f"tifffile pages ({len(pixels)} files of {BANDS} pages)",
            stats(mae, ["data.source=folder", f"data.root={pages}", "data.train_files="]), expected(pixels))

    # Per-sample arrays: channels-first .npy, Fortran-order .npy, uncompressed .npz.
    arrays, pixels = os.path.join(work, "arrays"), []
    os.makedirs(arrays)
    for k, dtype in enumerate((np.uint8, np.uint16, np.int16, np.float32)):
        p = image(dtype, 100 + k)
        np.save(os.path.join(arrays, f"{k}_c.npy"), np.ascontiguousarray(np.moveaxis(p, 2, 0)))
        np.save(os.path.join(arrays, f"{k}_f.npy"), np.asfortranarray(np.moveaxis(p, 2, 0)))
        np.savez(os.path.join(arrays, f"{k}_z.npz"), image=np.moveaxis(p, 2, 0))
        pixels += [p, p, p]
    compare("numpy files", stats(mae, ["data.source=npy_files", f"data.root={arrays}", "data.train_files="]),
            expected(pixels))

    # One [N, C, H, W] uint16 array and its labels, memory-mapped.
    stack = np.stack([image(np.uint16, 200 + k) for k in range(6)])
    np.save(os.path.join(work, "images.npy"), np.ascontiguousarray(np.moveaxis(stack, 3, 1)))
    np.save(os.path.join(work, "labels.npy"), np.arange(6) % 2)
    compare("numpy stack", stats(mae, ["data.source=npy", f"data.root={work}", "data.train_files=images.npy,labels.npy"]),
            expected(list(stack)))
    print("OK")


if __name__ == "__main__":
    main()
