"""ONNX Runtime: CUDA when available and wanted, else the CPU provider (fp32)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runners.backends.base import BackendError, BackendName, Precision
from runners.store import ModelMetadata

DEVICE_ENV = "CUTOUT_DEVICE"


def choose_providers() -> list[str]:
    """CUDA when ONNX Runtime has it and CUTOUT_DEVICE is not 'cpu'; CPU always as the fallback."""
    wanted = os.environ.get(DEVICE_ENV, "auto").lower()
    available = ort.get_available_providers()
    if wanted != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if wanted == "cuda":
        raise BackendError(f"{DEVICE_ENV}=cuda but ONNX Runtime offers only {available}")
    return ["CPUExecutionProvider"]


def has_cuda() -> bool:
    """Whether ONNX Runtime would run on a GPU here."""
    return choose_providers()[0] == "CUDAExecutionProvider"


def session_options(threads: int) -> ort.SessionOptions:
    """Explicit thread settings (intra-op = threads, one inter-op thread) and every graph fusion."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxRuntimeBackend:
    """One ONNX Runtime session; a graph with a fixed batch of 1 is run once per image."""

    name: BackendName = "onnxruntime"

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int, precision: Precision = "fp32") -> None:
        if precision != "fp32":
            raise BackendError(f"onnxruntime runs {onnx_path.name} in fp32 only (asked for {precision})")
        self.precision: Precision = precision
        self.metadata = metadata
        self.session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=choose_providers())
        self.input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32

    @property
    def devices(self) -> list[str]:
        return self.session.get_providers()

    def run(self, batch: np.ndarray) -> np.ndarray:
        chunks = [batch] if self.metadata.dynamic_batch else np.split(batch, len(batch))
        outputs = [
            self.session.run(None, {self.metadata.input_name: chunk.astype(self.input_dtype, copy=False)})[
                self.metadata.output_index
            ]
            for chunk in chunks
        ]
        return np.concatenate(outputs).astype(np.float32, copy=False)
