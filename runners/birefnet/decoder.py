"""BiRefNet decoder: coarse-to-fine refinement with image-patch prompts, lateral skips and gradient attention."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import BasicDecBlk, BasicLatBlk, SimpleConvs
from .config import BiRefNetConfig
from .ops import image_to_patches, laplacian_edges, resize

# Patch grid per image-prompt block: ipt_blk5 matches stride-32 features, ..., ipt_blk1 the full image.
_IPT_GRID = {5: 32, 4: 16, 3: 8, 2: 4, 1: 1}


class BiRefNetOutput(NamedTuple):
    """Decoder outputs; in training the side/gradient lists feed the auxiliary losses (deepest level first)."""

    logits: Tensor
    side_logits: list[Tensor]
    gdt_preds: list[Tensor]
    gdt_labels: list[Tensor]


class Decoder(nn.Module):
    """Decode the squeezed deepest features back to full-resolution mask logits."""

    def __init__(self, cfg: BiRefNetConfig) -> None:
        super().__init__()
        self.dec_ipt = cfg.dec_ipt
        self.split = cfg.dec_ipt_split
        self.ms_supervision = cfg.ms_supervision
        self.out_ref = cfg.out_ref
        ch = cfg.lateral_channels
        dec_out = [*ch[1:], ch[-1] // 2]
        # ipt_blk{L} output is concatenated before decoder_block{L-1}; ipt_blk1's before conv_out1.
        ipt_width = dict(zip(_IPT_GRID, (ch[0] // 8, ch[0] // 8, ch[1] // 8, ch[2] // 8, ch[3] // 8)))
        if cfg.dec_ipt:
            for level, grid in _IPT_GRID.items():
                in_ch = 3 * grid * grid if cfg.dec_ipt_split else 3
                self.add_module(f"ipt_blk{level}", SimpleConvs(in_ch, ipt_width[level], cfg.ipt_channels_inter))
        else:
            ipt_width = dict.fromkeys(_IPT_GRID, 0)
        for i, level in enumerate((4, 3, 2, 1)):
            block = BasicDecBlk(ch[i] + ipt_width[level + 1], dec_out[i], cfg.dec_channels_inter, cfg.aspp_channels)
            self.add_module(f"decoder_block{level}", block)
        self.conv_out1 = nn.Sequential(nn.Conv2d(dec_out[3] + ipt_width[1], 1, 1))
        for i, level in enumerate((4, 3, 2)):
            self.add_module(f"lateral_block{level}", BasicLatBlk(ch[i + 1], dec_out[i]))
        if cfg.ms_supervision:
            for i, level in enumerate((4, 3, 2)):
                self.add_module(f"conv_ms_spvn_{level}", nn.Conv2d(dec_out[i], 1, 1))
        if cfg.out_ref:
            n = cfg.gdt_channels
            for i, level in enumerate((4, 3, 2)):
                gdt = nn.Sequential(nn.Conv2d(dec_out[i], n, 3, padding=1), nn.BatchNorm2d(n), nn.ReLU(inplace=True))
                self.add_module(f"gdt_convs_{level}", gdt)
            for head in ("pred", "attn"):
                for level in (4, 3, 2):
                    self.add_module(f"gdt_convs_{head}_{level}", nn.Sequential(nn.Conv2d(n, 1, 1)))

    def forward(self, image: Tensor, feats: tuple[Tensor, Tensor, Tensor, Tensor]) -> BiRefNetOutput:
        """Decode (x1, x2, x3, squeezed x4) guided by the normalised input image."""
        x1, x2, x3, p = feats
        laterals = {4: x3, 3: x2, 2: x1}
        edges = laplacian_edges(image) if self.training and self.out_ref else None
        aux: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
        for level in (4, 3, 2):
            p = getattr(self, f"decoder_block{level}")(self._prompt(image, p, level + 1))
            p = self._side_outputs(p, level, edges, *aux)
            lateral = laterals[level]
            p = resize(p, lateral.shape[-2:]) + getattr(self, f"lateral_block{level}")(lateral)
        p = self.decoder_block1(self._prompt(image, p, 2))
        return BiRefNetOutput(self._logits(image, p), *aux)

    def _patches(self, image: Tensor, like: Tensor) -> Tensor:
        """The image patches aligned to like's grid, the image prompts' input."""
        patches = image_to_patches(image, like) if self.split else image
        if patches.shape[-2:] != like.shape[-2:]:
            patches = resize(patches, like.shape[-2:])
        return patches

    def _prompt(self, image: Tensor, p: Tensor, level: int) -> Tensor:
        """Concatenate encoded image patches (aligned to p's grid) onto p, if decoder image prompts are on."""
        if not self.dec_ipt:
            return p
        return torch.cat((p, getattr(self, f"ipt_blk{level}")(self._patches(image, p))), dim=1)

    def _logits(self, image: Tensor, p: Tensor) -> Tensor:
        """conv_out1 over [resize(p) to the image, ipt_blk1's encoding], computed as resize(conv(p)) + conv(encoding).

        A 1x1 conv and a bilinear resize commute (both linear, the resize's weights sum to one), so p is projected to
        one channel before it is upsampled: the same logits without p's channels (and their concat) at full size.
        The image prompt is never encoded at full size either: its projection is one conv (SimpleConvs.projected).
        """
        conv = self.conv_out1[0]
        width = p.shape[1]
        logits = resize(F.conv2d(p, conv.weight[:, :width], conv.bias), image.shape[-2:])
        if not self.dec_ipt:
            return logits
        return logits + self.ipt_blk1.projected(self._patches(image, image), conv.weight[:, width:])

    def _side_outputs(
        self,
        p: Tensor,
        level: int,
        edges: Tensor | None,
        side_logits: list[Tensor],
        gdt_preds: list[Tensor],
        gdt_labels: list[Tensor],
    ) -> Tensor:
        """Append training side logits / gradient predictions to the lists; gate p by gradient attention."""
        side = None
        if self.ms_supervision and self.training:
            side = getattr(self, f"conv_ms_spvn_{level}")(p)
            side_logits.append(side)
        if not self.out_ref:
            return p
        feat = getattr(self, f"gdt_convs_{level}")(p)
        if self.training:
            gdt_preds.append(getattr(self, f"gdt_convs_pred_{level}")(feat))
            gdt_labels.append(edges * resize(side, edges.shape[-2:]))
        return p * torch.sigmoid(getattr(self, f"gdt_convs_attn_{level}")(feat))
