"""Writes the weight-interchange fixtures in tests/fixtures/interop/ and the fuzz seed corpus in fuzz/corpus/.

Run: /root/.cache/mae/venv/bin/python tests/python/make_interop_fixtures.py  (needs torch, safetensors; no
transformers, timm or EasyCV: their key names are written here from their published layouts).
Deterministic weights (seeded); torch.save adds a random serialization id, so .pth bytes differ per run.
All tensors float32. Legend: N batch, L patches, D width, C channels, K classes.

Files:
  mae_tiny.pth                  torch.save({'model': state_dict, 'args': argparse.Namespace, 'epoch': 3})
  mae_tiny_official.safetensors the same state dict under official names (the reference tensors)
  mae_tiny_hf.safetensors       the same weights under HuggingFace ViTMAE names (q/k/v split)
  mae_tiny_easycv.pth           EasyCV names (encoder./decoder.) under 'state_dict', mmcv-style 'meta'
  vit_probe_head.safetensors    official linear-probe head (head.0 BatchNorm1d, head.1 Linear) on the tiny
                                encoder, an input and the cls-token ViT's logits in eval mode
  vit_hf_classifier.safetensors HuggingFace ViTForImageClassification head (classifier.*) on the tiny
                                encoder, an input and the cls-token ViT's logits
  pos_embed_resize.safetensors  pos_embed tables and their bicubic resizes by F.interpolate
"""
import argparse
import collections
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mae_reference import MaskedAutoencoderViT, VisionTransformer  # noqa: E402
from make_parity_fixtures import perturb  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "fixtures", "interop"))
CORPUS_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "fuzz", "corpus"))
TINY = dict(img_size=(32, 32), patch_size=8, in_chans=3, embed_dim=32, depth=2, num_heads=4, mlp_ratio=4.0)
TINY_DECODER = dict(decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
NUM_CLASSES = 5
GENERATED_BY = "tests/python/make_interop_fixtures.py (do not edit by hand; rerun it)"

HF_BLOCK = {"norm1.": "layernorm_before.", "norm2.": "layernorm_after.", "attn.proj.": "attention.output.dense.",
            "mlp.fc1.": "intermediate.dense.", "mlp.fc2.": "output.dense."}
HF_TOP = {"cls_token": "vit.embeddings.cls_token", "pos_embed": "vit.embeddings.position_embeddings",
          "patch_embed.proj.": "vit.embeddings.patch_embeddings.projection.", "norm.": "vit.layernorm.",
          "mask_token": "decoder.mask_token", "decoder_pos_embed": "decoder.decoder_pos_embed",
          "decoder_embed.": "decoder.decoder_embed.", "decoder_norm.": "decoder.decoder_norm.",
          "decoder_pred.": "decoder.decoder_pred.", "head.": "classifier."}
HF_LISTS = {"blocks.": "vit.encoder.layer.", "decoder_blocks.": "decoder.decoder_layers."}

def to_huggingface(state):
    """Official names -> HuggingFace ViTMAE / ViT names, qkv split into query, key, value (rows q, k, v)."""
    out = {}
    for name, t in state.items():
        for ours, hf in HF_LISTS.items():
            if name.startswith(ours):
                index, rest = name[len(ours):].split(".", 1)
                if rest.startswith("attn.qkv."):
                    for part, chunk in zip(("query", "key", "value"), t.chunk(3, dim=0)):
                        out[f"{hf}{index}.attention.attention.{part}.{rest.split('.')[-1]}"] = chunk.clone()
                else:
                    inner = next(k for k in HF_BLOCK if rest.startswith(k))
                    out[f"{hf}{index}.{HF_BLOCK[inner]}{rest[len(inner):]}"] = t
                break
        else:
            key = next(k for k in HF_TOP if name == k or (k.endswith(".") and name.startswith(k)))
            out[HF_TOP[key] + name[len(key):]] = t
    return out

def to_easycv(state):
    """Official names -> EasyCV's MAE: the backbone under 'encoder.', the neck (decoder) under 'decoder.'."""
    is_decoder = lambda k: k.startswith("decoder_") or k == "mask_token"  # noqa: E731
    return collections.OrderedDict(((("decoder." if is_decoder(k) else "encoder.") + k), v) for k, v in state.items())

def write_safetensors(name, tensors, meta=None):
    path = os.path.join(OUT_DIR, name)
    meta = dict(meta or {}, generated_by=GENERATED_BY, torch_version=torch.__version__)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    return report(path)

def report(path):
    size = os.path.getsize(path)
    print(f"{os.path.relpath(path)}: {size} bytes")
    return size

def cls_vit_logits(state, head, imgs):
    """Logits of the cls-token ViT on `imgs` with the tiny encoder `state` and the head module `head`."""
    vit = VisionTransformer(num_classes=NUM_CLASSES, global_pool=False, **TINY).eval()
    result = vit.load_state_dict(
        {k: v for k, v in state.items() if not (k.startswith("decoder_") or k == "mask_token")}, strict=False)
    assert set(result.missing_keys) == {"head.weight", "head.bias"} and not result.unexpected_keys, result
    vit.head = head
    with torch.no_grad():
        return vit(imgs)

def pos_embed_cases():
    def resize(pos, grid, new, antialias=False):  # pos: [1, 1 + h*w, D]
        D = pos.shape[-1]
        g = pos[:, 1:].reshape(1, grid[0], grid[1], D).permute(0, 3, 1, 2)
        g = F.interpolate(g, size=new, mode="bicubic", align_corners=False, antialias=antialias)
        return torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], D)], dim=1)

    square = torch.randn(1, 1 + 4 * 4, 32)
    nonsquare = torch.randn(1, 1 + 2 * 3, 8)
    return {"square_4x4": square, "square_to_6x3": resize(square, (4, 4), (6, 3)),
            "square_to_2x2": resize(square, (4, 4), (2, 2)),
            "square_to_2x2_antialias": resize(square, (4, 4), (2, 2), antialias=True),
            "nonsquare_2x3": nonsquare, "nonsquare_to_4x5": resize(nonsquare, (2, 3), (4, 5))}

def write_corpus():
    """Small seeds for the fuzz targets: valid files of each reader, a few hundred bytes each."""
    for sub in ("safetensors", "pth", "pickle"):
        os.makedirs(os.path.join(CORPUS_DIR, sub), exist_ok=True)
    sd = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3), b=torch.ones(2).half())
    sd["view"] = sd["w"][:, 1]  # a strided view sharing storage 0
    sd["step"] = torch.tensor(7)
    ckpt = {"model": sd, "args": argparse.Namespace(lr=0.1, model="tiny", flag=True), "epoch": 3}
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(CORPUS_DIR, "safetensors", "tiny.safetensors"),
              metadata={"k": "v"})
    torch.save(ckpt, os.path.join(CORPUS_DIR, "pth", "tiny.pth"))
    torch.save({"state_dict": sd}, os.path.join(CORPUS_DIR, "pth", "proto4.pth"), pickle_protocol=4)
    import pickle  # data.pkl as torch.save writes it, without the zip around it
    import zipfile
    for src, dst in (("tiny.pth", "protocol2.pkl"), ("proto4.pth", "protocol4.pkl")):
        with zipfile.ZipFile(os.path.join(CORPUS_DIR, "pth", src)) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
        with open(os.path.join(CORPUS_DIR, "pickle", dst), "wb") as f:
            f.write(data)
    with open(os.path.join(CORPUS_DIR, "pickle", "containers.pkl"), "wb") as f:
        pickle.dump({"a": [1, -2, 3.5, None, True], "b": (b"xy", "z", {1, 2}, frozenset([3])), "n": 2**40}, f,
                    protocol=5)
    # A micro MAE (RGB, 3x3 grid) for fuzz_pth, whose model is grey with a 2x2 grid: the loader's
    # channel adaptation and sin-cos regeneration run on every mutation of these seeds.
    micro = MaskedAutoencoderViT(img_size=(24, 24), patch_size=8, in_chans=3, embed_dim=8, depth=1, num_heads=2,
                                 decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)
    micro_state = collections.OrderedDict((k, v.detach().float()) for k, v in micro.state_dict().items())
    torch.save({"model": micro_state, "epoch": 1}, os.path.join(CORPUS_DIR, "pth", "mae_micro.pth"))
    torch.save(to_huggingface(micro_state), os.path.join(CORPUS_DIR, "pth", "mae_micro_hf.pth"))
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(CORPUS_DIR) for f in fs)
    print(f"fuzz corpus: {total} bytes in {os.path.relpath(CORPUS_DIR)}")

def main():
    torch.manual_seed(20211111)
    os.makedirs(OUT_DIR, exist_ok=True)
    model = MaskedAutoencoderViT(**TINY, **TINY_DECODER)
    perturb(model)
    state = collections.OrderedDict((k, v.detach().float().contiguous()) for k, v in model.state_dict().items())
    total = write_safetensors("mae_tiny_official.safetensors", state, {"model": "mae", "norm_pix_loss": "true"})

    args = argparse.Namespace(model="mae_vit_tiny_patch8", input_size=32, norm_pix_loss=True, mask_ratio=0.75,
                              blr=1.5e-4, output_dir="./output_dir")
    torch.save({"model": state, "args": args, "epoch": 3}, os.path.join(OUT_DIR, "mae_tiny.pth"))
    total += report(os.path.join(OUT_DIR, "mae_tiny.pth"))
    total += write_safetensors("mae_tiny_hf.safetensors", to_huggingface(state), {"format": "pt"})
    torch.save({"meta": {"epoch": 3, "mmcv_version": "1.4.4"}, "state_dict": to_easycv(state)},
               os.path.join(OUT_DIR, "mae_tiny_easycv.pth"))
    total += report(os.path.join(OUT_DIR, "mae_tiny_easycv.pth"))

    imgs = torch.randn(2, TINY["in_chans"], *TINY["img_size"])  # [N, C, H, W]
    bn = nn.BatchNorm1d(TINY["embed_dim"], affine=False, eps=1e-6)
    bn.running_mean.copy_(torch.randn(TINY["embed_dim"]) * 0.1)
    bn.running_var.copy_(torch.rand(TINY["embed_dim"]) + 0.5)
    bn.num_batches_tracked.fill_(11)
    linear = nn.Linear(TINY["embed_dim"], NUM_CLASSES)
    probe = nn.Sequential(bn, linear).eval()
    probe_state = {f"head.{k}": v for k, v in probe.state_dict().items()}
    total += write_safetensors("vit_probe_head.safetensors", dict(
        probe_state, **{"input.imgs": imgs, "output.logits": cls_vit_logits(state, probe, imgs)}))
    classifier = nn.Linear(TINY["embed_dim"], NUM_CLASSES)
    total += write_safetensors("vit_hf_classifier.safetensors", {
        "classifier.weight": classifier.weight, "classifier.bias": classifier.bias, "input.imgs": imgs,
        "output.logits": cls_vit_logits(state, classifier, imgs)})
    total += write_safetensors("pos_embed_resize.safetensors", pos_embed_cases())
    print(f"total: {total} bytes ({total / 2**20:.2f} MiB) in {os.path.relpath(OUT_DIR)}")
    write_corpus()

if __name__ == "__main__":
    main()
