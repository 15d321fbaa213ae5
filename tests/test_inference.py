"""ONNX Runtime inference: mixed-size batches, static-batch models, multi-output models, masks that are right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runners.inference import OnnxSegmenter
from runners.preprocess import to_tensor
from runners.store import ModelMetadata
from tests.tiny_model import build_tiny_birefnet, product_photo


def segmenter(tmp_path: Path, **build: object) -> OnnxSegmenter:
    path = build_tiny_birefnet(tmp_path / "m.onnx", size=64, **build)
    metadata = ModelMetadata(input_size=64, dynamic_batch=build.get("dynamic_batch", True))
    return OnnxSegmenter(path, metadata, threads=1)


@pytest.mark.parametrize("dynamic_batch", [True, False])
def test_mixed_size_batch_gives_masks_at_each_size(tmp_path: Path, dynamic_batch: bool) -> None:
    images = [product_photo(320, 240), product_photo(100, 300), product_photo(64, 64)]
    masks = segmenter(tmp_path, dynamic_batch=dynamic_batch, extra_outputs=1).predict(images)
    assert [mask.shape for mask in masks] == [(240, 320), (300, 100), (64, 64)]
    for mask in masks:
        assert mask.dtype == np.float32
        height, width = mask.shape
        assert mask[height // 2, width // 2] > 0.99, "the product is foreground"
        assert mask[2, 2] < 0.01, "the white studio background is background"


def test_batch_result_equals_one_by_one(tmp_path: Path) -> None:
    model = segmenter(tmp_path)
    images = [product_photo(200, 150, (10, 10, 90, 60)), product_photo(120, 120)]
    together = model.predict(images)
    alone = [model.predict([image])[0] for image in images]
    for batched, single in zip(together, alone):
        np.testing.assert_allclose(batched, single, atol=1e-6)


def test_preprocessing_matches_official_normalisation() -> None:
    white = np.full((8, 8, 3), 255, np.uint8)
    tensor = to_tensor([white], 4, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert tensor.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(tensor[0, :, 0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225],
                               rtol=1e-5)


def test_empty_batch(tmp_path: Path) -> None:
    assert segmenter(tmp_path).predict([]) == []
