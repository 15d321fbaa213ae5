"""PyTorch checkpoints (.pth, .safetensors, Hugging Face snapshots) -> a verified ONNX export plus the weights,
ready to register as one store version (the ONNX is served; the weights are what fine-tuning starts from)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_SUFFIXES = frozenset({".pth", ".pt", ".bin", ".safetensors"})
SNAPSHOT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
WEIGHTS_FILE = "weights.safetensors"
PARITY_TOLERANCE = 1e-3


class ConversionError(ValueError):
    """A checkpoint that cannot become a servable model."""


@dataclass(frozen=True)
class Converted:
    """The files to register and what the conversion verified."""

    onnx_path: Path
    weights_path: Path
    variant: str
    size: int
    max_abs_diff: float


def is_checkpoint(path: Path) -> bool:
    """A PyTorch weights file, or a snapshot folder with weights and no ready ONNX export."""
    if path.is_file():
        return path.suffix.lower() in CHECKPOINT_SUFFIXES
    return any((path / name).is_file() for name in SNAPSHOT_WEIGHTS) and not any(path.rglob("*.onnx"))


def convert_checkpoint(path: Path, workdir: Path, variant: str | None = None, size: int = 1024,
                       fp16: bool = False) -> Converted:
    """Build our BiRefNet from the weights (strict), export ONNX, and check ONNX Runtime against PyTorch."""
    from safetensors.torch import save_file

    from runners.birefnet import build_from_weights, check_onnx_parity, export_onnx

    try:
        model, variant_name = build_from_weights(path, variant)
    except (ValueError, FileNotFoundError) as exc:
        raise ConversionError(str(exc)) from exc
    onnx_path = export_onnx(model, workdir / "model.onnx", size=size, fp16=fp16)
    max_abs_diff = check_onnx_parity(model, onnx_path, size, batch=1)
    tolerance = PARITY_TOLERANCE * (10 if fp16 else 1)
    if max_abs_diff > tolerance:
        raise ConversionError(f"the ONNX export differs from PyTorch by {max_abs_diff:.2e} (> {tolerance:.0e})")
    weights_path = workdir / WEIGHTS_FILE
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(weights_path))
    return Converted(onnx_path, weights_path, variant_name, size, max_abs_diff)
