"""PyTorch checkpoints (.pth, .safetensors, Hugging Face snapshots) -> a verified ONNX export plus the weights,
ready to register as one store version (the ONNX is served; the weights are what fine-tuning starts from).

Official weights come in two patch orders (runners/birefnet/patch_order.py); old-order weights are converted here,
so every stored version computes in the one order our implementation uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from runners.checkpoints import WEIGHTS_FILE

if TYPE_CHECKING:
    from runners.patch_order_check import PatchOrderDecision

DEFAULT_SIZE = 1024
PatchOrderChoice = Literal["auto", "old", "new"]


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
    patch_order: PatchOrderDecision


def convert_checkpoint(path: Path, workdir: Path, variant: str | None = None, size: int | None = None,
                       fp16: bool = False, patch_order: PatchOrderChoice = "auto") -> Converted:
    """Build our BiRefNet from the weights (strict; VARIANT may be an official name or a spec such as
    'pvt_v2_b0@256/w4'), settle the patch order, export ONNX and check ONNX Runtime against PyTorch."""
    import torch
    from safetensors.torch import save_file

    from runners.birefnet import IMAGENET_MEAN, IMAGENET_STD, check_onnx_parity, export_onnx, load_state_dict
    from runners.birefnet.patch_order import convert_patch_order
    from runners.birefnet.spec import parse_spec
    from runners.birefnet.weights import build_from_state, resolve_config
    from runners.calibration import calibration_images
    from runners.patch_order_check import PatchOrderDecision, detect_patch_order
    from runners.preprocess import to_tensor

    try:
        state = {key: value.float() if value.is_floating_point() else value
                 for key, value in load_state_dict(path).items()}
        if variant is not None and ("@" in variant or "/" in variant):
            architecture = parse_spec(variant, size)
            config, name, size = architecture.config(), architecture.spec, architecture.size
        else:
            config = resolve_config(state, variant)
            name, size = config.name, size or DEFAULT_SIZE
        model = build_from_state(state, config, path)
        if patch_order == "auto":
            decision = detect_patch_order(model, state, size)
        else:
            decision = PatchOrderDecision(patch_order, "--patch-order")
    except (ValueError, FileNotFoundError) as exc:  # PatchOrderUndecided included
        raise ConversionError(str(exc)) from exc
    if decision.order != "new":
        model.load_state_dict(convert_patch_order(state, decision.order), strict=True, assign=True)
    onnx_path = export_onnx(model, workdir / "model.onnx", size=size, fp16=fp16)
    sample = torch.from_numpy(to_tensor([calibration_images()[0].image], size, IMAGENET_MEAN, IMAGENET_STD))
    parity = check_onnx_parity(model, onnx_path, size, inputs=sample)
    if problem := parity.mismatch(fp16):
        raise ConversionError(f"the ONNX export does not compute what PyTorch computes: {problem}")
    weights_path = workdir / WEIGHTS_FILE
    save_file({key: tensor.contiguous() for key, tensor in model.state_dict().items()}, str(weights_path))
    return Converted(onnx_path, weights_path, name, size, parity.max_abs_diff, decision)
