"""The tiny runs the export tests share: 64 generated 16 x 16 IDX images of 4 classes, a 2-block
MAE pretrained on them for 2 epochs, and a numeric check that prints its margin."""
import sys

from harness import run
from synthetic_idx import write_idx

MEAN, STD, SIZE, CLASSES, COUNT = 0.2, 0.3, 16, 4, 64


def check(name, ours, theirs, atol):
    diff = (ours - theirs).abs().max().item()
    print(f"{name}: max |difference| {diff:.3g} (tolerance {atol})")
    if not diff <= atol:
        sys.exit(f"FAILED: {name} differs by {diff}")


def pretrain(mae, w):
    """Writes the images to w, pretrains into w/pre; returns (images, labels, the data arguments of
    every run, the checkpoint)."""
    images, labels = write_idx(w, COUNT, SIZE, CLASSES)
    data = ["--set", "data.source=idx", "--set", f"data.root={w}", "--set", "data.train_files=images.idx,labels.idx",
            "--set", "data.val_files=images.idx,labels.idx", "--set", f"data.mean={MEAN}", "--set", f"data.std={STD}",
            "--set", "data.eval_resize_ratio=1", "--set", "train.batch_size=16", "--set", "train.epochs=2",
            "--set", "train.warmup_epochs=0", "--set", "log.progress=none", "--threads", "2"]
    run(mae, "pretrain", *data, "--output", f"{w}/pre", "--set", f"model.img_size={SIZE}", "--set", "model.patch_size=4",
        "--set", "model.embed_dim=32", "--set", "model.depth=2", "--set", "model.num_heads=2",
        "--set", "model.decoder_embed_dim=16", "--set", "model.decoder_depth=1", "--set", "model.decoder_num_heads=2",
        "--set", "visualize.num_images=0")
    return images, labels, data, f"{w}/pre/checkpoint-last.safetensors"
