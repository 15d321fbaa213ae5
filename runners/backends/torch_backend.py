"""PyTorch eager from the weights stored beside the ONNX export: on CUDA when there is a GPU (fp32, bf16 or fp16
through autocast, batches run whole), else on the CPU (fp32, or bf16 through oneDNN)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from runners.backends.base import BackendError, BackendName, Precision
from runners.backends.device import DEVICE_ENV, wanted_device
from runners.checkpoints import WEIGHTS_FILE

if TYPE_CHECKING:
    from runners.store import ModelMetadata

AUTOCAST: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def torch_device() -> torch.device:
    """CUDA when PyTorch sees a GPU and CUTOUT_DEVICE is not 'cpu'; 'cuda' without a GPU is an error, and so is
    'tensorrt' (an ONNX Runtime provider)."""
    wanted = wanted_device()
    if wanted == "tensorrt":
        raise BackendError(f"{DEVICE_ENV}=tensorrt runs the onnxruntime backend, not torch")
    if wanted != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    if wanted == "cuda":
        raise BackendError(f"{DEVICE_ENV}=cuda but PyTorch sees no GPU")
    return torch.device("cpu")


class TorchModel:
    """A BiRefNet moved to torch_device() and run in one precision (also what `benchmarks.gpu` times)."""

    def __init__(self, model: nn.Module, precision: Precision) -> None:
        self.device = torch_device()
        if precision == "fp16" and self.device.type == "cpu":
            raise BackendError("the torch backend runs fp16 on a GPU only; on the CPU use fp32 or bf16")
        self.precision = precision
        torch.backends.cudnn.benchmark = True  # one input size: let cuDNN pick its fastest kernels once
        self.model = model.eval().to(self.device)

    @property
    def devices(self) -> list[str]:
        where = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return [f"torch {where} ({self.precision})"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The whole batch in one forward pass (float32 logits back on the CPU)."""
        images = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, AUTOCAST.get(self.precision, torch.float32),
                                                    enabled=self.precision in AUTOCAST):
            return self.model(images).float().cpu().numpy()


class TorchBackend(TorchModel):
    """Our BiRefNet built from `weights.safetensors` (stored by `cutout models import` of a checkpoint)."""

    name: BackendName = "torch"

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int, precision: Precision = "fp32") -> None:
        from runners.birefnet import VARIANTS, build_from_weights

        weights = onnx_path.with_name(WEIGHTS_FILE)
        if not weights.exists():
            raise BackendError(f"the torch backend needs {WEIGHTS_FILE} beside {onnx_path.name}: import a checkpoint")
        torch.set_num_threads(threads)
        variant = metadata.variant if metadata.variant in VARIANTS else None
        super().__init__(build_from_weights(weights, variant)[0], precision)
