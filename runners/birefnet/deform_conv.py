"""Modulated deformable convolution (DCNv2) in plain PyTorch, ONNX-exportable (Gather and MatMul, opset >= 13).

Each kernel tap's bilinear sample is four row reads from a channels-last copy of the input with a one-pixel zero
border (a row holds all channels, so a read is one contiguous copy), weighted and summed; the samples of all taps
then meet the weights in one matrix product. On the CPU this runs in bands of output rows, so that each band's
samples (rows x width x taps x channels) stay within BAND_BYTES: the whole tensor of a 7x7 layer at stride 4 of a
1024 input is 820 MB. Against the former grid_sample form, whose channel-major samples had to be reordered for the
1x1 conv that followed, the exported lite model at 1024 runs 2.22 instead of 2.48 s in OpenVINO bf16 (5.57 instead
of 5.23 s in ONNX Runtime fp32) at a peak of 1.58 instead of 1.49 GB (2-core AMD EPYC Zen 4, one-off measurements
alternating the two exports). Bands of 16 MB ran as fast but took 270 MB more: OpenVINO's memory grows with the
number of bands.

Sample positions are integers plus small fractions (_SampleCells), so OpenVINO's bf16 hint, which lowers every float
op, cannot move them; a bf16 absolute position on a 256-px map would be off by up to half a pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


BAND_BYTES = 64 * 2**20


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """Expand an int to an (h, w) pair."""
    return (value, value) if isinstance(value, int) else value


def band_rows(channels: int, taps: int, out_h: int, out_w: int, device: torch.device) -> int:
    """Output rows per band: as many as keep channels x taps x rows x out_w float32 samples within BAND_BYTES on the
    CPU (at least one), all of them elsewhere (a GPU has the bandwidth; bands would only add kernel launches)."""
    if device.type != "cpu":
        return out_h
    return max(1, min(out_h, BAND_BYTES // (channels * taps * out_w * 4)))


class _SampleCells:
    """Where in the bordered, flattened input table ([B * (H+2) * (W+2), C]) bilinear samples read.

    Offsets are split into whole pixels, added to the taps' integer positions as integers, and a fraction: no float
    ever holds an absolute position, so the math stays exact when a backend runs it in bf16. Positions are kept as
    table cells (rows pre-multiplied by the table's row length), so that clamping them onto the zero border and
    combining rows with columns are single integer ops.
    """

    def __init__(self, kernel: tuple[int, int], in_hw: tuple[int, int], out_hw: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], image: Tensor,
                 device: torch.device) -> None:
        (kh, kw), (in_h, in_w), (out_h, out_w) = kernel, in_hw, out_hw
        tap_y, tap_x = torch.meshgrid(torch.arange(kh, device=device) * dilation[0],
                                      torch.arange(kw, device=device) * dilation[1], indexing="ij")
        rows = torch.arange(out_h, device=device) * stride[0] - padding[0] + 1  # +1: the border
        cols = torch.arange(out_w, device=device) * stride[1] - padding[1] + 1
        self.row_length = in_w + 2
        self.last_row = (in_h + 1) * self.row_length
        self.last_col = in_w + 1
        self.top = (rows.reshape(-1, 1, 1) + tap_y.reshape(1, 1, -1)) * self.row_length  # [Ho, 1, K]
        self.left = cols.reshape(1, -1, 1) + tap_x.reshape(1, 1, -1)  # [1, Wo, K]
        self.first = (image * ((in_h + 2) * self.row_length)).reshape(-1, 1, 1, 1)  # each image's first cell

    def corners(self, dy_dx: Tensor, rows: slice, scale: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        """The four (cell [B, rows, Wo, K], weight) pairs of output rows `rows` from their offsets [B, 2, rows, Wo, K]
        (dy, dx); `scale` (the modulation, same shape as a cell) multiplies every weight."""
        whole = torch.floor(dy_dx)
        fraction = dy_dx - whole
        steps = whole.to(torch.int64)
        top = self.top[rows] + steps[:, 0] * self.row_length
        left = self.left + steps[:, 1]
        row_cells = [(top + shift).clamp(0, self.last_row) + self.first for shift in (0, self.row_length)]
        col_cells = [(left + shift).clamp(0, self.last_col) for shift in (0, 1)]
        fy, fx = fraction[:, 0], fraction[:, 1]
        row_weights = [1 - fy, fy] if scale is None else [(1 - fy) * scale, fy * scale]
        col_weights = [1 - fx, fx]
        return [(row_cells[i] + col_cells[j], row_weights[i] * col_weights[j]) for i in (0, 1) for j in (0, 1)]


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: Tensor | None = None,
    channels_last: bool = False,
) -> Tensor:
    """Deformable conv with torchvision.ops.deform_conv2d semantics (one offset group, no weight groups).

    offset is [B, 2*kh*kw, Ho, Wo] holding (dy, dx) per kernel position (row-major), mask is
    [B, kh*kw, Ho, Wo]; samples outside the input read zero. Sampling runs in at least float32 so that
    half-precision models keep sub-pixel accuracy. With channels_last the result is [B, Ho, Wo, C_out], the layout
    the matrix product makes, instead of NCHW.
    """
    out_ch, in_ch, kh, kw = weight.shape
    if input.shape[1] != in_ch:
        raise ValueError(f"input has {input.shape[1]} channels, weight expects {in_ch} (groups are unsupported)")
    if offset.shape[1] != 2 * kh * kw:
        raise ValueError(f"offset must have {2 * kh * kw} channels (one offset group), got {offset.shape[1]}")
    if mask is not None and mask.shape[1] != kh * kw:
        raise ValueError(f"mask must have {kh * kw} channels, got {mask.shape[1]}")
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    in_hw = (int(input.shape[-2]), int(input.shape[-1]))
    out_hw = tuple(
        (size + 2 * pad - dil * (k - 1) - 1) // step + 1
        for size, pad, dil, k, step in zip(in_hw, padding, dilation, (kh, kw), stride)
    )
    if tuple(offset.shape[-2:]) != out_hw:
        raise ValueError(f"offset is {tuple(offset.shape[-2:])} spatially, the output is {out_hw}")
    work = torch.promote_types(input.dtype, torch.float32)
    taps = kh * kw
    table = F.pad(input.to(work), (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(-1, in_ch)  # [B * cells, C]
    # Each image's index in the batch, computed from the data: inside BiRefNet the exporter infers a fixed batch of 1,
    # so torch.arange(input.shape[0]) or ones_like would become constants and an exported graph would read the first
    # image's table for every image of a batch. (v == v) | (v != v) is true for every value, NaN included.
    corner_value = input[:, 0, 0, 0]
    image = ((corner_value == corner_value) | (corner_value != corner_value)).to(torch.int64).cumsum(0) - 1
    cells = _SampleCells((kh, kw), in_hw, out_hw, stride, padding, dilation, image, input.device)
    matrix = weight.permute(0, 2, 3, 1).reshape(out_ch, taps * in_ch).t()  # rows in (tap, channel) order
    rows = band_rows(in_ch, taps, *out_hw, input.device)
    bands = []
    out_w = out_hw[1]
    for top in range(0, out_hw[0], rows):
        band = slice(top, min(top + rows, out_hw[0]))
        # Shapes from Python ints (batch -1), so that an exported graph needs no shape arithmetic per band.
        shape = (band.stop - band.start, out_w, taps)
        dy_dx = offset[:, :, band].to(work).reshape(-1, taps, 2, *shape[:2]).permute(0, 2, 3, 4, 1)  # [B, 2, *shape]
        scale = None if mask is None else mask[:, :, band].to(work).permute(0, 2, 3, 1)  # [B, *shape]
        sampled = None
        for cell, corner_weight in cells.corners(dy_dx, band, scale):
            corner = table.index_select(0, cell.reshape(-1)).reshape(-1, *shape, in_ch)
            if sampled is None:
                sampled = corner * corner_weight.unsqueeze(-1)
            else:  # in place: one band-sized buffer fewer (a GPU runs whole layers as one band)
                sampled.addcmul_(corner, corner_weight.unsqueeze(-1))
        out = sampled.reshape(-1, *shape[:2], taps * in_ch).to(weight.dtype) @ matrix
        bands.append(out if bias is None else out + bias)
    out = bands[0] if len(bands) == 1 else torch.cat(bands, dim=1)
    return out if channels_last else out.permute(0, 3, 1, 2)


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

    def forward(self, x: Tensor, channels_last: bool = False) -> Tensor:
        """Predict offsets and modulation from x, then sample and convolve (channels_last: as in deform_conv2d)."""
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
            channels_last=channels_last,
        )
