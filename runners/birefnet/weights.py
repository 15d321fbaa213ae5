"""Read official BiRefNet weights (.pth / .safetensors / Hugging Face snapshot), identify the variant, build the model."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from runners.checkpoints import SNAPSHOT_WEIGHTS

from .config import VARIANTS, BiRefNetConfig
from .model import BiRefNet

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_NESTED_KEYS = ("state_dict", "model")
_ANCHOR_KEYS = ("bb.patch_embed.proj.weight", "bb.patch_embed1.proj.weight")
_SHOWN = 5


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a checkpoint file or HF snapshot dir into a flat state dict with wrapper prefixes removed."""
    path = Path(path)
    if path.is_dir():
        path = _snapshot_weights(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    state = _unwrap(_read(path), path)
    return _strip_wrapper_prefix({_strip_known_prefixes(k): v for k, v in state.items()})


def infer_variant(state_dict: Mapping[str, Tensor]) -> str:
    """Name of the VARIANTS entry whose exact key set and shapes match state_dict."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    for name, cfg in VARIANTS.items():
        if _expected_shapes(cfg) == shapes:
            return name
    closest = max(VARIANTS, key=lambda name: len(_expected_shapes(VARIANTS[name]).items() & shapes.items()))
    report = _mismatch_report(_expected_shapes(VARIANTS[closest]), shapes)
    raise ValueError(f"weights match no known BiRefNet variant; closest is {closest!r}: {report}")


def build_from_weights(
    path: str | os.PathLike[str], variant: str | BiRefNetConfig | None = None
) -> tuple[BiRefNet, str]:
    """Build BiRefNet for the weights at path (variant inferred unless given), load strictly: (eval model, name)."""
    named = None if variant is None else resolve_config({}, variant)  # an unknown name fails before the file is read
    state = load_state_dict(path)
    cfg = named or resolve_config(state)
    return build_from_state(state, cfg, path), cfg.name


def resolve_config(state: Mapping[str, Tensor], variant: str | BiRefNetConfig | None = None) -> BiRefNetConfig:
    """The configuration to load state into: the given one, the named variant, or the one its shapes match."""
    if isinstance(variant, BiRefNetConfig):
        return variant
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[infer_variant(state) if variant is None else variant]


def build_from_state(state: Mapping[str, Tensor], cfg: BiRefNetConfig, origin: object = "the weights") -> BiRefNet:
    """BiRefNet(cfg) in eval mode with state loaded strictly; a clear ValueError naming origin when they differ."""
    report = _mismatch_report(_expected_shapes(cfg), {k: tuple(v.shape) for k, v in state.items()})
    if report:
        raise ValueError(f"{origin} does not fit BiRefNet variant {cfg.name!r}: {report}")
    with torch.device("meta"):
        model = BiRefNet(cfg)
    kinds = [f"{key} {state[key].dtype}" for key, tensor in model.state_dict().items()
             if tensor.is_floating_point() != state[key].is_floating_point()]
    if kinds:
        raise ValueError(f"{origin} holds {len(kinds)} tensors of the wrong kind (first: {', '.join(kinds[:_SHOWN])})")
    model.load_state_dict(state, strict=True, assign=True)
    return model.float().eval()


def _snapshot_weights(directory: Path) -> Path:
    """Pick the weights file of a Hugging Face snapshot directory."""
    for name in SNAPSHOT_WEIGHTS:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{directory} holds none of {', '.join(SNAPSHOT_WEIGHTS)}")


def _read(path: Path) -> object:
    """Deserialise a safetensors or (weights-only) torch checkpoint, reporting any unreadable file as ValueError.

    Junk bytes make torch's unpickler fail in many ways (KeyError, UnpicklingError, zipfile and size errors), so
    every failure to read is reported the same way, with its first line.
    """
    try:
        if path.suffix == ".safetensors":
            return load_file(path, device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (whatever the reader raises, the file is not a checkpoint we can read)
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        reason = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
        raise ValueError(f"{path} is not a readable PyTorch/safetensors checkpoint ({reason})") from err


def _unwrap(obj: object, path: Path) -> Mapping[str, Tensor]:
    """Descend through {'state_dict': ...} / {'model': ...} containers to the tensor mapping."""
    while isinstance(obj, Mapping) and not all(isinstance(v, Tensor) for v in obj.values()):
        nested = next((obj[k] for k in _NESTED_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is None:
            raise ValueError(f"{path} holds no state dict (top-level keys: {list(obj)[:_SHOWN]})")
        obj = nested
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(key, str) for key in obj):
        raise ValueError(f"{path} holds no state dict (found {type(obj).__name__})")
    return obj


def _strip_known_prefixes(key: str) -> str:
    """Drop DataParallel ('module.') and torch.compile ('_orig_mod.') prefixes, in any order."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
    return key


def _strip_wrapper_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop a prefix shared by every key when it sits in front of the backbone's patch-embedding key."""
    prefixes = [key[: -len(anchor)] for key in state for anchor in _ANCHOR_KEYS if key.endswith(anchor)]
    if len(prefixes) != 1 or not prefixes[0] or not all(k.startswith(prefixes[0]) for k in state):
        return state
    return {k[len(prefixes[0]) :]: v for k, v in state.items()}


@functools.cache
def _expected_shapes(cfg: BiRefNetConfig) -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape of BiRefNet(cfg), computed on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        model = BiRefNet(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatch_report(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str:
    """Human-readable summary of missing/unexpected keys and shape mismatches (empty when they agree)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [f"{k} {found[k]} != {shape}" for k, shape in expected.items() if k in found and found[k] != shape]
    parts = [
        f"{len(items)} {label} (first: {', '.join(items[:_SHOWN])})"
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong))
        if items
    ]
    return "; ".join(parts)
