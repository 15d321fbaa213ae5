"""Which BiRefNet to train (an architecture spec like 'lite@256/w4') and where starting weights come from
(a store version's weights.safetensors, a weights file, or nothing for training from scratch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from runners import store
from runners.birefnet import VARIANTS, BiRefNet, build_from_weights, infer_variant, load_state_dict
from runners.birefnet.spec import SPEC, Architecture, parse_spec
from runners.checkpoints import WEIGHTS_FILE


@dataclass(frozen=True)
class Start:
    """A model to fine-tune and where it came from (the store tag becomes the new version's parent)."""

    model: BiRefNet
    architecture: Architecture
    tag: str | None
    path: str | None


def _from_weights(path: Path, spec: str | None, size: int | None) -> tuple[BiRefNet, Architecture]:
    """Strictly load weights into the spec'd (or inferred official) architecture."""
    if spec is None:
        variant = infer_variant(load_state_dict(path))
        architecture = Architecture(variant, size or VARIANTS[variant].size)
    else:
        architecture = parse_spec(spec, size)
    model, _ = build_from_weights(path, architecture.config())
    return model, architecture


def load_start(source: str | None, spec: str | None, size: int | None = None) -> Start:
    """Resolve --from/--config: a weights file, a store tag, random init from a spec, else the promoted version."""
    if source is None and spec is not None:
        architecture = parse_spec(spec, size)
        torch.manual_seed(0)
        return Start(BiRefNet(architecture.config()), architecture, None, None)
    if source is not None and Path(source).expanduser().is_file():
        model, architecture = _from_weights(Path(source).expanduser(), spec, size)
        return Start(model, architecture, None, str(Path(source).expanduser().resolve()))
    tag = store.normalize_tag(source) if source else store.current_tag()
    if tag is None:
        raise store.StoreError("nothing to start from: give --from TAG|WEIGHTS or --config SPEC (no version is promoted)")
    try:
        weights = store.file_of(tag, WEIGHTS_FILE)
    except store.StoreError as exc:
        raise store.StoreError(f"{tag} has no PyTorch weights (it was imported as ONNX only); fine-tune from a "
                               "checkpoint import or train with --config SPEC") from exc
    recorded = store.metadata_of(tag)
    known = spec or (recorded.variant if SPEC.match(recorded.variant) and recorded.variant.split("@")[0] in VARIANTS
                     else None)
    model, architecture = _from_weights(weights, known, size or recorded.input_size)
    return Start(model, architecture, tag, str(weights))


def save_weights(model: torch.nn.Module, path: Path, half: bool = False) -> Path:
    """Write the state dict as safetensors (the format stored with every trained version); half=True stores
    floating-point tensors as float16 (they load back as float32)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    save_file({name: t.half() if half and t.is_floating_point() else t for name, t in state.items()}, str(path))
    path.chmod(0o644)
    return path


def load_trained(path: Path, architecture: Architecture) -> BiRefNet:
    """A model of the architecture with weights saved by save_weights, in eval mode."""
    model, _ = build_from_weights(path, architecture.config())
    return model
