"""Writes the HuggingFace parity fixtures in tests/fixtures/parity/hf_*.safetensors: float64 outputs of
`transformers`' own ViTMAEForPreTraining and ViTForImageClassification, code this project did not
write, so that a misreading of the paper shared by our C++ model and tests/python/mae_reference.py
cannot pass unseen (tests/parity/test_hf_parity.cpp reads them).

Run: python tests/python/make_hf_fixtures.py  (needs torch, transformers, safetensors). Deterministic.
Per file: hf.<HuggingFace state-dict key> (the weights, randomly perturbed so that LayerNorm affine
and biases are non-trivial), input.*, output.*, grad.<HuggingFace key> (every trainable parameter).
"""
import os
import sys

import torch
from safetensors.torch import save_file

try:
    import transformers
    from transformers import ViTConfig, ViTForImageClassification, ViTMAEConfig, ViTMAEForPreTraining
except ImportError:
    sys.exit("make_hf_fixtures.py needs transformers (pip install transformers; scripts/install.sh puts it in the venv)")

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "parity")
N = 2
ENCODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, hidden_act="gelu",
               qkv_bias=True, layer_norm_eps=1e-6,
               attn_implementation="sdpa")  # eager attention takes its softmax in float32 even for float64


def perturb(model, std=0.02):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * std)


def write(name, model, tensors, meta):
    tensors = dict(tensors)
    for key, value in model.state_dict().items():
        tensors["hf." + key] = value
    for key, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: {key} received no gradient"
            tensors["grad." + key] = p.grad
    meta = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in meta.items()}
    meta.update(torch_version=torch.__version__, transformers_version=transformers.__version__,
                generated_by="tests/python/make_hf_fixtures.py (do not edit by hand; rerun it)")
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    path = os.path.join(OUT_DIR, name)
    save_file(tensors, path, metadata=meta)
    print(f"{name}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def mae_case(name, img_h, img_w, patch, chans, norm_pix):
    config = ViTMAEConfig(image_size=(img_h, img_w), patch_size=patch, num_channels=chans, decoder_hidden_size=16,
                          decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64,
                          mask_ratio=0.75, norm_pix_loss=norm_pix, **ENCODER)
    model = ViTMAEForPreTraining(config).to(torch.float64)
    perturb(model)
    model.train()  # no dropout in this config: train and eval compute the same
    num_patches = (img_h // patch) * (img_w // patch)
    imgs = torch.randn(N, chans, img_h, img_w, dtype=torch.float64)
    noise = torch.rand(N, num_patches, dtype=torch.float64)
    out = model(pixel_values=imgs, noise=noise)
    out.loss.backward()
    meta = dict(img_h=img_h, img_w=img_w, patch_size=patch, in_chans=chans, embed_dim=32, depth=2, num_heads=4,
                mlp_ratio=4.0, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, mask_ratio=0.75,
                norm_pix_loss=norm_pix, layer_norm_eps=1e-6)
    write(name, model, {"input.imgs": imgs, "input.noise": noise, "output.loss": out.loss, "output.pred": out.logits,
                        "output.mask": out.mask, "output.ids_restore": out.ids_restore}, meta)


def vit_case(name, img, patch, chans, classes):
    config = ViTConfig(image_size=img, patch_size=patch, num_channels=chans, num_labels=classes, **ENCODER)
    model = ViTForImageClassification(config).to(torch.float64)
    perturb(model)
    imgs = torch.randn(N, chans, img, img, dtype=torch.float64)
    logits = model(pixel_values=imgs).logits
    dlogits = torch.randn_like(logits)
    (logits * dlogits).sum().backward()
    meta = dict(img_h=img, img_w=img, patch_size=patch, in_chans=chans, embed_dim=32, depth=2, num_heads=4,
                mlp_ratio=4.0, num_classes=classes, global_pool=False, layer_norm_eps=1e-6)
    write(name, model, {"input.imgs": imgs, "input.dlogits": dlogits, "output.logits": logits}, meta)


def main():
    torch.manual_seed(0)
    mae_case("hf_vitmae_rgb_normpix.safetensors", 16, 16, 4, 3, True)
    mae_case("hf_vitmae_grey.safetensors", 16, 16, 4, 1, False)  # HuggingFace's ViTMAE needs a square patch grid
    vit_case("hf_vit_classifier.safetensors", 16, 4, 3, 5)


if __name__ == "__main__":
    main()
