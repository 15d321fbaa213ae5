"""Post-training int8 quantization (NNCF) of an ONNX model for OpenVINO: the benchmark's int8 rows.

int8 is measured, not served: it only counts as a speed-up where its masks pass the same guard as bf16 (IoU >= 0.99,
mean |alpha diff| <= 0.01 against fp32), which the benchmark reports per input. Calibration uses generated studio
scenes of every product kind (seeds apart from the inputs it is judged on). Results are cached beside the other
benchmark assets, keyed by the source file's name, size and modification time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from benchmarks.assets import cache_dir
from runners.preprocess import to_tensor
from runners.store import ModelMetadata

CALIBRATION_SEEDS = range(100, 114)


def nncf_installed() -> bool:
    """NNCF (pip install nncf, part of the bench extra) and OpenVINO are both importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("nncf", "openvino"))


def calibration_batches(metadata: ModelMetadata) -> list[np.ndarray]:
    """Normalised single-image batches of generated studio scenes, cycling through the product kinds."""
    from scenes.synthetic import KINDS, make_scene

    size = metadata.input_size
    kinds = [KINDS[index % len(KINDS)] for index in range(len(CALIBRATION_SEEDS))]
    return [to_tensor([make_scene(seed, size, kind=kind).image], size, metadata.mean, metadata.std)
            for seed, kind in zip(CALIBRATION_SEEDS, kinds)]


def cached_path(onnx: Path) -> Path:
    """Where the int8 IR of this ONNX file is kept."""
    facts = onnx.stat()
    return cache_dir() / "int8" / f"{onnx.parent.name}-{onnx.stem}-{facts.st_size}-{int(facts.st_mtime)}.xml"


def quantize(onnx: Path, metadata: ModelMetadata, out: Path) -> Path:
    """NNCF's default (mixed) int8 quantization of the model at batch 1, saved as OpenVINO IR (.xml + .bin)."""
    import nncf
    import openvino as ov

    from runners.backends.openvino_backend import read_model

    model = read_model(ov.Core(), onnx)
    size = metadata.input_size
    model.reshape({metadata.input_name: [1, 3, size, size]})
    batches = calibration_batches(metadata)
    quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches),
                              preset=nncf.QuantizationPreset.MIXED)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"partial-{out.name}")
    ov.save_model(quantized, str(partial), compress_to_fp16=False)
    partial.with_suffix(".bin").rename(out.with_suffix(".bin"))
    return partial.rename(out)
