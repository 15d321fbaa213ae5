"""Model store: import from files and snapshot folders, metadata, promote and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners import importer, store
from tests.tiny_model import build_tiny_birefnet


def test_import_onnx_file_records_metadata_and_becomes_current(model_home: Path, tmp_path: Path) -> None:
    onnx_path = build_tiny_birefnet(tmp_path / "BiRefNet_lite-general.onnx", size=64, extra_outputs=2)
    tag = importer.import_model(str(onnx_path))
    metadata = store.metadata_of(tag)
    assert tag.startswith("birefnet:")
    assert metadata.variant == "lite"
    assert metadata.input_size == 64
    assert metadata.dynamic_batch is True
    assert metadata.output_index == -1
    assert len(metadata.sha256) == 64
    assert metadata.source == str(onnx_path)
    assert store.current_tag() == tag, "the first import is promoted so a fresh store can serve"
    assert store.file_of(tag).read_bytes() == onnx_path.read_bytes()


def test_import_snapshot_folder_finds_its_onnx(model_home: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    build_tiny_birefnet(snapshot / "onnx" / "model.onnx", size=32, dynamic_batch=False)
    (snapshot / "config.json").write_text("{}")
    metadata = store.metadata_of(importer.import_model(str(snapshot)))
    assert metadata.input_size == 32
    assert metadata.dynamic_batch is False


def test_snapshot_with_several_onnx_files_asks_which(model_home: Path, tmp_path: Path) -> None:
    build_tiny_birefnet(tmp_path / "snap" / "model.onnx")
    build_tiny_birefnet(tmp_path / "snap" / "model_fp16.onnx")
    with pytest.raises(importer.ModelImportError, match="--file"):
        importer.import_model(str(tmp_path / "snap"))
    tag = importer.import_model(str(tmp_path / "snap"), file="model_fp16.onnx")
    assert store.metadata_of(tag).source.endswith("snap")


def test_bad_sources_fail_with_clear_messages(model_home: Path, tmp_path: Path) -> None:
    with pytest.raises(store.StoreError, match="not an existing file"):
        importer.import_model("no such thing here")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(importer.ModelImportError, match="not a readable ONNX"):
        importer.import_model(str(junk))
    good = build_tiny_birefnet(tmp_path / "m.onnx")
    with pytest.raises(store.StoreError, match="checksum mismatch"):
        importer.import_model(str(good), expected_sha256="0" * 64)
    with pytest.raises(importer.ModelImportError, match="out of range"):
        importer.import_model(str(good), output_index=3)


def test_promote_and_rollback_follow_history(model_home: Path, tmp_path: Path) -> None:
    first = importer.import_model(str(build_tiny_birefnet(tmp_path / "a.onnx")))
    second = importer.import_model(str(build_tiny_birefnet(tmp_path / "b.onnx", invert=True)))
    third = importer.import_model(str(build_tiny_birefnet(tmp_path / "c.onnx")), promote=True)
    assert store.current_tag() == third
    assert store.promote(second.split(":")[1]) == second, "a bare version is accepted"
    assert store.history() == [first, third]
    assert store.rollback() == third
    assert store.rollback() == first
    with pytest.raises(store.StoreError, match="nothing to roll back"):
        store.rollback()
    assert store.current_tag() == first


def test_rollback_skips_versions_deleted_from_the_store(model_home: Path, tmp_path: Path) -> None:
    import bentoml

    first = importer.import_model(str(build_tiny_birefnet(tmp_path / "a.onnx")))
    second = importer.import_model(str(build_tiny_birefnet(tmp_path / "b.onnx")), promote=True)
    third = importer.import_model(str(build_tiny_birefnet(tmp_path / "c.onnx")), promote=True)
    bentoml.models.delete(second)
    assert store.current_tag() == third
    assert store.rollback() == first


def test_promote_unknown_tag_is_refused(model_home: Path) -> None:
    with pytest.raises(store.StoreError, match="no model"):
        store.promote("birefnet:doesnotexist")
    with pytest.raises(store.StoreError, match="no promoted"):
        store.serving_tag()
