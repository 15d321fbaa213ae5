"""Inference for a stored BiRefNet version on the chosen backend: RGB uint8 images in, soft masks out."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from runners.backends import LoadedBackend, load_backend
from runners.preprocess import to_masks, to_tensor
from runners.store import ModelMetadata

THREADS_ENV = "CUTOUT_THREADS"
LEGACY_THREADS_ENV = "CUTOUT_ORT_THREADS"


def inference_threads(threads: int | None = None) -> int:
    """Threads for one model: the argument, else CUTOUT_THREADS (or CUTOUT_ORT_THREADS), else all cores."""
    configured = os.environ.get(THREADS_ENV) or os.environ.get(LEGACY_THREADS_ENV) or 0
    return threads or int(configured) or (os.cpu_count() or 1)


class Stopwatch:
    """Adds the seconds spent in named blocks to a dict (or times nothing when there is none)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


class OnnxSegmenter:
    """One stored ONNX model loaded on a backend, plus the metadata that says how to feed it."""

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int | None = None,
                 backend: str | None = None, precision: str | None = None, max_batch: int = 1) -> None:
        self.metadata = metadata
        self.loaded: LoadedBackend = load_backend(Path(onnx_path), metadata, inference_threads(threads), backend,
                                                  precision, max_batch)

    @property
    def providers(self) -> list[str]:
        return self.loaded.backend.devices

    def describe(self) -> dict:
        """Backend, precision, devices and the accuracy guard's verdict."""
        return self.loaded.describe()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a normalised batch."""
        return self.loaded.backend.run(batch)

    def predict(self, images: Sequence[np.ndarray], timings: dict[str, float] | None = None) -> list[np.ndarray]:
        """Soft masks (float32, [0, 1]) at each input image's own size; `timings` gets preprocess, inference and
        resize_back seconds added when given."""
        if not images:
            return []
        clock = Stopwatch(timings)
        size = self.metadata.input_size
        with clock("preprocess"):
            batch = to_tensor(images, size, self.metadata.mean, self.metadata.std)
        with clock("inference"):
            logits = self.logits(batch)
        with clock("resize_back"):
            return to_masks(logits, [image.shape[:2] for image in images])

    def warm_up(self) -> None:
        """One inference on a blank image so the first request does not pay for graph initialisation (none when the
        accuracy guard has already run this backend)."""
        if not self.loaded.warm:
            self.predict([np.full((64, 64, 3), 255, np.uint8)])
