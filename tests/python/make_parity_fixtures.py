"""Writes the float64 parity fixtures in tests/fixtures/parity/ that the C++ parity tests read.

Run: python tests/python/make_parity_fixtures.py  (needs torch, safetensors). Deterministic (seeded).
Per file: param.<state-dict key>, input.*, output.*, grad.<parameter> (every parameter with requires_grad).
Legend: N batch, L patches, C channels, p patch, K classes.
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mae_reference import MaskedAutoencoderViT, VisionTransformer  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "parity")
N = 2
TINY = dict(embed_dim=32, depth=2, num_heads=4, mlp_ratio=4.0)
TINY_DECODER = dict(decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
MASK_RATIO = 0.75


def perturb(model, std=0.02):
    """Adds noise to every trainable parameter so LayerNorm affine and biases are non-trivial."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * std)


def base_metadata(img_h, img_w, patch, chans):
    meta = dict(img_h=img_h, img_w=img_w, patch_size=patch, in_chans=chans, **TINY)
    meta.update(torch_version=torch.__version__,
                generated_by="tests/python/make_parity_fixtures.py (do not edit by hand; rerun it)")
    return meta


def write(name, tensors, meta):
    path = os.path.join(OUT_DIR, name)
    meta = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in meta.items()}
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    for k, v in tensors.items():
        assert v.dtype in (torch.float64, torch.int64), f"{name}: {k} has dtype {v.dtype}"
    save_file(tensors, path, metadata=meta)
    print(f"{name}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")
    return os.path.getsize(path)


def mae_case(name, state, img_h, img_w, patch, chans, norm_pix, imgs, noise):
    """Runs forward + backward of the tiny MAE with `state` loaded; checks explicit vs sdpa attention."""
    kw = dict(img_size=(img_h, img_w), patch_size=patch, in_chans=chans, norm_pix_loss=norm_pix,
              **TINY, **TINY_DECODER)
    model = MaskedAutoencoderViT(**kw, attn="explicit")
    if state is None:
        perturb(model)
        state = model.state_dict()
    model.load_state_dict(state)
    loss, pred, mask = model(imgs, MASK_RATIO, noise)
    loss.backward()
    with torch.no_grad():
        fused = MaskedAutoencoderViT(**kw, attn="sdpa")
        fused.load_state_dict(state)
        loss_sdpa, pred_sdpa, _ = fused(imgs, MASK_RATIO, noise)
    assert torch.allclose(loss, loss_sdpa, rtol=1e-10, atol=1e-12), f"{name}: explicit vs sdpa loss differ"
    assert torch.allclose(pred, pred_sdpa, rtol=1e-10, atol=1e-12), f"{name}: explicit vs sdpa pred differ"
    _, _, ids_restore = model.random_masking(model.patch_embed(imgs), MASK_RATIO, noise)

    t = {f"param.{k}": v for k, v in model.state_dict().items()}
    t.update({"input.imgs": imgs, "input.noise": noise, "output.loss": loss, "output.pred": pred,
              "output.mask": mask, "output.ids_restore": ids_restore, "output.patchify": model.patchify(imgs)})
    t.update({f"grad.{k}": p.grad for k, p in model.named_parameters() if p.requires_grad})
    meta = base_metadata(img_h, img_w, patch, chans)
    meta.update(TINY_DECODER, model="mae", norm_pix_loss=norm_pix, mask_ratio=MASK_RATIO)
    return write(name, t, meta), state


def mae_inputs(img_h, img_w, patch, chans):
    imgs = torch.randn(N, chans, img_h, img_w)  # [N, C, H, W]
    noise = torch.rand(N, (img_h // patch) * (img_w // patch))  # [N, L]
    return imgs, noise


def vit_case(name, global_pool, num_classes=5):
    model = VisionTransformer(img_size=(32, 32), patch_size=8, in_chans=3, num_classes=num_classes,
                              global_pool=global_pool, **TINY)
    perturb(model)
    imgs = torch.randn(N, 3, 32, 32)  # [N, C, H, W]
    dlogits = torch.randn(N, num_classes)  # [N, K]
    logits = model(imgs)
    (logits * dlogits).sum().backward()
    with torch.no_grad():
        fused = VisionTransformer(img_size=(32, 32), patch_size=8, in_chans=3, num_classes=num_classes,
                                  global_pool=global_pool, attn="sdpa", **TINY)
        fused.load_state_dict(model.state_dict())
        assert torch.allclose(logits, fused(imgs), rtol=1e-10, atol=1e-12), f"{name}: explicit vs sdpa differ"
    t = {f"param.{k}": v for k, v in model.state_dict().items()}
    t.update({"input.imgs": imgs, "input.dlogits": dlogits, "output.logits": logits})
    t.update({f"grad.{k}": p.grad for k, p in model.named_parameters() if p.requires_grad})
    meta = base_metadata(32, 32, 8, 3)
    meta.update(model="vit", num_classes=num_classes, global_pool=global_pool)
    return write(name, t, meta)


def main():
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(20211111)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    imgs, noise = mae_inputs(32, 32, 8, 3)
    size, state = mae_case("mae_rgb.safetensors", None, 32, 32, 8, 3, False, imgs, noise)
    total += size
    total += mae_case("mae_rgb_normpix.safetensors", state, 32, 32, 8, 3, True, imgs, noise)[0]
    total += mae_case("mae_grey.safetensors", None, 32, 32, 8, 1, True, *mae_inputs(32, 32, 8, 1))[0]
    total += mae_case("mae_nonsquare.safetensors", None, 32, 48, 8, 3, False, *mae_inputs(32, 48, 8, 3))[0]
    total += vit_case("vit_gap.safetensors", global_pool=True)
    total += vit_case("vit_cls.safetensors", global_pool=False)
    print(f"total: {total} bytes ({total / 2**20:.2f} MiB) in {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
