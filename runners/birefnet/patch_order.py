"""The two channel orders of the decoder's image patches in official BiRefNet, and the weight conversion between them.

Official BiRefNet folds the image into patches for the decoder's image prompts (`ipt_blk2..5`). Commit 5198d3f
(2024-11-05) changed how the patches are stacked into channels:

- "old" (`get_patches_batch`, weights trained before the change, e.g. general epoch_244, lite-2K epoch_232 and the
  released ONNX files): whole patches stacked column by column, colour innermost: `b (wg hg c) h w`;
- "new" (`image2patches`, our implementation): `b c (hg h) (wg w) -> b (c hg wg) h w`.

Each order is a fixed permutation of the first conv's input channels, so old-order weights become new-order weights
by permuting `decoder.ipt_blk{2..5}.conv1.weight` along its input axis: one code path serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

PatchOrder = Literal["old", "new"]
PATCH_ORDERS: tuple[PatchOrder, ...] = ("old", "new")
IMAGE_CHANNELS = 3

# Patch grid (image size / feature size) per split image-prompt block; ipt_blk1 sees the whole image (grid 1).
PROMPT_GRIDS = {5: 32, 4: 16, 3: 8, 2: 4}


def prompt_weight_key(level: int) -> str:
    """State-dict key of the conv that reads ipt_blk{level}'s patch channels."""
    return f"decoder.ipt_blk{level}.conv1.weight"


def old_channel_of_new(grid: int) -> Tensor:
    """For each new-order channel (c, hg, wg), the old-order channel holding the same pixels: (wg, hg, c)."""
    colour, row, column = torch.meshgrid(
        torch.arange(IMAGE_CHANNELS), torch.arange(grid), torch.arange(grid), indexing="ij"
    )
    return ((column * grid + row) * IMAGE_CHANNELS + colour).flatten()


def convert_patch_order(state: Mapping[str, Tensor], source: PatchOrder,
                        target: PatchOrder = "new") -> dict[str, Tensor]:
    """A copy of state whose image-prompt convs read target-order patches and compute what they did in source order.

    State dicts without split image prompts (no `ipt_blk5`) are returned unchanged: their order does not matter.
    """
    converted = dict(state)
    if source == target:
        return converted
    for level, grid in PROMPT_GRIDS.items():
        key = prompt_weight_key(level)
        if key not in state:
            continue
        weight = state[key]
        if weight.shape[1] != IMAGE_CHANNELS * grid * grid:
            raise ValueError(f"{key} reads {weight.shape[1]} channels; split patches of grid {grid} have "
                             f"{IMAGE_CHANNELS * grid * grid}")
        old_of_new = old_channel_of_new(grid)
        index = old_of_new if source == "old" else torch.argsort(old_of_new)
        converted[key] = weight.index_select(1, index.to(weight.device))
    return converted


def has_split_prompts(state: Mapping[str, Tensor]) -> bool:
    """Whether the patch order matters for these weights (the decoder takes split image patches)."""
    return any(prompt_weight_key(level) in state for level in PROMPT_GRIDS)


def _patch_layout(weight: Tensor, grid: int, order: PatchOrder) -> Tensor:
    """The conv's weights as [out, colour, row, column, kh, kw], reading the input channels in `order`."""
    out_channels, _, kh, kw = weight.shape
    if order == "new":
        return weight.reshape(out_channels, IMAGE_CHANNELS, grid, grid, kh, kw)
    return weight.reshape(out_channels, grid, grid, IMAGE_CHANNELS, kh, kw).permute(0, 3, 2, 1, 4, 5)


def _correlation(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of two equally shaped tensors, pooled over every element."""
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / ((a * a).sum() * (b * b).sum()).sqrt().clamp_min(1e-30))


def prompt_coherence(state: Mapping[str, Tensor], order: PatchOrder) -> float:
    """How alike the image-prompt weights are for neighbouring inputs (adjacent colours, rows and columns of a patch
    pixel) when the channels are read in `order`: the mean correlation over ipt_blk2..5.

    Trained weights follow the image's own statistics (neighbouring pixels and the three colours of a pixel are
    strongly correlated), so the order they were trained in scores clearly higher; random weights score about 0
    in both orders.
    """
    values = []
    for level, grid in PROMPT_GRIDS.items():
        key = prompt_weight_key(level)
        if key not in state:
            continue
        layout = _patch_layout(state[key].detach().float().cpu(), grid, order)
        for axis in (1, 2, 3):  # colour, row, column
            length = layout.shape[axis] - 1
            values.append(_correlation(layout.narrow(axis, 0, length), layout.narrow(axis, 1, length)))
    return sum(values) / len(values) if values else 0.0
