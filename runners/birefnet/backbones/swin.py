"""Swin Transformer v1 backbone (shifted-window attention), state-dict compatible with BiRefNet's `bb.*`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import BackboneConfig
from .layers import DropPath, drop_path_rates, tokens_to_map


def relative_position_index(window: int) -> Tensor:
    """Index into the (2w-1)^2 bias table for every (query, key) pair of a w x w window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)
    return rel[0] * (2 * window - 1) + rel[1]


def window_partition(x: Tensor, window: int) -> Tensor:
    """[B, H, W, C] -> [B, nWin, window*window, C] (H, W multiples of window)."""
    height, width = x.shape[1:3]
    x = x.unflatten(1, (height // window, window)).unflatten(3, (width // window, window))
    return x.permute(0, 1, 3, 2, 4, 5).flatten(1, 2).flatten(2, 3)


def window_merge(windows: Tensor, window: int, height: int, width: int) -> Tensor:
    """Inverse of window_partition: [B, nWin, window*window, C] -> [B, H, W, C]."""
    x = windows.unflatten(1, (height // window, width // window)).unflatten(3, (window, window))
    return x.permute(0, 1, 3, 2, 4, 5).flatten(1, 2).flatten(2, 3)


def shifted_window_mask(height: int, width: int, window: int, shift: int, device: torch.device) -> Tensor:
    """Additive mask [nWin, N, N] blocking attention across regions that the cyclic shift made adjacent."""

    def bands(n: int) -> Tensor:
        idx = torch.arange(n, device=device)
        return (idx >= n - window).long() + (idx >= n - shift).long()

    regions = bands(height)[:, None] * 3 + bands(width)[None, :]
    labels = window_partition(regions[None, :, :, None], window)[0, :, :, 0]  # [nWin, N]
    return torch.where(labels[:, None, :] != labels[:, :, None], float("-inf"), 0.0)


class Mlp(nn.Module):
    """Two-layer GELU feed-forward network."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP."""
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative-position bias."""

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Attend within windows; x is [B, nWin, N, C], mask is [nWin, N, N] or None."""
        tokens = x.shape[-2]
        q, k, v = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(3, 0, 1, 4, 2, 5).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn_bias = bias.view(tokens, tokens, -1).permute(2, 0, 1)  # [heads, N, N]
        if mask is not None:
            attn_bias = attn_bias + mask.unsqueeze(1)  # [nWin, heads, N, N]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias.to(q.dtype))  # [B, nWin, heads, N, d]
        return self.proj(out.transpose(-3, -2).flatten(-2))


class SwinBlock(nn.Module):
    """Pre-norm Swin block: (shifted) window attention then MLP, each with a residual."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, hw: tuple[int, int], mask: Tensor) -> Tensor:
        """x is [B, H*W, C]; the map is zero-padded to whole windows after norm1, as in the reference."""
        height, width = hw
        ws = self.window
        y = self.norm1(x).unflatten(1, hw)
        y = F.pad(y, (0, 0, 0, (ws - width % ws) % ws, 0, (ws - height % ws) % ws))
        padded_h, padded_w = y.shape[1:3]
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = self.attn(window_partition(y, ws), mask if self.shift else None)
        y = window_merge(windows, ws, padded_h, padded_w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y[:, :height, :width].flatten(1, 2))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x downsampling: concatenate each 2x2 neighbourhood, normalise, project 4C -> 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """[B, H*W, C] -> [B, ceil(H/2)*ceil(W/2), 2C]."""
        height, width = hw
        y = F.pad(x.unflatten(1, hw), (0, 0, 0, width % 2, 0, height % 2))
        y = torch.cat((y[:, 0::2, 0::2], y[:, 1::2, 0::2], y[:, 0::2, 1::2], y[:, 1::2, 1::2]), dim=-1)
        return self.reduction(self.norm(y.flatten(1, 2)))


class SwinStage(nn.Module):
    """A stack of alternating regular/shifted Swin blocks, optionally followed by patch merging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float, drop_paths: list[float], downsample: bool) -> None:
        super().__init__()
        self.window = window
        self.shift = window // 2
        self.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, window, 0 if i % 2 == 0 else self.shift, mlp_ratio, drop_paths[i]) for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor | None]:
        """Return the stage output and, if this stage downsamples, its merged tokens."""
        ws = self.window
        padded = ((hw[0] + ws - 1) // ws * ws, (hw[1] + ws - 1) // ws * ws)
        mask = shifted_window_mask(*padded, ws, self.shift, x.device)
        for block in self.blocks:
            x = block(x, hw, mask)
        return x, (self.downsample(x, hw) if self.downsample is not None else None)


class PatchEmbed(nn.Module):
    """Non-overlapping 4x4 patch projection with LayerNorm; pads inputs to a multiple of 4."""

    def __init__(self, dim: int, patch: int = 4) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """Image [B,3,H,W] -> tokens [B, h*w, C] and (h, w)."""
        height, width = x.shape[-2:]
        x = F.pad(x, (0, (self.patch - width % self.patch) % self.patch, 0, (self.patch - height % self.patch) % self.patch))
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), hw


class SwinTransformer(nn.Module):
    """Swin v1 feature extractor returning four NCHW maps at strides 4, 8, 16, 32."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.channels = cfg.embed_dims
        self.patch_embed = PatchEmbed(cfg.embed_dims[0])
        rates = drop_path_rates(cfg.drop_path_rate, cfg.depths)
        self.layers = nn.ModuleList(
            SwinStage(dim, depth, heads, cfg.window_size, ratio, rate, downsample=i < 3)
            for i, (dim, depth, heads, ratio, rate) in enumerate(zip(cfg.embed_dims, cfg.depths, cfg.num_heads, cfg.mlp_ratios, rates))
        )
        for i, dim in enumerate(cfg.embed_dims):
            self.add_module(f"norm{i}", nn.LayerNorm(dim))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Extract the four pyramid levels."""
        tokens, hw = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.layers):
            out, merged = stage(tokens, hw)
            outs.append(tokens_to_map(getattr(self, f"norm{i}")(out), hw))
            if merged is not None:
                tokens, hw = merged, ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
        return tuple(outs)
