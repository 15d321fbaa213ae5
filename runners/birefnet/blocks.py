"""BiRefNet decoder building blocks: deformable ASPP, decoder/lateral blocks and image-patch encoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .deform_conv import DeformableConv2d


def channels_last_norm(norm: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """A BatchNorm2d's work on a channels-last [B, H, W, C] map: BatchNorm1d over its pixels as rows (the same
    statistics over batch and space, the same parameter names and shapes)."""
    return norm(x.flatten(0, 2)).view_as(x)


class ASPPBranch(nn.Module):
    """One ASPP branch: deformable conv, batch norm, ReLU, channels-last ([B, H, W, C] out)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.atrous_conv = DeformableConv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.bn = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the branch to an NCHW map."""
        return self.relu(channels_last_norm(self.bn, self.atrous_conv(x, channels_last=True)))


class ASPPDeformable(nn.Module):
    """Atrous-spatial-pyramid pooling built from deformable convs of growing kernel size plus global context."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        branch_channels: int = 256,
        kernel_sizes: tuple[int, ...] = (1, 3, 7),
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.aspp1 = ASPPBranch(in_channels, branch_channels, 1)
        self.aspp_deforms = nn.ModuleList(ASPPBranch(in_channels, branch_channels, k) for k in kernel_sizes)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, branch_channels, 1, bias=False),
            nn.BatchNorm2d(branch_channels),
            nn.ReLU(inplace=True),
        )
        self.conv1 = nn.Conv2d(branch_channels * (2 + len(kernel_sizes)), out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        """Fuse all branches and the global context: conv1 over their concatenation, computed as the sum of its
        per-branch parts on the branches' channels-last maps (matrix products, the layout the deformable convs make),
        so that no map of all branches' channels is ever built (at 1024 px the first decoder block's would be
        1280 x 256 x 256) and only the fused map is turned to NCHW; the context's part is taken at 1x1 and broadcast."""
        parts = self.conv1.weight.flatten(1).split(self.aspp1.bn.num_features, dim=1)  # [out, branch] each
        context = self.global_avg_pool(x).flatten(1) @ parts[-1].t()  # [B, out]
        fused = context[:, None, None, :]
        for branch, part in zip((self.aspp1, *self.aspp_deforms), parts[:-1], strict=True):
            fused = fused + branch(x) @ part.t()
        return self.dropout(self.relu(channels_last_norm(self.bn1, fused)).permute(0, 3, 1, 2))


class BasicDecBlk(nn.Module):
    """Decoder block: 3x3 conv in, deformable-ASPP attention, 3x3 conv out."""

    def __init__(self, in_channels: int, out_channels: int, inter_channels: int = 64, aspp_channels: int = 256) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, inter_channels, 3, padding=1)
        self.relu_in = nn.ReLU(inplace=True)
        self.dec_att = ASPPDeformable(inter_channels, branch_channels=aspp_channels)
        self.conv_out = nn.Conv2d(inter_channels, out_channels, 3, padding=1)
        self.bn_in = nn.BatchNorm2d(inter_channels)
        self.bn_out = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block (no activation at the end, as in the official model)."""
        x = self.relu_in(self.bn_in(self.conv_in(x)))
        return self.bn_out(self.conv_out(self.dec_att(x)))


class BasicLatBlk(nn.Module):
    """Lateral connection: a 1x1 conv projecting encoder features to decoder width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Project x."""
        return self.conv(x)


class SimpleConvs(nn.Module):
    """Two stacked 3x3 convs (no activation) encoding image patches for the decoder input."""

    def __init__(self, in_channels: int, out_channels: int, inter_channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, inter_channels, 3, padding=1)
        self.conv_out = nn.Conv2d(inter_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """Encode x."""
        return self.conv_out(self.conv1(x))

    def projected(self, x: Tensor, weight: Tensor) -> Tensor:
        """F.conv2d(self(x), weight) for a 1x1 `weight` [n, out_channels, 1, 1], as one 5x5 conv of x (at least 3x3).

        Both convs and the projection are linear (no activation between them), so inside the image they compose into
        one 5x5 kernel and a constant. On the outermost ring of pixels conv_out reads conv1's zero padding rather than
        conv1 continued past the edge, so the ring comes from the two convs on three-pixel strips of x. The whole-image
        prompt at 1024 px costs 33 GFLOP as two convs and 0.2 GFLOP as one, without a 64-channel full-size map.
        """
        head = weight.flatten(1)
        out_weight = torch.einsum("no,oihw->nihw", head, self.conv_out.weight)
        out_bias = head @ self.conv_out.bias
        # Cross-correlating with conv1's kernel, then out_weight's, is cross-correlating with their full convolution.
        kernel = F.conv_transpose2d(self.conv1.weight.transpose(0, 1), out_weight.transpose(0, 1)).transpose(0, 1)
        inner_bias = out_weight.sum((2, 3)) @ self.conv1.bias + out_bias
        inner = F.conv2d(x, kernel, inner_bias, padding=1)  # 5x5 over a one-pixel border: the (H-2) x (W-2) inside
        top, bottom, left, right = (
            F.conv2d(F.pad(self.conv1(x[strip])[kept], border), out_weight, out_bias)
            for strip, kept, border in _RING_STRIPS
        )
        middle = torch.cat((left[..., 1:-1, :], inner, right[..., 1:-1, :]), dim=-1)
        return torch.cat((top, middle, bottom), dim=-2)


# Per ring side of SimpleConvs.projected: the strip of x that conv1 reads, the two rows or columns of conv1's map
# that conv_out reads, and conv_out's zero padding (left, right, top, bottom) on the image's edge and along the strip.
_RING_STRIPS = (
    ((..., slice(None, 3), slice(None)), (..., slice(None, 2), slice(None)), (1, 1, 1, 0)),
    ((..., slice(-3, None), slice(None)), (..., slice(1, None), slice(None)), (1, 1, 0, 1)),
    ((..., slice(None), slice(None, 3)), (..., slice(None), slice(None, 2)), (1, 0, 1, 1)),
    ((..., slice(None), slice(-3, None)), (..., slice(None), slice(1, None)), (0, 1, 1, 1)),
)
