"""PyTorch eager on the CPU, from the weights stored beside the ONNX export; bf16 through autocast (oneDNN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from runners.backends.base import BackendError, BackendName, Precision
from runners.convert import WEIGHTS_FILE
from runners.store import ModelMetadata


class TorchBackend:
    """Our BiRefNet built from `weights.safetensors` (stored by `cutout models import` of a checkpoint)."""

    name: BackendName = "torch"

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int, precision: Precision = "fp32") -> None:
        from runners.birefnet import VARIANTS, build_from_weights

        weights = onnx_path.with_name(WEIGHTS_FILE)
        if not weights.exists():
            raise BackendError(f"the torch backend needs {WEIGHTS_FILE} beside {onnx_path.name}: import a checkpoint")
        self.precision = precision
        torch.set_num_threads(threads)
        variant = metadata.variant if metadata.variant in VARIANTS else None
        self.model, _ = build_from_weights(weights, variant)

    @property
    def devices(self) -> list[str]:
        return [f"torch CPU ({self.precision})"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=self.precision == "bf16"):
            return self.model(torch.from_numpy(np.ascontiguousarray(batch))).float().numpy()
