"""ONNX export of BiRefNet (dynamic batch, fixed square size) and PyTorch-vs-ONNX Runtime parity check."""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from .config import IMAGENET_MEAN, IMAGENET_STD
from .deform_native import NATIVE_OPSET, with_native_deform

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
_MIN_OPSET = 13  # Unflatten
_DEFAULT_OPSET = 17
Deform = Literal["fused", "gather"]


class _HalfPrecision(nn.Module):
    """A half-precision copy of a model behind float32 input and output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, x: Tensor) -> Tensor:
        """Cast in, run in fp16, cast out."""
        return self.model(x.half()).float()


def export_onnx(model: nn.Module, path: str | os.PathLike[str], size: int, fp16: bool = False,
                deform: Deform = "gather", opset: int | None = None) -> Path:
    """Export model (in eval mode) to ONNX: 'input' float32 [N,3,size,size] -> 'logits' float32 [N,1,size,size].

    deform="gather" writes each deformable conv as row gathers and a matrix product over bands of output rows (opset
    13+; the faster and lighter form, see deform_conv.py); "fused" writes one DeformConv node each (opset 19). With
    fp16=True the weights and compute are float16 while the graph still takes and returns float32; the caller's
    model is not modified.
    """
    least = NATIVE_OPSET if deform == "fused" else _MIN_OPSET
    opset = opset or max(least, _DEFAULT_OPSET)
    if opset < least:
        raise ValueError(f"opset {opset} lacks {'DeformConv' if deform == 'fused' else 'Unflatten'}; "
                         f"use opset >= {least}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    net = with_native_deform(model) if deform == "fused" else model
    net = _HalfPrecision(net).eval() if fp16 else net
    device = next(model.parameters()).device
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Shape checks become trace-time constants, which is intended: the graph has a fixed image size.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # the exporter's own note
            torch.onnx.export(
                net,
                (torch.rand(1, 3, size, size, device=device),),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    _declare_logits_shape(path, size)
    return path


def _declare_logits_shape(path: Path, size: int) -> None:
    """Write the logits' fixed [batch, 1, size, size] into the graph's interface: the exporter leaves the dimensions
    after the head's final Add symbolic."""
    graph_model = onnx.load(str(path))
    dims = graph_model.graph.output[0].type.tensor_type.shape.dim
    for dim, value in zip(dims[1:], (1, size, size), strict=True):
        dim.dim_value = value
    onnx.save(graph_model, str(path))


def random_batch(batch: int, size: int, seed: int = 0) -> Tensor:
    """A reproducible ImageNet-normalised random RGB batch [batch, 3, size, size]."""
    pixels = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


@dataclass(frozen=True)
class Parity:
    """How far an ONNX export's logits are from PyTorch's on the same batch, and whether that is only rounding.

    A fixed absolute limit on the logits refuses sound exports of models with large logits (fp32 PyTorch is itself
    ~1e-3 away from the float64 answer there), so the difference is judged relative to the logits' scale, and the
    masks must agree: what is served is sigmoid(logits).
    """

    max_abs_diff: float
    logit_scale: float
    mask_iou: float
    mean_probability_diff: float

    @property
    def relative_diff(self) -> float:
        """The largest logit difference per unit of the largest logit (at least 1)."""
        return self.max_abs_diff / max(self.logit_scale, 1.0)

    def mismatch(self, fp16: bool = False) -> str | None:
        """Why the export does not compute what PyTorch computes, or None when the two agree up to rounding."""
        limits = PARITY_LIMITS["fp16" if fp16 else "fp32"]
        problems = []
        if self.relative_diff > limits.relative_diff:
            problems.append(f"logits differ by {self.max_abs_diff:.2e} at a scale of {self.logit_scale:.3g} "
                            f"({self.relative_diff:.1e} relative, > {limits.relative_diff:.0e})")
        if self.mask_iou < limits.mask_iou:
            problems.append(f"mask IoU {self.mask_iou:.4f} (< {limits.mask_iou})")
        if self.mean_probability_diff > limits.mean_probability_diff:
            problems.append(f"mean |sigmoid difference| {self.mean_probability_diff:.1e} "
                            f"(> {limits.mean_probability_diff:.0e})")
        return "; ".join(problems) or None


@dataclass(frozen=True)
class ParityLimits:
    """What rounding may account for in one precision."""

    relative_diff: float
    mask_iou: float
    mean_probability_diff: float


PARITY_LIMITS = {"fp32": ParityLimits(1e-3, 0.999, 1e-4), "fp16": ParityLimits(3e-2, 0.99, 3e-3)}


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the masks logits > 0 (sigmoid > 0.5); 1 when both are empty."""
    union = np.count_nonzero((a > 0) | (b > 0))
    return float(np.count_nonzero((a > 0) & (b > 0)) / union) if union else 1.0


def check_onnx_parity(model: nn.Module, onnx_path: str | os.PathLike[str], size: int, batch: int = 2,
                      inputs: Tensor | None = None) -> Parity:
    """PyTorch against ONNX Runtime (CPU) on inputs (default: a random batch), with the model in eval mode."""
    import onnxruntime as ort  # deferred: only parity checks need the runtime

    x = random_batch(batch, size) if inputs is None else inputs
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            expected = model(x.to(param.device, param.dtype)).float().cpu().numpy()
    finally:
        model.train(was_training)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})[-1:]
    if actual.shape != expected.shape:
        raise ValueError(f"ONNX output shape {actual.shape} != PyTorch {expected.shape}")
    probabilities = [0.5 + 0.5 * np.tanh(0.5 * logits.astype(np.float64)) for logits in (actual, expected)]  # sigmoid
    return Parity(
        max_abs_diff=float(np.abs(actual - expected).max()),
        logit_scale=float(np.abs(expected).max()),
        mask_iou=_mask_iou(actual, expected),
        mean_probability_diff=float(np.abs(probabilities[0] - probabilities[1]).mean()),
    )
