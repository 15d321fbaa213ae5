"""Backbone registry: build the feature extractor named by a BackboneConfig."""

from __future__ import annotations

from torch import nn

from ..config import BackboneConfig
from .pvt_v2 import PyramidVisionTransformerV2
from .swin import SwinTransformer

_FAMILIES: dict[str, type[nn.Module]] = {
    "swin": SwinTransformer,
    "pvt_v2": PyramidVisionTransformerV2,
}


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    """Instantiate the backbone for cfg (its forward returns four NCHW maps, strides 4..32)."""
    if cfg.family not in _FAMILIES:
        raise ValueError(f"unknown backbone family {cfg.family!r}; known: {sorted(_FAMILIES)}")
    return _FAMILIES[cfg.family](cfg)


__all__ = ["PyramidVisionTransformerV2", "SwinTransformer", "build_backbone"]
