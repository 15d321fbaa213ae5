"""State-dict parity with the official checkpoints' manifests (keys, shapes, dtypes), built on the meta device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from runners.birefnet import VARIANTS, BiRefNet, infer_variant

# Copies of the reference manifests (every tensor of the official checkpoints, in state-dict order).
MANIFESTS = Path(__file__).resolve().parent / "manifests"
MANIFEST_OF = {"general": "swin_v1_l", "lite": "swin_v1_t", "pvt_v2_b2": "pvt_v2_b2"}


def read_manifest(backbone: str) -> list[tuple[str, tuple[int, ...], str]]:
    """Rows (key, shape, dtype) of birefnet-<backbone>.keys.tsv, in file order."""
    rows = []
    for line in (MANIFESTS / f"birefnet-{backbone}.keys.tsv").read_text().splitlines()[1:]:
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.split("x")) if shape else (), dtype))
    return rows


def meta_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """State dict of a variant built without allocating memory."""
    with torch.device("meta"):
        return BiRefNet(VARIANTS[variant]).state_dict()


@pytest.mark.parametrize("variant", sorted(MANIFEST_OF))
def test_state_dict_matches_manifest(variant: str) -> None:
    manifest = read_manifest(MANIFEST_OF[variant])
    state = meta_state_dict(variant)
    expected = {key: (shape, dtype) for key, shape, dtype in manifest}
    assert set(state) == set(expected), (sorted(set(expected) - set(state))[:5], sorted(set(state) - set(expected))[:5])
    actual = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    assert actual == expected
    assert list(state) == [key for key, _, _ in manifest], "state-dict order differs from the checkpoint"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_is_identified_from_its_shapes(variant: str) -> None:
    assert infer_variant(meta_state_dict(variant)) == variant
