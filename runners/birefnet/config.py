"""BiRefNet architecture configuration: backbone specs, decoder flags and the official variants."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

BackboneFamily = Literal["swin", "pvt_v2"]


@dataclass(frozen=True)
class BackboneConfig:
    """Hyper-parameters of a hierarchical (stride 4/8/16/32) transformer backbone."""

    name: str
    family: BackboneFamily
    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    mlp_ratios: tuple[float, ...] = (4.0, 4.0, 4.0, 4.0)
    window_size: int = 7
    sr_ratios: tuple[int, ...] = (8, 4, 2, 1)
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        """Require four stages and head counts that divide the stage widths."""
        per_stage = (self.embed_dims, self.depths, self.num_heads, self.mlp_ratios, self.sr_ratios)
        if any(len(values) != 4 for values in per_stage):
            raise ValueError(f"{self.name}: every per-stage setting needs exactly 4 values")
        for dim, heads in zip(self.embed_dims, self.num_heads):
            if dim % heads:
                raise ValueError(f"{self.name}: width {dim} is not divisible by {heads} heads")


@dataclass(frozen=True)
class BiRefNetConfig:
    """Full BiRefNet configuration; defaults are the settings shared by all official checkpoints."""

    name: str
    backbone: BackboneConfig
    size: int = 1024
    mul_scl_ipt: Literal["cat", "add", ""] = "cat"
    cxt_num: int = 3
    dec_ipt: bool = True
    dec_ipt_split: bool = True
    ms_supervision: bool = True
    out_ref: bool = True
    dec_channels_inter: int = 64
    ipt_channels_inter: int = 64
    aspp_channels: int = 256
    gdt_channels: int = 16

    def __post_init__(self) -> None:
        """Validate flag combinations the architecture cannot express."""
        if self.size % 32:
            raise ValueError(f"input size must be a multiple of 32, got {self.size}")
        if self.mul_scl_ipt not in ("cat", "add", ""):
            raise ValueError(f"mul_scl_ipt must be 'cat', 'add' or '', got {self.mul_scl_ipt!r}")
        if not 0 <= self.cxt_num <= 3:
            raise ValueError(f"cxt_num must be in [0, 3], got {self.cxt_num}")
        if self.out_ref and not self.ms_supervision:
            raise ValueError("out_ref needs ms_supervision (gradient labels are built from side outputs)")

    @property
    def lateral_channels(self) -> tuple[int, ...]:
        """Encoder channels from deepest to shallowest, doubled when multi-scale inputs are concatenated."""
        factor = 2 if self.mul_scl_ipt == "cat" else 1
        return tuple(c * factor for c in reversed(self.backbone.embed_dims))

    @property
    def cxt_channels(self) -> tuple[int, ...]:
        """Channels of the shallower levels concatenated onto the deepest one as context."""
        shallow_to_deep = self.lateral_channels[1:][::-1]
        return shallow_to_deep[len(shallow_to_deep) - self.cxt_num :]

    def scaled(self, size: int, width_div: int = 1, max_depth: int | None = None) -> BiRefNetConfig:
        """Shrink input size, widths and depths for fast tests; the result is not weight-compatible."""
        bb = self.backbone
        for dim, heads in zip(bb.embed_dims, bb.num_heads):
            if dim % (width_div * heads):
                raise ValueError(f"width_div={width_div} leaves width {dim // width_div} indivisible by {heads} heads")
        depths = bb.depths if max_depth is None else tuple(min(d, max_depth) for d in bb.depths)
        small_bb = replace(bb, embed_dims=tuple(d // width_div for d in bb.embed_dims), depths=depths)
        return replace(
            self,
            name=f"{self.name}@{size}/w{width_div}",
            backbone=small_bb,
            size=size,
            dec_channels_inter=max(1, self.dec_channels_inter // width_div),
            ipt_channels_inter=max(1, self.ipt_channels_inter // width_div),
            aspp_channels=max(1, self.aspp_channels // width_div),
            gdt_channels=max(1, self.gdt_channels // width_div),
        )


def _swin(name: str, embed_dim: int, depths: tuple[int, ...], heads: tuple[int, ...], window: int) -> BackboneConfig:
    """Swin-v1 backbone spec with the official stochastic-depth rate."""
    dims = (embed_dim, embed_dim * 2, embed_dim * 4, embed_dim * 8)
    return BackboneConfig(name, "swin", dims, depths, heads, window_size=window, drop_path_rate=0.2)


def _pvt(name: str, dims: tuple[int, ...], depths: tuple[int, ...], mlp_ratios: tuple[float, ...]) -> BackboneConfig:
    """PVT-v2 backbone spec with the official heads, reduction ratios and stochastic-depth rate."""
    return BackboneConfig(name, "pvt_v2", dims, depths, (1, 2, 5, 8), mlp_ratios=mlp_ratios, drop_path_rate=0.1)


_BACKBONES: dict[str, BackboneConfig] = {
    "swin_v1_t": _swin("swin_v1_t", 96, (2, 2, 6, 2), (3, 6, 12, 24), 7),
    "swin_v1_s": _swin("swin_v1_s", 96, (2, 2, 18, 2), (3, 6, 12, 24), 7),
    "swin_v1_b": _swin("swin_v1_b", 128, (2, 2, 18, 2), (4, 8, 16, 32), 12),
    "swin_v1_l": _swin("swin_v1_l", 192, (2, 2, 18, 2), (6, 12, 24, 48), 12),
    "pvt_v2_b0": _pvt("pvt_v2_b0", (32, 64, 160, 256), (2, 2, 2, 2), (8, 8, 4, 4)),
    "pvt_v2_b1": _pvt("pvt_v2_b1", (64, 128, 320, 512), (2, 2, 2, 2), (8, 8, 4, 4)),
    "pvt_v2_b2": _pvt("pvt_v2_b2", (64, 128, 320, 512), (3, 4, 6, 3), (8, 8, 4, 4)),
    "pvt_v2_b5": _pvt("pvt_v2_b5", (64, 128, 320, 512), (3, 6, 40, 3), (4, 4, 4, 4)),
}

_VARIANT_BACKBONES: dict[str, str] = {
    "general": "swin_v1_l",
    "lite": "swin_v1_t",
    "swin_v1_s": "swin_v1_s",
    "swin_v1_b": "swin_v1_b",
    "pvt_v2_b0": "pvt_v2_b0",
    "pvt_v2_b1": "pvt_v2_b1",
    "pvt_v2_b2": "pvt_v2_b2",
    "pvt_v2_b5": "pvt_v2_b5",
}

VARIANTS: dict[str, BiRefNetConfig] = {
    variant: BiRefNetConfig(name=variant, backbone=_BACKBONES[bb]) for variant, bb in _VARIANT_BACKBONES.items()
}
