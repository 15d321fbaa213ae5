"""Inference backends (ONNX Runtime, OpenVINO, PyTorch) behind one interface, chosen by what is installed and what
the CPU supports, or by CUTOUT_BACKEND / `--arg backend=`; reduced precision only serves when it passes the guard."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runners.backends.accuracy import Agreement, guard_batch, worst_agreement
from runners.backends.base import BACKEND_NAMES, PRECISIONS, Backend, BackendError, BackendName, Precision
from runners.backends.cache import load_array, model_cache, save_array
from runners.backends.cpu import has_native_bf16
from runners.backends.device import wanted_device

if TYPE_CHECKING:
    from runners.store import ModelMetadata  # type only: importing the store loads BentoML

BACKEND_ENV = "CUTOUT_BACKEND"
PRECISION_ENV = "CUTOUT_PRECISION"
MODULES: dict[BackendName, str] = {"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch"}
logger = logging.getLogger("cutout.backends")

__all__ = ["Agreement", "Backend", "BackendError", "LoadedBackend", "available", "choose_backend",
           "choose_precision", "construct", "load_backend"]


def available() -> list[BackendName]:
    """The backends whose runtime is installed."""
    return [name for name in BACKEND_NAMES if importlib.util.find_spec(MODULES[name]) is not None]


def _wanted(value: str | None, env: str) -> str:
    return (value or os.environ.get(env) or "auto").strip().lower()


def choose_backend(requested: str | None = None) -> BackendName:
    """The requested backend (argument, else CUTOUT_BACKEND), or for 'auto': OpenVINO on the CPU when it is installed
    (in bf16 where the CPU has it, else in fp32, which beat ONNX Runtime's fp32 on every CPU measured: README,
    Benchmarks), else ONNX Runtime (and always on a GPU). PyTorch is never picked automatically (slower, and it needs
    the weights)."""
    from runners.backends.onnxruntime_backend import gpu_provider

    wanted = _wanted(requested, BACKEND_ENV)
    installed = available()
    if wanted == "auto":
        return "openvino" if "openvino" in installed and gpu_provider() is None else "onnxruntime"
    if wanted not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {wanted!r}; choose one of auto, {', '.join(BACKEND_NAMES)}")
    if wanted not in installed:
        raise BackendError(f"backend {wanted!r} is not installed (pip install {MODULES[wanted]}); "
                           f"installed: {', '.join(installed)}")
    return wanted  # type: ignore[return-value]


def _torch_on_gpu() -> bool:
    """Whether the torch backend would run on a GPU here (imports torch)."""
    from runners.backends.torch_backend import torch_device

    return torch_device().type == "cuda"


def choose_precision(backend: BackendName, requested: str | None = None) -> tuple[Precision, bool]:
    """(precision, guarded): an explicit fp32/bf16/fp16 (argument, else CUTOUT_PRECISION) is used as asked; 'auto'
    means fp16 for torch on a GPU and for ONNX Runtime on TensorRT, bf16 where the backend and the CPU support it,
    each guarded by the fp32 comparison, else fp32."""
    wanted = _wanted(requested, PRECISION_ENV)
    if wanted == "auto":
        if (backend == "torch" and _torch_on_gpu()) or (backend == "onnxruntime" and wanted_device() == "tensorrt"):
            return "fp16", True
        reduced = backend in ("openvino", "torch") and has_native_bf16()
        return ("bf16", True) if reduced else ("fp32", False)
    if wanted not in PRECISIONS:
        raise BackendError(f"unknown precision {wanted!r}; choose one of auto, {', '.join(PRECISIONS)}")
    return wanted, False  # type: ignore[return-value]


def construct(name: BackendName, onnx_path: Path, metadata: ModelMetadata, threads: int,
              precision: Precision, max_batch: int = 1) -> Backend:
    """Load the model on one backend (imports only that backend's runtime); `max_batch` sizes TensorRT's engine."""
    if name == "openvino":
        from runners.backends.openvino_backend import OpenVinoBackend

        return OpenVinoBackend(onnx_path, metadata, threads, precision)
    if name == "torch":
        from runners.backends.torch_backend import TorchBackend

        return TorchBackend(onnx_path, metadata, threads, precision)
    from runners.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(onnx_path, metadata, threads, precision, max_batch)


class LoadedBackend:
    """A backend plus how it was chosen: the guard's verdict when it runs in reduced precision, and whether it has
    already run a full-size batch (the guard's), so that no warm-up is needed."""

    def __init__(self, backend: Backend, agreement: Agreement | None, warm: bool = False) -> None:
        self.backend = backend
        self.agreement = agreement
        self.warm = warm

    def describe(self) -> dict:
        return {"backend": self.backend.name, "precision": self.backend.precision, "devices": self.backend.devices,
                "accuracy_guard": self.agreement.as_dict() if self.agreement else None}


def load_backend(onnx_path: Path, metadata: ModelMetadata, threads: int, backend: str | None = None,
                 precision: str | None = None, max_batch: int = 1) -> LoadedBackend:
    """Choose and load (`max_batch`: the largest batch it will be given). A guarded reduced precision is compared
    with ONNX Runtime fp32 on two studio photos (fp32_reference); if it disagrees, the same backend serves in fp32
    instead (logged)."""
    name = choose_backend(backend)
    chosen, guarded = choose_precision(name, precision)
    loaded = construct(name, onnx_path, metadata, threads, chosen, max_batch)
    if not guarded:
        return LoadedBackend(loaded, None)
    batch = guard_batch(metadata)
    reference_logits, reference = fp32_reference(onnx_path, metadata, threads, max_batch, batch)
    verdict = worst_agreement(reference_logits, loaded.run(batch))
    if verdict.ok:
        return LoadedBackend(loaded, verdict, warm=True)
    fallback = reference if reference is not None and reference.name == name else construct(
        name, onnx_path, metadata, threads, "fp32", max_batch)
    logger.warning("%s %s disagrees with fp32 (IoU %.4f, mean |diff| %.4f): serving %s fp32", name, chosen,
                   verdict.iou, verdict.mean_abs_diff, fallback.name)
    return LoadedBackend(fallback, verdict, warm=fallback is reference)


def fp32_reference(onnx_path: Path, metadata: ModelMetadata, threads: int, max_batch: int,
                   batch: np.ndarray) -> tuple[np.ndarray, Backend | None]:
    """ONNX Runtime fp32 logits of the guard's batch, and the session that computed them. An earlier load of the same
    model file already computed them for the same inputs and ONNX Runtime version: they come from the model cache
    (runners/backends/cache.py) and no session is built."""
    import onnxruntime

    folder = model_cache(onnx_path)
    inputs = hashlib.sha256(np.ascontiguousarray(batch).tobytes()).hexdigest()[:16]
    path = folder / f"guard-{inputs}-onnxruntime-{onnxruntime.__version__}.npy" if folder else None
    cached = load_array(path) if path else None
    if cached is not None:
        return cached, None
    reference = construct("onnxruntime", onnx_path, metadata, threads, "fp32", max_batch)
    logits = reference.run(batch)
    if path:
        save_array(path, logits)
    return logits, reference
