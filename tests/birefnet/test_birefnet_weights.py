"""Weight files: .pth with wrapper prefixes, .safetensors, HF snapshot dirs, variant inference and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from runners.birefnet import VARIANTS, BiRefNet, build_from_weights, infer_variant, load_state_dict

from .conftest import TINY, randomize


@pytest.fixture(scope="module")
def source() -> BiRefNet:
    """A tiny Swin model with random weights (what a user's fine-tuned checkpoint looks like, shrunk)."""
    return randomize(BiRefNet(TINY["swin"]), seed=3).eval()


def assert_same_model(loaded: BiRefNet, source: BiRefNet) -> None:
    """Identical tensors, eval mode, the same logits (to float rounding: loaded tensors keep the file's memory
    alignment, and the matrix products that fold the image prompt's convs sum in an alignment-dependent order)."""
    assert not loaded.training
    expected = source.state_dict()
    for key, tensor in loaded.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], rtol=0, atol=0)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), source(x), rtol=1e-6, atol=1e-6)


def test_pth_with_module_prefix_and_nesting(source: BiRefNet, tmp_path: Path) -> None:
    path = tmp_path / "ddp.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model, name = build_from_weights(path, variant=TINY["swin"])
    assert name == TINY["swin"].name
    assert_same_model(model, source)


def test_compiled_model_checkpoint_under_model_key(source: BiRefNet, tmp_path: Path) -> None:
    path = tmp_path / "compiled.pt"
    torch.save({"model": {f"_orig_mod.module.{k}": v for k, v in source.state_dict().items()}}, path)
    assert load_state_dict(path).keys() == source.state_dict().keys()


def test_safetensors(source: BiRefNet, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(source.state_dict(), str(path))
    model, _ = build_from_weights(path, variant=TINY["swin"])
    assert_same_model(model, source)


def test_hugging_face_snapshot_directory(source: BiRefNet, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "config.json").write_text(json.dumps({"model_type": "SegformerForSemanticSegmentation"}))
    save_file({f"birefnet.{k}": v for k, v in source.state_dict().items()}, str(snapshot / "model.safetensors"))
    model, _ = build_from_weights(snapshot, variant=TINY["swin"])
    assert_same_model(model, source)


def test_full_size_variant_is_inferred_and_loaded_strictly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = BiRefNet(VARIANTS["lite"])
    path = tmp_path / "BiRefNet_lite.pth"
    torch.save(reference.state_dict(), path)
    model, name = build_from_weights(path)
    assert name == "lite" and not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_half_precision_weights_load_as_float32(source: BiRefNet, tmp_path: Path) -> None:
    path = tmp_path / "half.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in source.state_dict().items()}, str(path))
    model, _ = build_from_weights(path, variant=TINY["swin"])
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_wrong_variant_names_missing_and_unexpected_keys(source: BiRefNet, tmp_path: Path) -> None:
    path = tmp_path / "swin.safetensors"
    save_file(source.state_dict(), str(path))
    with pytest.raises(ValueError, match=r"missing keys \(first: bb\.patch_embed1.*unexpected keys"):
        build_from_weights(path, variant=TINY["pvt_v2"])
    with pytest.raises(ValueError, match="match no known BiRefNet variant; closest is 'lite'"):
        build_from_weights(path)


def test_unreadable_or_empty_files_raise_value_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        load_state_dict(text)
    garbage = tmp_path / "broken.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable"):
        load_state_dict(garbage)
    no_tensors = tmp_path / "meta.pth"
    torch.save({"epoch": 1, "lr": 1e-4}, no_tensors)
    with pytest.raises(ValueError, match="holds no state dict"):
        load_state_dict(no_tensors)
    with pytest.raises(ValueError, match="unknown variant 'swin_v1_xl'"):
        build_from_weights(no_tensors, variant="swin_v1_xl")


def test_missing_paths_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "absent.pth")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_state_dict(tmp_path)


def test_infer_variant_rejects_foreign_state_dicts() -> None:
    with pytest.raises(ValueError, match="closest is"):
        infer_variant({"fc.weight": torch.zeros(2, 2)})


def test_integer_buffers_stored_as_floats_are_refused(source: BiRefNet, tmp_path: Path) -> None:
    state = source.state_dict()
    key = next(name for name in state if name.endswith("relative_position_index"))
    path = tmp_path / "floats.pth"
    torch.save({**state, key: state[key].float()}, path)
    with pytest.raises(ValueError, match=f"tensors of the wrong kind \\(first: {key} torch.float32"):
        build_from_weights(path, variant=TINY["swin"])
