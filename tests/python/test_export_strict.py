#!/usr/bin/env python3
"""Our exports load with strict=True into PyTorch code that uses the official names, and compute
what `mae` computes.

Runs the `mae` binary: a tiny pretraining and fine-tuning on generated IDX images, then
`mae export` (full MAE, encoder alone, fine-tuned classifier), `mae embed` and `mae predict`.
The exports are loaded with `load_state_dict(strict=True)` into the project's PyTorch reference
(tests/python/mae_reference.py, the official models_mae / models_vit layout), and its features and
class probabilities are compared with ours. Exits non-zero on any mismatch.

    python3 tests/python/test_export_strict.py --mae build/bin/mae --work /tmp/export_test
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import mae_and_fresh_workdir, require_modules, run  # noqa: E402

require_modules("numpy", "torch", "safetensors")
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import mae_reference as ref  # noqa: E402
from tiny_runs import CLASSES, COUNT, MEAN, STD, check, pretrain  # noqa: E402

def main():
    mae, w = mae_and_fresh_workdir()
    images, _, data, pre = pretrain(mae, w)
    run(mae, "finetune", "--init", pre, *data, "--output", f"{w}/ft", "--set", "train.epochs=6", "--set", "optim.lr=5e-3")
    ft = f"{w}/ft/checkpoint-last.safetensors"
    run(mae, "export", pre, "--output", f"{w}/mae_full.safetensors")
    run(mae, "export", pre, "--part", "encoder", "--output", f"{w}/encoder.safetensors")
    run(mae, "export", ft, "--output", f"{w}/classifier.safetensors")
    run(mae, "embed", pre, "--output", f"{w}/features.safetensors", "--pool", "cls", "--threads", "2")
    run(mae, "predict", ft, "--top-k", str(CLASSES), "--output", f"{w}/pred.jsonl", "--threads", "2")

    torch.manual_seed(0)
    x = torch.from_numpy(images).float().div(255).sub(MEAN).div(STD).unsqueeze(1)  # the eval transform at 16 px

    # 1. The full pretraining model into the official MaskedAutoencoderViT layout.
    facts = json.load(open(f"{w}/mae_full.safetensors.json"))
    mae = ref.MaskedAutoencoderViT(img_size=tuple(facts["img_size"]), patch_size=facts["patch_size"], in_chans=facts["in_chans"],
                                   embed_dim=facts["embed_dim"], depth=facts["depth"], num_heads=facts["num_heads"],
                                   decoder_embed_dim=facts["decoder_embed_dim"], decoder_depth=facts["decoder_depth"],
                                   decoder_num_heads=facts["decoder_num_heads"], mlp_ratio=facts["mlp_ratio"],
                                   norm_pix_loss=facts["norm_pix_loss"])
    mae.load_state_dict(load_file(f"{w}/mae_full.safetensors"), strict=True)
    print("full MAE export: load_state_dict(strict=True) ok,", len(mae.state_dict()), "keys")

    # 2. The encoder alone into the fine-tuning ViT (cls token after norm; no head): features = `mae embed`.
    facts = json.load(open(f"{w}/encoder.safetensors.json"))
    enc = ref.VisionTransformer(img_size=tuple(facts["img_size"]), patch_size=facts["patch_size"], in_chans=facts["in_chans"],
                                embed_dim=facts["embed_dim"], depth=facts["depth"], num_heads=facts["num_heads"],
                                mlp_ratio=facts["mlp_ratio"], global_pool=facts["global_pool"])
    enc.head = torch.nn.Identity()
    enc.load_state_dict(load_file(f"{w}/encoder.safetensors"), strict=True)
    print("encoder export: load_state_dict(strict=True) ok")
    with torch.no_grad():
        check("cls features vs mae embed", load_file(f"{w}/features.safetensors")["features"], enc.eval()(x), 1e-4)

    # 3. The fine-tuned classifier (global pool + fc_norm + head): probabilities = `mae predict`.
    facts = json.load(open(f"{w}/classifier.safetensors.json"))
    vit = ref.VisionTransformer(img_size=tuple(facts["img_size"]), patch_size=facts["patch_size"], in_chans=facts["in_chans"],
                                num_classes=facts["num_classes"], embed_dim=facts["embed_dim"], depth=facts["depth"],
                                num_heads=facts["num_heads"], mlp_ratio=facts["mlp_ratio"], global_pool=facts["global_pool"])
    vit.load_state_dict(load_file(f"{w}/classifier.safetensors"), strict=True)
    print("classifier export: load_state_dict(strict=True) ok")
    ours = torch.zeros(COUNT, CLASSES)
    for i, line in enumerate(open(f"{w}/pred.jsonl")):
        for t in json.loads(line)["top"]:
            ours[i, t["index"]] = t["prob"]
    if not ours.max(1).values.mean() > 0.35:  # uniform would be 0.25
        sys.exit(f"FAILED: the fine-tuned model is still near uniform ({ours.max(1).values.mean():.3f}); the check would be weak")
    with torch.no_grad():
        check("class probabilities vs mae predict", ours, vit.eval()(x).softmax(1), 1e-5)
    print("PASSED")


if __name__ == "__main__":
    main()
