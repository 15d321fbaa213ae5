"""Deformable convolution against an explicit per-pixel loop with torchvision.ops.deform_conv2d semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from runners.birefnet import DeformableConv2d, deform_conv2d
from runners.birefnet import deform_conv as deform_module


def bilinear(image: np.ndarray, y: float, x: float) -> float:
    """torchvision's bilinear_interpolate: zero outside (-1, H) x (-1, W), out-of-range corners read zero."""
    height, width = image.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * image[yy, xx]
    return total


def reference_deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask) -> np.ndarray:
    """Straightforward loop over batch, output channel, output pixel, input channel and kernel tap."""
    x, offset, weight = x.double().numpy(), offset.double().numpy(), weight.double().numpy()
    mask = None if mask is None else mask.double().numpy()
    batch, channels = x.shape[:2]
    out_ch, _, kh, kw = weight.shape
    out_h, out_w = offset.shape[-2:]
    out = np.zeros((batch, out_ch, out_h, out_w))
    for b in range(batch):
        for ho in range(out_h):
            for wo in range(out_w):
                for i in range(kh):
                    for j in range(kw):
                        k = i * kw + j
                        y = ho * stride[0] - padding[0] + i * dilation[0] + offset[b, 2 * k, ho, wo]
                        xx = wo * stride[1] - padding[1] + j * dilation[1] + offset[b, 2 * k + 1, ho, wo]
                        scale = 1.0 if mask is None else mask[b, k, ho, wo]
                        values = np.array([bilinear(x[b, c], y, xx) for c in range(channels)]) * scale
                        out[b, :, ho, wo] += weight[:, :, i, j] @ values
    if bias is not None:
        out += bias.double().numpy()[None, :, None, None]
    return out


def output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """Convolution output length."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


CASES = {
    "3x3-pad1-mask-bias": dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), mask=True, bias=True),
    "7x7-pad3-mask": dict(kernel=(7, 7), stride=(1, 1), padding=(3, 3), dilation=(1, 1), mask=True, bias=False),
    "1x1-pad0-mask": dict(kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=True, bias=False),
    "2x3-stride2-dil2-nomask": dict(kernel=(2, 3), stride=(2, 1), padding=(1, 2), dilation=(2, 1), mask=False, bias=True),
}


def bands_of(rows: int, channels: int, taps: int, out_w: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CPU path split a layer with these dimensions into bands of `rows` output rows."""
    monkeypatch.setattr(deform_module, "BAND_BYTES", rows * channels * taps * out_w * 4)


@pytest.mark.parametrize("banded", [False, True], ids=["whole", "2-row-bands"])
@pytest.mark.parametrize("integer_offsets", [False, True], ids=["fractional", "integer"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_reference_loop(case: str, integer_offsets: bool, banded: bool,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CASES[case]
    gen = torch.Generator().manual_seed(sorted(CASES).index(case) + 10 * integer_offsets)
    (kh, kw), stride, padding, dilation = spec["kernel"], spec["stride"], spec["padding"], spec["dilation"]
    height, width, batch, channels, out_ch = 7, 6, 2, 3, 4
    out_h = output_size(height, kh, stride[0], padding[0], dilation[0])
    out_w = output_size(width, kw, stride[1], padding[1], dilation[1])
    x = torch.randn(batch, channels, height, width, generator=gen)
    # Offsets up to ~3 px push many samples partly or fully outside the image (zero padding).
    offset = torch.randn(batch, 2 * kh * kw, out_h, out_w, generator=gen) * 1.5
    if integer_offsets:
        offset = offset.round()
    weight = torch.randn(out_ch, channels, kh, kw, generator=gen)
    bias = torch.randn(out_ch, generator=gen) if spec["bias"] else None
    mask = torch.rand(batch, kh * kw, out_h, out_w, generator=gen) * 2 if spec["mask"] else None
    if banded:
        bands_of(2, channels, kh * kw, out_w, monkeypatch)
        assert deform_module.band_rows(channels, kh * kw, out_h, out_w, x.device) == 2 < out_h
    actual = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    expected = reference_deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected, atol=1e-5, rtol=0)


def test_zero_offsets_and_unit_mask_equal_plain_conv() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, 9, 8, generator=gen)
    weight = torch.randn(6, 5, 3, 3, generator=gen)
    offset = torch.zeros(2, 18, 9, 8)
    mask = torch.ones(2, 9, 9, 8)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, padding=1, mask=mask), F.conv2d(x, weight, padding=1))


def test_channels_last_result_is_the_nchw_result_transposed() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 9, 8, generator=gen)
    weight, bias = torch.randn(6, 5, 3, 3, generator=gen), torch.randn(6, generator=gen)
    offset, mask = torch.randn(2, 18, 9, 8, generator=gen), torch.rand(2, 9, 9, 8, generator=gen)
    nchw = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    last = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask, channels_last=True)
    assert last.shape == (2, 9, 8, 6)
    torch.testing.assert_close(last, nchw.permute(0, 2, 3, 1))


def test_module_starts_as_regular_conv() -> None:
    layer = DeformableConv2d(4, 6, kernel_size=3, padding=1)
    x = torch.randn(1, 4, 10, 10)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.regular_conv.weight, padding=1))


def test_band_size_follows_the_byte_budget_on_the_cpu_only() -> None:
    """The 7x7 layer at stride 4 of a 1024 input: 820 MB of taps whole, a few rows per band; at least one row."""
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    rows = deform_module.band_rows(64, 49, 256, 256, cpu)
    assert 1 < rows < 256 and rows * 64 * 49 * 256 * 4 <= deform_module.BAND_BYTES
    assert deform_module.band_rows(4096, 49, 256, 256, cpu) == 1
    assert deform_module.band_rows(8, 9, 16, 16, cpu) == 16
    assert deform_module.band_rows(64, 49, 256, 256, gpu) == 256


@pytest.mark.parametrize("banded", [False, True], ids=["whole", "2-row-bands"])
def test_gradients_match_finite_differences(banded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if banded:
        bands_of(2, 2, 9, 5, monkeypatch)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    offset = (torch.rand(1, 18, 5, 5, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    mask = torch.rand(1, 9, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    inputs = (x, offset, mask, weight)
    assert torch.autograd.gradcheck(lambda *a: deform_conv2d(a[0], a[1], a[3], padding=1, mask=a[2]), inputs, fast_mode=True)


def test_rejects_inconsistent_shapes() -> None:
    x, weight = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match="offset must have 18 channels"):
        deform_conv2d(x, torch.zeros(1, 36, 8, 8), weight, padding=1)
    with pytest.raises(ValueError, match="spatially"):
        deform_conv2d(x, torch.zeros(1, 18, 6, 6), weight, padding=1)
    with pytest.raises(ValueError, match="mask must have 9 channels"):
        deform_conv2d(x, torch.zeros(1, 18, 8, 8), weight, padding=1, mask=torch.ones(1, 3, 8, 8))
