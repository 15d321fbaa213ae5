"""Deformable convs as one ONNX `DeformConv` node (opset 19) instead of deform_conv.py's row-gather subgraph.

ONNX Runtime runs `DeformConv` itself (CPU and CUDA kernels since 2026), and `runners/backends/openvino_backend.py`
maps it onto OpenVINO's DeformableConvolution, both in fp32 only. It beat the first, unbanded GridSample export
(OpenVINO bf16 2.38 vs 3.24 s on a 2-core AMD EPYC) but not the banded one that followed (2-core Intel Xeon with AMX,
lite at 1024: OpenVINO bf16 1.73 vs 1.16 s), and the row gathers are faster again, so export_onnx writes those by
default; this form stays for comparison (`make bench` times both) and for models exported with it.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.onnx import symbolic_helper

from .deform_conv import DeformableConv2d, deform_conv2d

NATIVE_OPSET = 19


@torch.library.custom_op("cutout::deform_conv2d", mutates_args=())
def _deform_conv_op(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor, mask: Tensor, stride: int,
                    padding: int) -> Tensor:
    """The plain-PyTorch reference as one opaque op, so that the ONNX exporter sees a single node."""
    return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, mask=mask)


@_deform_conv_op.register_fake
def _(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor, mask: Tensor, stride: int, padding: int) -> Tensor:
    """Output shape only."""
    return x.new_empty((x.shape[0], weight.shape[0], *offset.shape[-2:]))


@symbolic_helper.parse_args("v", "v", "v", "v", "v", "i", "i")
def _deform_conv_symbolic(g, x, offset, weight, bias, mask, stride: int, padding: int):  # noqa: ANN001, ANN202
    """ONNX DeformConv (inputs X, W, offset, B, mask) for the TorchScript exporter."""
    kh, kw = weight.type().sizes()[-2:]
    return g.op("DeformConv", x, weight, offset, bias, mask, kernel_shape_i=[kh, kw], strides_i=[stride, stride],
                pads_i=[padding] * 4, dilations_i=[1, 1], group_i=1, offset_group_i=1)


torch.onnx.register_custom_op_symbolic("cutout::deform_conv2d", _deform_conv_symbolic, NATIVE_OPSET)


class NativeDeformableConv2d(nn.Module):
    """A DeformableConv2d (same parameters, same result) whose sampling exports as one DeformConv node."""

    def __init__(self, layer: DeformableConv2d) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, channels_last: bool = False) -> Tensor:
        """Offsets and modulation from x, then the fused deformable conv (channels_last: [B, H, W, C] out)."""
        layer = self.layer
        weight = layer.regular_conv.weight
        bias = layer.regular_conv.bias
        if bias is None:
            bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
        offset = layer.offset_conv(x)
        modulator = 2.0 * torch.sigmoid(layer.modulator_conv(x))
        out = _deform_conv_op(x, offset, weight, bias, modulator, layer.stride, layer.padding)
        return out.permute(0, 2, 3, 1) if channels_last else out


def with_native_deform(model: nn.Module) -> nn.Module:
    """A copy of model whose DeformableConv2d layers export as DeformConv (the caller's model is not modified)."""
    clone = copy.deepcopy(model)
    for module in list(clone.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, DeformableConv2d):
                setattr(module, child_name, NativeDeformableConv2d(child))
    return clone
