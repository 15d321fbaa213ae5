"""ONNX Runtime: CUDA when available and wanted, TensorRT when asked for (CUTOUT_DEVICE=tensorrt), else the CPU
provider (fp32)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from runners.backends.base import BackendError, BackendName, Precision
from runners.backends.cache import cache_home
from runners.backends.device import DEVICE_ENV, wanted_device

if TYPE_CHECKING:
    from runners.store import ModelMetadata

Provider = str | tuple[str, dict[str, str]]
TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
TRT_CACHE_ENV = "CUTOUT_TRT_CACHE"
TRT_PRECISION_FLAGS: dict[str, str] = {"fp16": "trt_fp16_enable", "bf16": "trt_bf16_enable"}
logger = logging.getLogger("cutout.backends")


def tensorrt_cache() -> Path:
    """The folder for TensorRT's engines (CUTOUT_TRT_CACHE, else tensorrt/ in the cache folder), created if
    missing."""
    cache = Path(os.environ.get(TRT_CACHE_ENV) or cache_home() / "tensorrt")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot create the TensorRT engine cache {cache} ({exc}); set {TRT_CACHE_ENV}") from exc
    return cache


def tensorrt_options(metadata: ModelMetadata, precision: Precision, max_batch: int) -> dict[str, str]:
    """TensorRT settings: the precision, engines cached on disk (building one takes minutes; a restart reuses it)
    and one optimisation profile from batch 1 to the runner's largest batch at the model's fixed input size."""
    size = metadata.input_size
    batch = max_batch if metadata.dynamic_batch else 1
    shape = f"{metadata.input_name}:{{}}x3x{size}x{size}"
    options = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(tensorrt_cache()),
               "trt_timing_cache_enable": "True",
               "trt_profile_min_shapes": shape.format(1), "trt_profile_opt_shapes": shape.format(batch),
               "trt_profile_max_shapes": shape.format(batch)}
    if precision in TRT_PRECISION_FLAGS:
        options[TRT_PRECISION_FLAGS[precision]] = "True"
    return options


def gpu_provider() -> str | None:
    """TensorRT when CUTOUT_DEVICE=tensorrt, CUDA when ONNX Runtime has it and CUTOUT_DEVICE is not 'cpu', else
    None (the CPU); a GPU asked for by name that ONNX Runtime cannot offer is an error."""
    wanted = wanted_device()
    available = ort.get_available_providers()
    if wanted == "tensorrt" and TENSORRT not in available:
        raise BackendError(f"{DEVICE_ENV}=tensorrt but ONNX Runtime offers only {available} "
                           "(install onnxruntime-gpu and tensorrt-cu12-libs)")
    if wanted == "tensorrt":
        return TENSORRT
    if wanted != "cpu" and CUDA in available:
        return CUDA
    if wanted == "cuda":
        raise BackendError(f"{DEVICE_ENV}=cuda but ONNX Runtime offers only {available}")
    return None


def choose_providers(metadata: ModelMetadata, precision: Precision, max_batch: int = 1) -> list[Provider]:
    """TensorRT (then CUDA for the nodes it cannot run), or CUDA, then the CPU as the fallback (gpu_provider).
    Reduced precision runs on TensorRT only."""
    gpu = gpu_provider()
    if gpu == TENSORRT:
        return [(TENSORRT, tensorrt_options(metadata, precision, max_batch)), CUDA, CPU]
    if precision != "fp32":
        raise BackendError(f"onnxruntime runs fp32 only on {'CUDA' if gpu else 'the CPU'} (asked for {precision}); "
                           f"{DEVICE_ENV}=tensorrt runs fp16 and bf16")
    return [CUDA, CPU] if gpu else [CPU]


def check_started(asked: list[Provider], running: list[str]) -> None:
    """ONNX Runtime quietly falls back to the next provider when a GPU provider fails to start (missing CUDA,
    cuDNN or TensorRT libraries): refuse that when the GPU was asked for by name, log it under 'auto'."""
    first = asked[0] if isinstance(asked[0], str) else asked[0][0]
    if first in running:
        return
    message = f"ONNX Runtime could not start {first} and would run on {running} (see its log for the reason)"
    if wanted_device() in ("cuda", "tensorrt"):
        raise BackendError(message)
    logger.warning(message)


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

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int, precision: Precision = "fp32",
                 max_batch: int = 1) -> None:
        self.precision: Precision = precision
        self.metadata = metadata
        providers = choose_providers(metadata, precision, max_batch)
        self.session = ort.InferenceSession(str(onnx_path), session_options(threads), providers=providers)
        check_started(providers, self.session.get_providers())
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
