"""BiRefNet model: backbone encoder with multi-scale input and context, squeeze block, decoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbones import build_backbone
from .blocks import BasicDecBlk
from .config import BiRefNetConfig
from .decoder import BiRefNetOutput, Decoder
from .ops import resize


class BiRefNet(nn.Module):
    """Bilateral-reference segmentation network; state-dict compatible with the official checkpoints.

    eval(): forward returns the final logits [B, 1, H, W] (apply sigmoid for a mask).
    train(): forward returns a BiRefNetOutput with side logits and gradient-attention predictions/labels.
    """

    def __init__(self, config: BiRefNetConfig) -> None:
        super().__init__()
        self.config = config
        self.bb = build_backbone(config.backbone)
        top = config.lateral_channels[0]
        squeeze = BasicDecBlk(top + sum(config.cxt_channels), top, config.dec_channels_inter, config.aspp_channels)
        self.squeeze_module = nn.Sequential(squeeze)
        self.decoder = Decoder(config)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Backbone features (strides 4..32), fused with a half-resolution pass and context from shallow levels."""
        feats = self.bb(x)
        mode = self.config.mul_scl_ipt
        if mode:
            half = self.bb(resize(x, (x.shape[2] // 2, x.shape[3] // 2)))
            upsampled = [resize(h, f.shape[-2:]) for f, h in zip(feats, half)]
            feats = tuple(torch.cat((f, u), dim=1) if mode == "cat" else f + u for f, u in zip(feats, upsampled))
        x1, x2, x3, x4 = feats
        if self.config.cxt_num:
            context = [resize(f, x4.shape[-2:]) for f in (x1, x2, x3)[3 - self.config.cxt_num :]]
            x4 = torch.cat((*context, x4), dim=1)
        return x1, x2, x3, x4

    def forward(self, x: Tensor) -> Tensor | BiRefNetOutput:
        """Segment a normalised RGB batch [B, 3, H, W] (H, W multiples of 32)."""
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"input height and width must be multiples of 32, got {tuple(x.shape[-2:])}")
        x1, x2, x3, x4 = self.encode(x)
        out = self.decoder(x, (x1, x2, x3, self.squeeze_module(x4)))
        return out if self.training else out.logits
