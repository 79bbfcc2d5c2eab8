"""WebDataset interop: what `mae pack` writes, Python's tarfile + Pillow and the webdataset package
read; what webdataset.TarWriter writes, `mae pretrain --set data.source=wds` trains from.

    python3 tests/python/test_wds_interop.py --mae build/bin/mae --work /tmp/wds_test

1. Class folders of JPEG, PNG and WebP images (Pillow) -> `mae pack` as they are: tarfile finds every
   image byte for byte with its class as `cls`; webdataset decodes every sample.
2. The same with --max-side 20: every image is a JPEG whose longer side is 20.
3. Shards written by webdataset.TarWriter (jpg or webp + json {"label": c}, no cls) -> `mae pretrain` for one
   epoch with the k-NN monitor, which needs the json labels (read by index through the val split).
"""
import hashlib
import io
import json
import os
import re
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import mae_and_fresh_workdir, require_modules, run  # noqa: E402

require_modules("PIL", "webdataset", "numpy")
import numpy as np  # noqa: E402
import webdataset as wds  # noqa: E402
from PIL import Image  # noqa: E402

CLASSES = 3
PER_CLASS = 12


def image_bytes(rng, fmt, size):
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def write_class_folders(root, rng):
    """root/c<k>/<i>.jpg|png|webp; returns {sha1 of the file: class}."""
    expected = {}
    for c in range(CLASSES):
        os.makedirs(f"{root}/c{c}")
        for i in range(PER_CLASS):
            fmt, ext = [("PNG", "png"), ("WEBP", "webp"), ("JPEG", "jpg")][min(i % 4, 2)]
            data = image_bytes(rng, fmt, (24 + i, 30 - i))
            with open(f"{root}/c{c}/{i}.{ext}", "wb") as f:
                f.write(data)
            expected[hashlib.sha1(data).hexdigest()] = c
    return expected


def read_with_tarfile(pattern_dir):
    """{key: {ext: bytes}} over every shard in the folder, in shard order."""
    samples = {}
    for name in sorted(os.listdir(pattern_dir)):
        if not name.endswith(".tar"):
            continue
        with tarfile.open(os.path.join(pattern_dir, name)) as tar:
            for member in tar:
                key, ext = member.name.split(".", 1)
                samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return samples


def check_pack_as_is(mae, w, expected):
    out = f"{w}/asis"
    run(mae, "pack", "--input", f"{w}/images", "--output", f"{out}/train-%06d.tar", "--shard-size", "16kB",
        "--threads", "2", "--no-progress")
    samples = read_with_tarfile(out)
    assert len(samples) == CLASSES * PER_CLASS, len(samples)
    for key, members in samples.items():
        image = members.get("jpg", members.get("png", members.get("webp")))
        assert image is not None, f"{key}: no image member ({sorted(members)})"
        digest = hashlib.sha1(image).hexdigest()
        assert digest in expected, f"{key}: bytes differ from every input file"
        assert int(members["cls"]) == expected[digest], f"{key}: cls {members['cls']} != {expected[digest]}"
        Image.open(io.BytesIO(image)).load()
    index = json.load(open(f"{out}/train.index.json"))
    assert index["samples"] == CLASSES * PER_CLASS and index["classes"] == [f"c{c}" for c in range(CLASSES)], index
    assert sum(s["samples"] for s in index["shards"]) == index["samples"]
    shards = sorted(f"{out}/{s['name']}" for s in index["shards"])
    count = 0
    for image, cls in wds.WebDataset(shards, shardshuffle=False).decode("pil").to_tuple("jpg;png;webp", "cls"):
        assert image.size[0] >= 13 and 0 <= cls < CLASSES, (image.size, cls)
        count += 1
    assert count == CLASSES * PER_CLASS, count
    print(f"mae pack (as is): {len(shards)} shards; tarfile + Pillow and webdataset read all {count} samples")


def check_pack_max_side(mae, w):
    out = f"{w}/small"
    run(mae, "pack", "--input", f"{w}/images", "--output", f"{out}/train-%03d.tar", "--max-side", "20", "--no-progress")
    samples = read_with_tarfile(out)
    for key, members in samples.items():
        assert "jpg" in members, f"{key}: re-encoded samples are JPEG ({sorted(members)})"
        image = Image.open(io.BytesIO(members["jpg"]))
        assert max(image.size) == 20, f"{key}: {image.size}"
    print(f"mae pack --max-side 20: all {len(samples)} images are JPEGs of longer side 20")


def check_train_from_webdataset_shards(mae, w, rng):
    out = f"{w}/py"
    os.makedirs(out)
    n = 0
    for shard in range(4):
        with wds.TarWriter(f"{out}/py-{shard:06d}.tar") as sink:
            for _ in range(16):
                c = n % CLASSES
                fmt, ext = ("WEBP", "webp") if n % 5 == 0 else ("JPEG", "jpg")
                sink.write({"__key__": f"sample{n:05d}", ext: image_bytes(rng, fmt, (20, 18)), "json": {"label": c}})
                n += 1
    pattern = "py-{000000..000003}.tar"
    log = run(mae, "pretrain", "--output", f"{w}/run", "--threads", "2",
              "--set", "data.source=wds", "--set", f"data.root={out}", "--set", f"data.train_files={pattern}",
              "--set", f"data.val_files={pattern}", "--set", "data.mean=0.5", "--set", "data.std=0.25",
              "--set", "model.in_chans=1", "--set", "model.img_size=16", "--set", "model.patch_size=4",
              "--set", "model.embed_dim=32", "--set", "model.depth=2", "--set", "model.num_heads=2",
              "--set", "model.decoder_embed_dim=16", "--set", "model.decoder_depth=1", "--set", "model.decoder_num_heads=2",
              "--set", "train.batch_size=8", "--set", "train.epochs=1", "--set", "train.warmup_epochs=0",
              "--set", "log.progress=none", "--set", "visualize.num_images=2", "--set", "knn.every=1",
              "--set", "data.num_workers=2")
    assert re.search(r"data: 64 images, 8 steps per epoch", log), log
    assert "k-NN top-1" in log, log
    assert "no labels" not in log, log
    assert "skipping unreadable" not in log, log  # the WebP samples decode too
    print("mae pretrain --set data.source=wds trained on webdataset.TarWriter shards (jpg and webp, json labels: k-NN ran)")


def main():
    mae, w = mae_and_fresh_workdir()
    rng = np.random.default_rng(0)
    expected = write_class_folders(f"{w}/images", rng)
    check_pack_as_is(mae, w, expected)
    check_pack_max_side(mae, w)
    check_train_from_webdataset_shards(mae, w, rng)


if __name__ == "__main__":
    main()
