"""PVT-v2 backbone (overlapping patch embeds, spatial-reduction attention), compatible with BiRefNet's `bb.*`."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import BackboneConfig
from .layers import DropPath, drop_path_rates, tokens_to_map

_NORM_EPS = 1e-6


class DWConv(nn.Module):
    """Depth-wise 3x3 conv applied to a token sequence laid out as a map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """[B, H*W, C] -> [B, H*W, C]."""
        return self.dwconv(tokens_to_map(x, hw)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """Feed-forward network with a depth-wise conv between the two linear layers."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """Apply the MLP."""
        return self.fc2(self.act(self.dwconv(self.fc1(x), hw)))


class SpatialReductionAttention(nn.Module):
    """Multi-head attention whose keys/values come from a strided-conv-downsampled token map."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """Attend from all tokens to the reduced token set."""
        q = self.q(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # [B, heads, N, d]
        context = x
        if self.sr_ratio > 1:
            context = self.norm(self.sr(tokens_to_map(x, hw)).flatten(2).transpose(1, 2))
        k, v = self.kv(context).unflatten(-1, (2, self.num_heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).flatten(2))


class PvtBlock(nn.Module):
    """Pre-norm transformer block: spatial-reduction attention then conv-MLP, each with a residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_NORM_EPS)
        self.attn = SpatialReductionAttention(dim, num_heads, sr_ratio)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """Apply the block to [B, H*W, C] tokens."""
        x = x + self.drop_path(self.attn(self.norm1(x), hw))
        return x + self.drop_path(self.mlp(self.norm2(x), hw))


class OverlapPatchEmbed(nn.Module):
    """Overlapping strided conv patch embedding followed by LayerNorm."""

    def __init__(self, in_channels: int, dim: int, patch: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=stride, padding=patch // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """Map [B, C, H, W] -> tokens [B, h*w, dim] and (h, w)."""
        x = self.proj(x)
        return self.norm(x.flatten(2).transpose(1, 2)), (x.shape[2], x.shape[3])


class PyramidVisionTransformerV2(nn.Module):
    """PVT-v2 feature extractor returning four NCHW maps at strides 4, 8, 16, 32."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.channels = cfg.embed_dims
        in_channels = (3,) + cfg.embed_dims[:3]
        for i, (cin, dim) in enumerate(zip(in_channels, cfg.embed_dims), start=1):
            patch, stride = (7, 4) if i == 1 else (3, 2)
            self.add_module(f"patch_embed{i}", OverlapPatchEmbed(cin, dim, patch, stride))
        rates = drop_path_rates(cfg.drop_path_rate, cfg.depths)
        stages = zip(cfg.embed_dims, cfg.depths, cfg.num_heads, cfg.mlp_ratios, cfg.sr_ratios, rates)
        for i, (dim, depth, heads, ratio, sr, stage_rates) in enumerate(stages, start=1):
            self.add_module(f"block{i}", nn.ModuleList(PvtBlock(dim, heads, ratio, sr, stage_rates[j]) for j in range(depth)))
            self.add_module(f"norm{i}", nn.LayerNorm(dim, eps=_NORM_EPS))
        self.apply(_init_weights)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Extract the four pyramid levels."""
        outs = []
        for i in range(1, 5):
            tokens, hw = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                tokens = block(tokens, hw)
            x = tokens_to_map(getattr(self, f"norm{i}")(tokens), hw)
            outs.append(x)
        return tuple(outs)


def _init_weights(module: nn.Module) -> None:
    """Reference PVT-v2 initialisation (truncated-normal linears, fan-out normal convs)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
