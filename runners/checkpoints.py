"""Which files hold PyTorch checkpoints, and the name of the weights file a store version keeps beside its ONNX
model. Free of torch, so that telling a checkpoint from an ONNX file costs nothing."""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_SUFFIXES = frozenset({".pth", ".pt", ".bin", ".safetensors"})
SNAPSHOT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
WEIGHTS_FILE = "weights.safetensors"


def is_checkpoint(path: Path) -> bool:
    """A PyTorch weights file, or a snapshot folder with weights and no ready ONNX export."""
    if path.is_file():
        return path.suffix.lower() in CHECKPOINT_SUFFIXES
    return any((path / name).is_file() for name in SNAPSHOT_WEIGHTS) and not any(path.rglob("*.onnx"))
