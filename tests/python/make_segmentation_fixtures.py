"""Writes tests/fixtures/parity/seg_upernet.safetensors, read by tests/parity/test_segmenter_parity.cpp.

A float64 reference of mmsegmentation's MAE + UPerNet for ADE20K (configs/mae/
mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py), written from mmseg's semantics in plain PyTorch
(no mmseg import): the ViT's blocks from mae_reference.py, maps after four blocks with the cls
token dropped, pos_embed resized bicubically as mmseg's ViT.resize_pos_embed for another input size,
Feature2Pyramid (rescales 4, 2, 1, 0.5), UPerHead (PPM 1, 2, 3, 6; align_corners=False), the FCN
auxiliary head on level 2, and mmseg's CrossEntropyLoss with ignore_index 255 (avg_non_ignore=True:
the mean over labelled pixels; mmseg adds float32 eps to the count, which the exact mean omits; and
the default avg_non_ignore=False: over all pixels). Plus the linear head (BatchNorm2d + 1x1 conv)
on the last map. Dropout and drop path are 0 so training mode is deterministic.

Run: ~/.cache/mae/venv/bin/python tests/python/make_segmentation_fixtures.py  (torch, safetensors).
Deterministic. Keys: param.<state-dict key> (UPerNet model: parameters and BatchNorm buffers),
linear.<key> (the linear model's head), input.*, output.*, grad.<key> (a few parameters).
Legend: N batch, C channels, H x W image, p patch, D width, K classes.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mae_reference import Block, PatchEmbed  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "parity", "seg_upernet.safetensors")
N, IMG_H, IMG_W, OTHER_H, OTHER_W = 2, 12, 20, 16, 16
ENC = dict(patch_size=4, in_chans=3, embed_dim=16, depth=4, num_heads=2, mlp_ratio=2.0)
HEAD = dict(num_classes=5, channels=8, aux_channels=8, aux_weight=0.4, ignore_index=255)
OUT_INDICES = (0, 1, 2, 3)
GRADS = ["backbone.patch_embed.proj.weight", "backbone.cls_token", "backbone.pos_embed",
         "backbone.blocks.0.attn.qkv.weight", "backbone.blocks.3.mlp.fc2.bias", "neck.upsample_4x.0.weight",
         "neck.upsample_4x.1.weight", "neck.upsample_2x.0.weight", "decode_head.psp_modules.2.1.conv.weight",
         "decode_head.psp_modules.3.1.bn.bias", "decode_head.lateral_convs.0.conv.weight",
         "decode_head.bottleneck.bn.weight", "decode_head.fpn_convs.2.bn.bias", "decode_head.fpn_bottleneck.bn.weight",
         "decode_head.conv_seg.weight", "decode_head.conv_seg.bias", "auxiliary_head.convs.0.conv.weight",
         "auxiliary_head.conv_seg.weight"]
# (Not the neck's ConvTranspose biases: each reaches the loss only through a BatchNorm in training, as a
# per-channel shift it removes, so their gradients are rounding noise.)


def resize(x, size):  # mmseg's resize for these heads: bilinear, align_corners=False
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Backbone(nn.Module):
    def __init__(self, img_h, img_w, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio):
        super().__init__()
        self.patch_size = patch_size
        self.patch_embed = PatchEmbed((img_h, img_w), patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + img_h // patch_size * img_w // patch_size, embed_dim))
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])

    def pos_embed_for(self, gh, gw):  # mmseg ViT.resize_pos_embed: cls row kept, grid bicubic
        h0, w0 = self.patch_embed.grid
        if (gh, gw) == (h0, w0):
            return self.pos_embed
        grid = self.pos_embed[:, 1:].reshape(1, h0, w0, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, imgs):  # [N, C, H, W] -> 4 x [N, D, H/p, W/p]
        gh, gw = imgs.shape[2] // self.patch_size, imgs.shape[3] // self.patch_size
        x = self.patch_embed(imgs)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed_for(gh, gw)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in OUT_INDICES:
                out = x[:, 1:]
                outs.append(out.reshape(out.shape[0], gh, gw, out.shape[2]).permute(0, 3, 1, 2).contiguous())
        return outs


class Feature2Pyramid(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.upsample_4x = nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2), nn.BatchNorm2d(dim), nn.GELU(),
                                         nn.ConvTranspose2d(dim, dim, 2, 2))
        self.upsample_2x = nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2))
        self.downsample_2x = nn.MaxPool2d(2, 2)

    def forward(self, maps):
        return [self.upsample_4x(maps[0]), self.upsample_2x(maps[1]), maps[2], self.downsample_2x(maps[3])]


class ConvModule(nn.Module):  # mmcv: conv without bias, norm `bn`, ReLU
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class UPerHead(nn.Module):
    def __init__(self, cin, channels, num_classes, pool_scales=(1, 2, 3, 6)):
        super().__init__()
        self.psp_modules = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(cin, channels, 1))
                                          for s in pool_scales])
        self.bottleneck = ConvModule(cin + len(pool_scales) * channels, channels, 3)
        self.lateral_convs = nn.ModuleList([ConvModule(cin, channels, 1) for _ in range(3)])
        self.fpn_convs = nn.ModuleList([ConvModule(channels, channels, 3) for _ in range(3)])
        self.fpn_bottleneck = ConvModule(4 * channels, channels, 3)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def psp_forward(self, x):
        outs = [x] + [resize(ppm(x), x.shape[2:]) for ppm in self.psp_modules]
        return self.bottleneck(torch.cat(outs, dim=1))

    def forward(self, inputs):
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)] + [self.psp_forward(inputs[-1])]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize(laterals[i], laterals[i - 1].shape[2:])
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals) - 1)] + [laterals[-1]]
        for i in range(len(outs) - 1, 0, -1):
            outs[i] = resize(outs[i], outs[0].shape[2:])
        return self.conv_seg(self.fpn_bottleneck(torch.cat(outs, dim=1)))  # dropout 0


class FCNHead(nn.Module):  # num_convs=1, concat_input=False
    def __init__(self, cin, channels, num_classes):
        super().__init__()
        self.convs = nn.Sequential(ConvModule(cin, channels, 3))
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x):
        return self.conv_seg(self.convs(x))


class LinearHead(nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv_seg = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        return self.conv_seg(self.bn(x))


class Segmenter(nn.Module):
    def __init__(self, linear=False):
        super().__init__()
        d, k = ENC["embed_dim"], HEAD["num_classes"]
        self.backbone = Backbone(IMG_H, IMG_W, **ENC)
        if linear:
            self.decode_head = LinearHead(d, k)
            return
        self.neck = Feature2Pyramid(d)
        self.decode_head = UPerHead(d, HEAD["channels"], k)
        self.auxiliary_head = FCNHead(d, HEAD["aux_channels"], k)

    def forward(self, imgs):  # -> logits, aux logits (training) or None
        maps = self.backbone(imgs)
        if isinstance(self.decode_head, LinearHead):
            return self.decode_head(maps[-1]), None
        levels = self.neck(maps)
        return self.decode_head(levels), (self.auxiliary_head(levels[2]) if self.training else None)


def cross_entropy(logits, labels, avg_non_ignore=True):
    """mmseg's decode-head loss: logits resized to the labels, per-pixel CE, ignore_index left out."""
    per_pixel = F.cross_entropy(resize(logits, labels.shape[1:]), labels, reduction="none",
                                ignore_index=HEAD["ignore_index"])
    if not avg_non_ignore:
        return per_pixel.mean()
    return per_pixel.sum() / (labels != HEAD["ignore_index"]).sum()


def randomize(model):
    """Non-trivial values everywhere: weights O(1/sqrt(fan_in)), BatchNorm affine and running stats."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            is_norm = "bn." in name or "norm" in name or name.startswith("neck.upsample_4x.1.")
            if is_norm and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.dim() > 1 and "token" not in name and "pos_embed" not in name:
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
            else:
                p.copy_(0.2 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand_like(b))
            elif name.endswith("num_batches_tracked"):
                b.fill_(3)


def main():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    model = Segmenter()
    randomize(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    linear = Segmenter(linear=True)
    linear.backbone.load_state_dict(model.backbone.state_dict())
    randomize(linear.decode_head)

    imgs = torch.randn(N, ENC["in_chans"], IMG_H, IMG_W)
    labels = torch.randint(0, HEAD["num_classes"], (N, IMG_H, IMG_W))
    labels[torch.rand(N, IMG_H, IMG_W) < 0.2] = HEAD["ignore_index"]
    other = torch.randn(1, ENC["in_chans"], OTHER_H, OTHER_W)

    model.train()
    logits, aux = model(imgs)
    loss = cross_entropy(logits, labels) + HEAD["aux_weight"] * cross_entropy(aux, labels)
    loss_all_pixels = cross_entropy(logits, labels, False) + HEAD["aux_weight"] * cross_entropy(aux, labels, False)
    loss.backward()
    params = dict(model.named_parameters())
    tensors = {f"param.{k}": v for k, v in state.items()}
    tensors.update({f"grad.{k}": params[k].grad for k in GRADS})
    tensors.update({"input.imgs": imgs, "input.labels": labels, "input.other_imgs": other, "output.logits": logits,
                    "output.aux": aux, "output.loss": loss, "output.loss_all_pixels": loss_all_pixels,
                    "output.running_var": model.neck.upsample_4x[1].running_var.clone()})  # load_state_dict below writes in place

    model.load_state_dict(state)  # the running stats before the training forward
    model.eval()
    with torch.no_grad():
        tensors["output.other_logits"] = model(other)[0]

    linear.train()
    linear_logits, _ = linear(imgs)
    linear_loss = cross_entropy(linear_logits, labels)
    linear_loss.backward()
    tensors.update({f"linear.{k}": v for k, v in linear.decode_head.state_dict().items()})
    tensors.update({"output.linear_logits": linear_logits, "output.linear_loss": linear_loss,
                    "grad.linear.decode_head.conv_seg.weight": linear.decode_head.conv_seg.weight.grad,
                    "grad.linear.decode_head.bn.weight": linear.decode_head.bn.weight.grad,
                    "grad.linear.backbone.blocks.3.mlp.fc2.bias": linear.backbone.blocks[3].mlp.fc2.bias.grad})

    meta = dict(img_h=IMG_H, img_w=IMG_W, **ENC, **HEAD, out_indices=",".join(map(str, OUT_INDICES)),
                torch_version=torch.__version__,
                generated_by="tests/python/make_segmentation_fixtures.py (do not edit by hand; rerun it)")
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, OUT, metadata={k: str(v) for k, v in meta.items()})
    os.chmod(OUT, 0o644)
    print(f"{os.path.basename(OUT)}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
