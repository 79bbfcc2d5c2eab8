"""Plain PyTorch reference of MAE (He et al. 2021) for parity fixtures and benchmarks.

Written from the paper's description; module and parameter names equal the official state-dict keys.
Legend: N batch, L patches, D width, C channels, p patch, T tokens (L_kept + 1 for cls).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

DECODER = dict(decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
PRESETS = {  # name -> constructor kwargs (patch 16 except huge and mini, the built-in demo's model)
    "mini": dict(embed_dim=128, depth=6, num_heads=4, patch_size=4, decoder_embed_dim=64, decoder_depth=2,
                 decoder_num_heads=4),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3, patch_size=16, **DECODER),
    "small": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16, **DECODER),
    "base": dict(embed_dim=768, depth=12, num_heads=12, patch_size=16, **DECODER),
    "large": dict(embed_dim=1024, depth=24, num_heads=16, patch_size=16, **DECODER),
    "huge": dict(embed_dim=1280, depth=32, num_heads=16, patch_size=14, **DECODER),
}


def sincos_1d(dim, pos):
    """pos: [M] -> [M, dim] as [sin(pos*omega), cos(pos*omega)], omega_i = 1/10000^(i/(dim/2))."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = pos.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d(dim, grid_h, grid_w):
    """Fixed table [1 + grid_h*grid_w, dim]: row 0 (cls) is zero; first half encodes the column."""
    assert dim % 4 == 0, f"sin-cos embedding width {dim} must be a multiple of 4"
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    emb = torch.cat([sincos_1d(dim // 2, cols.flatten()), sincos_1d(dim // 2, rows.flatten())], dim=1)
    return torch.cat([torch.zeros(1, dim, dtype=torch.float64), emb], dim=0)


class PatchEmbed(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        H, W = img_size
        assert H % patch_size == 0 and W % patch_size == 0, f"image {H}x{W} not divisible by patch {patch_size}"
        self.grid = (H // patch_size, W // patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, imgs):  # [N, C, H, W] -> [N, L, D]
        return self.proj(imgs).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, num_heads, attn="explicit"):
        super().__init__()
        assert dim % num_heads == 0, f"width {dim} not divisible by {num_heads} heads"
        assert attn in ("explicit", "sdpa"), f"attn must be explicit or sdpa, got {attn}"
        self.num_heads, self.mode = num_heads, attn
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # [N, T, D] -> [N, T, D]
        N, T, D = x.shape
        qkv = self.qkv(x).reshape(N, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [N, heads, T, D/heads]
        if self.mode == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(N, T, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, attn="explicit"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attn)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):  # [N, T, D]
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def official_init(model):
    """xavier_uniform Linear (bias 0), conv weight xavier on its [D, C*p*p] view, LayerNorm 1/0."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    w = model.patch_embed.proj.weight
    with torch.no_grad():
        w.copy_(nn.init.xavier_uniform_(torch.empty_like(w).view(w.shape[0], -1)).view_as(w))


class MaskedAutoencoderViT(nn.Module):
    def __init__(self, img_size=(224, 224), patch_size=16, in_chans=3, embed_dim=1024, depth=24,
                 num_heads=16, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
                 mlp_ratio=4.0, norm_pix_loss=False, attn="explicit"):
        super().__init__()
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.img_size, self.patch_size, self.in_chans = tuple(img_size), patch_size, in_chans
        self.norm_pix_loss = norm_pix_loss
        # encoder
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        gh, gw = self.patch_embed.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_2d(embed_dim, gh, gw)[None].to(torch.get_default_dtype()),
                                      requires_grad=False)  # [1, L+1, D]
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, attn) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        # decoder
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            sincos_2d(decoder_embed_dim, gh, gw)[None].to(torch.get_default_dtype()), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            [Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, attn) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_size * patch_size * in_chans)
        official_init(self)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def patchify(self, imgs):  # [N, C, H, W] -> [N, L, p*p*C], order (row p, col q, channel c)
        N, C, H, W = imgs.shape
        p = self.patch_size
        x = imgs.reshape(N, C, H // p, p, W // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(N, (H // p) * (W // p), p * p * C)

    def unpatchify(self, x, C=None, H=None, W=None):  # [N, L, p*p*C] -> [N, C, H, W]
        C, H, W = C or self.in_chans, H or self.img_size[0], W or self.img_size[1]
        p = self.patch_size
        x = x.reshape(x.shape[0], H // p, W // p, p, p, C)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], C, H, W)

    def random_masking(self, x, mask_ratio, noise=None):
        """x: [N, L, D], noise: [N, L] -> x_kept [N, L_keep, D], mask [N, L] (1 = removed), ids_restore [N, L]."""
        N, L, D = x.shape
        len_keep = int(L * (1 - mask_ratio))
        if noise is None:
            noise = torch.rand(N, L, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_kept = torch.gather(x, 1, ids_keep[:, :, None].expand(-1, -1, D))
        mask = torch.ones(N, L, device=x.device, dtype=x.dtype)
        mask[:, :len_keep] = 0
        return x_kept, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(self, imgs, mask_ratio, noise=None):  # -> latent [N, 1+L_keep, D], mask, ids_restore
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, latent, ids_restore):  # latent [N, 1+L_keep, D] -> pred [N, L, p*p*C]
        x = self.decoder_embed(latent)  # [N, 1+L_keep, Dd]
        N, L = ids_restore.shape
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(N, L + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[:, :, None].expand(-1, -1, x.shape[2]))  # un-shuffle
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_loss(self, imgs, pred, mask):  # imgs [N, C, H, W], pred [N, L, p*p*C], mask [N, L]
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)  # unbiased
            target = (target - mean) / (var + 1e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)  # [N, L] per-patch MSE
        return (loss * mask).sum() / mask.sum()  # over removed patches only

    def forward(self, imgs, mask_ratio=0.75, noise=None):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask


class VisionTransformer(nn.Module):
    """MAE fine-tuning encoder: learnable pos_embed; global_pool -> mean of patch tokens + fc_norm."""

    def __init__(self, img_size=(224, 224), patch_size=16, in_chans=3, num_classes=1000, embed_dim=768,
                 depth=12, num_heads=12, mlp_ratio=4.0, global_pool=True, attn="explicit"):
        super().__init__()
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.global_pool = global_pool
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        gh, gw = self.patch_embed.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_2d(embed_dim, gh, gw)[None].to(torch.get_default_dtype()))
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, attn) for _ in range(depth)])
        if global_pool:
            self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)  # no `norm` module at all
        else:
            self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        official_init(self)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)  # FINETUNE.md head init

    def forward(self, imgs):  # [N, C, H, W] -> logits [N, num_classes]
        x = self.patch_embed(imgs)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        feat = self.fc_norm(x[:, 1:].mean(dim=1)) if self.global_pool else self.norm(x)[:, 0]
        return self.head(feat)
