#!/usr/bin/env python3
"""`mae export --output DIR/` folders load as they are in HuggingFace transformers and in timm, and
compute what `mae` computes.

A tiny pretraining and two fine-tunings (cls token, global pool) on generated IDX images, then:
  - the pretraining model, --scheme huggingface: ViTMAEForPreTraining.from_pretrained(DIR) with no
    missing or unexpected keys; its encoder (mask_ratio 0) gives `mae embed --pool cls`'s features;
  - the cls-token classifier, --scheme huggingface: ViTForImageClassification.from_pretrained(DIR),
    class probabilities = `mae predict`, class names in config.json;
  - the global-pool classifier and the pretraining encoder, --scheme timm:
    timm.create_model("local-dir:DIR"), strict loading, probabilities / features = ours.

    python3 tests/python/test_export_folders.py --mae build/bin/mae --work /tmp/export_folders
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import mae_and_fresh_workdir, require_modules, run  # noqa: E402

require_modules("numpy", "torch", "safetensors", "transformers", "timm")
import timm  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import ViTForImageClassification, ViTMAEForPreTraining  # noqa: E402

from tiny_runs import CLASSES, COUNT, MEAN, SIZE, STD, check, pretrain  # noqa: E402

def predictions(path):
    probs = torch.zeros(COUNT, CLASSES)
    for i, line in enumerate(open(path)):
        for t in json.loads(line)["top"]:
            probs[i, t["index"]] = t["prob"]
    if not probs.max(1).values.mean() > 0.35:  # uniform would be 0.25
        sys.exit(f"FAILED: {path}: the fine-tuned model is still near uniform; the check would be weak")
    return probs


def clean_load(info, what):
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if bad:
        sys.exit(f"FAILED: {what}: {bad}")
    print(f"{what}: from_pretrained with no missing, unexpected or mismatched keys")


def main():
    mae, w = mae_and_fresh_workdir()
    images, _, data, pre = pretrain(mae, w)
    for pool in ("true", "false"):
        run(mae, "finetune", "--init", pre, *data, "--output", f"{w}/ft_{pool}", "--set", "train.epochs=6",
            "--set", "optim.lr=5e-3", "--set", f"model.global_pool={pool}")
        run(mae, "predict", f"{w}/ft_{pool}/checkpoint-last.safetensors", "--top-k", str(CLASSES),
            "--output", f"{w}/pred_{pool}.jsonl", "--threads", "2")
    run(mae, "embed", pre, "--output", f"{w}/features.safetensors", "--pool", "cls", "--threads", "2")
    features = load_file(f"{w}/features.safetensors")["features"]
    x = torch.from_numpy(images).float().div(255).sub(MEAN).div(STD).unsqueeze(1)  # the eval transform at 16 px

    # 1. HuggingFace ViTMAEForPreTraining.
    run(mae, "export", pre, "--scheme", "huggingface", "--output", f"{w}/hf_mae/")
    model, info = ViTMAEForPreTraining.from_pretrained(f"{w}/hf_mae", output_loading_info=True, mask_ratio=0.0)
    clean_load(info, "ViTMAEForPreTraining")
    with torch.no_grad():
        hidden = model.eval().vit(pixel_values=x, noise=torch.rand(COUNT, (SIZE // 4) ** 2)).last_hidden_state
    check("HuggingFace ViTMAE cls features vs mae embed", hidden[:, 0], features, 1e-4)

    # 2. HuggingFace ViTForImageClassification (cls-token classifier).
    run(mae, "export", f"{w}/ft_false/checkpoint-last.safetensors", "--scheme", "huggingface", "--output", f"{w}/hf_cls/")
    model, info = ViTForImageClassification.from_pretrained(f"{w}/hf_cls", output_loading_info=True)
    clean_load(info, "ViTForImageClassification")
    if len(model.config.id2label) != CLASSES:
        sys.exit(f"FAILED: config.json names {len(model.config.id2label)} classes, the model has {CLASSES}")
    with torch.no_grad():
        check("HuggingFace ViT probabilities vs mae predict", model.eval()(pixel_values=x).logits.softmax(1),
              predictions(f"{w}/pred_false.jsonl"), 1e-5)

    # 3. timm, the global-pool classifier and the pretraining encoder.
    run(mae, "export", f"{w}/ft_true/checkpoint-last.safetensors", "--scheme", "timm", "--output", f"{w}/timm_cls/")
    model = timm.create_model(f"local-dir:{w}/timm_cls", pretrained=True).eval()
    with torch.no_grad():
        check("timm probabilities vs mae predict", model(x).softmax(1), predictions(f"{w}/pred_true.jsonl"), 1e-5)
    run(mae, "export", pre, "--part", "encoder", "--scheme", "timm", "--output", f"{w}/timm_encoder/")
    model = timm.create_model(f"local-dir:{w}/timm_encoder", pretrained=True).eval()
    with torch.no_grad():
        check("timm encoder features vs mae embed", model(x), features, 1e-4)
    print("PASSED")


if __name__ == "__main__":
    main()
