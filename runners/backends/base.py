"""What every inference backend offers: normalised NCHW float32 batches in, float32 logits out."""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

BackendName = Literal["onnxruntime", "openvino", "torch"]
Precision = Literal["fp32", "bf16", "fp16"]
BACKEND_NAMES: tuple[BackendName, ...] = ("onnxruntime", "openvino", "torch")
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")


class BackendError(RuntimeError):
    """A backend that cannot be used here, with a message meant for the operator."""


class Backend(Protocol):
    """One loaded model on one runtime."""

    name: BackendName
    precision: Precision

    @property
    def devices(self) -> list[str]:
        """Where it runs (ONNX Runtime providers, OpenVINO device, torch device)."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """N x 3 x S x S normalised float32 -> N x 1 x S x S float32 logits (any N)."""
