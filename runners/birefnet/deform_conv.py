"""Modulated deformable convolution (DCNv2) in plain PyTorch via grid_sample, ONNX-exportable (opset >= 16).

On the CPU the output is computed in bands of rows, so that each band's sampled taps (channels x taps x rows x width)
stay within BAND_BYTES: the full tensor of a 7x7 layer at stride 4 of a 1024 input is 820 MB, and moving it through
memory (sampling, then conversion for the conv) cost more than the sampling itself. The exported graph keeps the
bands (OpenVINO bf16 on AMX, that layer alone: 0.66 s whole, 0.30 s in 4-row bands).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


BAND_BYTES = 16 * 2**20


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """Expand an int to an (h, w) pair."""
    return (value, value) if isinstance(value, int) else value


def _sampling_grid(
    offset: Tensor,
    kernel: tuple[int, int],
    in_hw: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> Tensor:
    """Build grid_sample coordinates [B, K, Ho, Wo, 2] (x, y; align_corners=False) from (dy, dx) offsets."""
    kh, kw = kernel
    out_h, out_w = offset.shape[-2:]
    dy_dx = offset.unflatten(1, (kh * kw, 2))  # [B, K, 2, Ho, Wo]
    like = dict(dtype=offset.dtype, device=offset.device)
    ky, kx = torch.meshgrid(torch.arange(kh, **like) * dilation[0], torch.arange(kw, **like) * dilation[1], indexing="ij")
    oy = torch.arange(out_h, **like) * stride[0] - padding[0]
    ox = torch.arange(out_w, **like) * stride[1] - padding[1]
    base_y = ky.reshape(-1, 1, 1) + oy.reshape(1, -1, 1)  # [K, Ho, 1]
    base_x = kx.reshape(-1, 1, 1) + ox.reshape(1, 1, -1)  # [K, 1, Wo]
    y = base_y + dy_dx[:, :, 0]
    x = base_x + dy_dx[:, :, 1]
    in_h, in_w = in_hw
    return torch.stack(((2 * x + 1) / in_w - 1, (2 * y + 1) / in_h - 1), dim=-1)


def band_rows(channels: int, taps: int, out_h: int, out_w: int, device: torch.device) -> int:
    """Output rows per band: as many as keep channels x taps x rows x out_w float32 samples within BAND_BYTES on the
    CPU (at least one), all of them elsewhere (a GPU has the bandwidth; bands would only add kernel launches)."""
    if device.type != "cpu":
        return out_h
    return max(1, min(out_h, BAND_BYTES // (channels * taps * out_w * 4)))


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: Tensor | None = None,
) -> Tensor:
    """Deformable conv with torchvision.ops.deform_conv2d semantics (one offset group, no weight groups).

    offset is [B, 2*kh*kw, Ho, Wo] holding (dy, dx) per kernel position (row-major), mask is
    [B, kh*kw, Ho, Wo]; samples outside the input read zero. Sampling runs in at least float32 so that
    half-precision models keep sub-pixel accuracy.
    """
    out_ch, in_ch, kh, kw = weight.shape
    if input.shape[1] != in_ch:
        raise ValueError(f"input has {input.shape[1]} channels, weight expects {in_ch} (groups are unsupported)")
    if offset.shape[1] != 2 * kh * kw:
        raise ValueError(f"offset must have {2 * kh * kw} channels (one offset group), got {offset.shape[1]}")
    if mask is not None and mask.shape[1] != kh * kw:
        raise ValueError(f"mask must have {kh * kw} channels, got {mask.shape[1]}")
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    out_hw = tuple(
        (size + 2 * pad - dil * (k - 1) - 1) // step + 1
        for size, pad, dil, k, step in zip(input.shape[-2:], padding, dilation, (kh, kw), stride)
    )
    if tuple(offset.shape[-2:]) != out_hw:
        raise ValueError(f"offset is {tuple(offset.shape[-2:])} spatially, the output is {out_hw}")
    work = torch.promote_types(input.dtype, torch.float32)
    taps = kh * kw
    grid = _sampling_grid(offset.to(work), (kh, kw), input.shape[-2:], stride, padding, dilation)
    source = input.to(work)
    weight_1x1 = weight.reshape(out_ch, in_ch * taps, 1, 1)
    rows = band_rows(in_ch, taps, *out_hw, input.device)
    bands = []
    for top in range(0, out_hw[0], rows):
        band = slice(top, min(top + rows, out_hw[0]))
        sampled = F.grid_sample(source, grid[:, :, band].flatten(1, 2), mode="bilinear", padding_mode="zeros",
                                align_corners=False)
        columns = sampled.unflatten(2, (taps, band.stop - band.start))  # [B, C, K, rows, Wo]
        if mask is not None:
            columns = columns * mask[:, :, band].to(work).unsqueeze(1)
        columns = columns.flatten(1, 2).to(weight.dtype)  # [B, C*K, rows, Wo], matches weight.flatten(1) order
        bands.append(F.conv2d(columns, weight_1x1, bias))
    return bands[0] if len(bands) == 1 else torch.cat(bands, dim=2)


class DeformableConv2d(nn.Module):
    """DCNv2 layer whose offsets and modulation (2*sigmoid) are predicted by plain convs, as in BiRefNet."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        taps = kernel_size * kernel_size
        self.stride = stride
        self.padding = padding
        self.offset_conv = nn.Conv2d(in_channels, 2 * taps, kernel_size, stride, padding, bias=True)
        self.modulator_conv = nn.Conv2d(in_channels, taps, kernel_size, stride, padding, bias=True)
        self.regular_conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        for conv in (self.offset_conv, self.modulator_conv):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Predict offsets and modulation from x, then sample and convolve."""
        offset = self.offset_conv(x)
        modulator = 2.0 * torch.sigmoid(self.modulator_conv(x))
        return deform_conv2d(
            x,
            offset,
            self.regular_conv.weight,
            self.regular_conv.bias,
            stride=self.stride,
            padding=self.padding,
            mask=modulator,
        )
