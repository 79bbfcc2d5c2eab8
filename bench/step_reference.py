"""PyTorch eager reference for the MAE pretraining step benchmark; prints one JSON line.

One step = forward on a fixed random batch, loss.backward(), AdamW step, zero_grad.
Legend: B batch, C channels, H/W image size.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from mae_reference import PRESETS, MaskedAutoencoderViT  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="base")
    ap.add_argument("--img", type=int, default=224, help="square image size")
    ap.add_argument("--img-h", type=int, default=None, help="overrides --img for the height")
    ap.add_argument("--img-w", type=int, default=None, help="overrides --img for the width")
    ap.add_argument("--patch", type=int, default=None, help="default: the preset's patch size")
    ap.add_argument("--in-chans", type=int, default=3)
    ap.add_argument("--decoder-dim", type=int, default=None, help="default: preset (512)")
    ap.add_argument("--decoder-depth", type=int, default=None, help="default: preset (8)")
    ap.add_argument("--decoder-heads", type=int, default=None, help="default: preset (16)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--attn", choices=["explicit", "sdpa"], default="sdpa")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--norm-pix-loss", action="store_true")
    ap.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="bf16/fp16 = autocast around forward; fp16 with torch.amp.GradScaler, as the official NativeScaler")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--fused-adamw", action="store_true", help="torch.optim.AdamW(fused=True)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the model (inductor; compiled during the warm-up steps, at least 2 then)")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0 or a.batch < 1:
        ap.error("need --steps >= 1, --warmup >= 0, --batch >= 1")
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cfg = dict(PRESETS[a.preset])
    cfg["patch_size"] = a.patch or cfg["patch_size"]
    for key, val in (("decoder_embed_dim", a.decoder_dim), ("decoder_depth", a.decoder_depth),
                     ("decoder_num_heads", a.decoder_heads)):
        cfg[key] = val or cfg[key]
    h, w = a.img_h or a.img, a.img_w or a.img
    model = MaskedAutoencoderViT(img_size=(h, w), in_chans=a.in_chans, norm_pix_loss=a.norm_pix_loss,
                                 attn=a.attn, **cfg).to(dev)
    step_model = model
    if a.compile:
        step_model = torch.compile(model)
        a.warmup = max(a.warmup, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05,
                            fused=True if a.fused_adamw else None)
    imgs = torch.randn(a.batch, a.in_chans, h, w, device=dev)  # [B, C, H, W], reused every step

    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.dtype)
    scaler = torch.amp.GradScaler(dev.type, enabled=a.dtype == "fp16")

    def step():
        with torch.autocast(dev.type, dtype=low or torch.float32, enabled=low is not None):
            loss, _, _ = step_model(imgs, a.mask_ratio)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)  # the official code unscales to clip and log the gradient norm
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    elapsed = time.perf_counter() - t0
    if dev.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; includes torch import
    print(json.dumps({"impl": f"pytorch-{a.attn}" + ("-fusedadamw" if a.fused_adamw else "") + ("-compile" if a.compile else ""), "torch": torch.__version__, "device": a.device,
                      "dtype": a.dtype, "threads": a.threads, "batch": a.batch,
                      "img_per_s": round(a.batch * a.steps / elapsed, 3),
                      "step_ms": round(1000 * elapsed / a.steps, 3), "peak_mem_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main()
