"""Stateless tensor ops shared by the BiRefNet encoder and decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def resize(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize with align_corners=True (the interpolation BiRefNet uses everywhere)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


def image_to_patches(image: Tensor, ref: Tensor) -> Tensor:
    """Fold an image into channels so it matches ref's grid: [B,C,gh*h,gw*w] -> [B,C*gh*gw,h,w]."""
    height, width = image.shape[-2:]
    h, w = ref.shape[-2:]
    grid_h, grid_w = height // h, width // w
    if grid_h * h != height or grid_w * w != width:
        raise ValueError(f"image {height}x{width} cannot be split into patches of {h}x{w}")
    patches = image.unflatten(2, (grid_h, h)).unflatten(4, (grid_w, w))  # [B, C, gh, h, gw, w]
    return patches.permute(0, 1, 2, 4, 3, 5).flatten(1, 3)


def laplacian_edges(image: Tensor) -> Tensor:
    """Normalised 5x5 Laplacian (reflect border) of the channel-mean image: BiRefNet's gradient target."""
    gray = image.mean(dim=1, keepdim=True)
    kernel = torch.ones(5, 5, dtype=gray.dtype, device=gray.device)
    kernel[2, 2] = -24.0
    kernel = kernel / kernel.abs().sum()
    return F.conv2d(F.pad(gray, (2, 2, 2, 2), mode="reflect"), kernel.view(1, 1, 5, 5))
