"""ONNX Runtime inference for a stored BiRefNet version: RGB uint8 images in, soft masks out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runners.preprocess import to_masks, to_tensor
from runners.store import ModelMetadata

THREADS_ENV = "CUTOUT_ORT_THREADS"
DEVICE_ENV = "CUTOUT_DEVICE"


def choose_providers() -> list[str]:
    """CUDA when ONNX Runtime has it and CUTOUT_DEVICE is not 'cpu'; CPU always as the fallback."""
    wanted = os.environ.get(DEVICE_ENV, "auto").lower()
    available = ort.get_available_providers()
    if wanted != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if wanted == "cuda":
        raise RuntimeError(f"{DEVICE_ENV}=cuda but ONNX Runtime offers only {available}")
    return ["CPUExecutionProvider"]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Explicit thread settings: intra-op threads = CUTOUT_ORT_THREADS or all cores; one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or int(os.environ.get(THREADS_ENV, 0)) or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxSegmenter:
    """One ONNX Runtime session plus the metadata that says how to feed it."""

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int | None = None) -> None:
        self.metadata = metadata
        self.session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=choose_providers())
        self.input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the graph; a model exported with a fixed batch of 1 is run once per image."""
        chunks = [batch] if self.metadata.dynamic_batch else np.split(batch, len(batch))
        outputs = [
            self.session.run(None, {self.metadata.input_name: chunk.astype(self.input_dtype, copy=False)})[
                self.metadata.output_index
            ]
            for chunk in chunks
        ]
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Soft masks (float32, [0, 1]) at each input image's own size."""
        if not images:
            return []
        size = self.metadata.input_size
        batch = to_tensor(images, size, self.metadata.mean, self.metadata.std)
        return to_masks(self.logits(batch), [image.shape[:2] for image in images])

    def warm_up(self) -> None:
        """One inference on a blank image so the first request does not pay for graph initialisation."""
        self.predict([np.full((64, 64, 3), 255, np.uint8)])
