"""Importing PyTorch checkpoints: convert, verify, register with the weights, and serve what PyTorch computes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from runners import importer, store
from runners.birefnet import VARIANTS, BiRefNet
from runners.convert import WEIGHTS_FILE
from runners.inference import OnnxSegmenter
from runners.preprocess import to_tensor
from tests.birefnet.conftest import randomize
from tests.server import cutout_cli, start_server
from tests.tiny_model import product_photo

SIZE = 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BiRefNet]:
    """A random-weight pvt_v2_b0 BiRefNet saved the way DataParallel training saves it (`module.` prefix)."""
    model = randomize(BiRefNet(VARIANTS["pvt_v2_b0"])).eval()
    path = tmp_path_factory.mktemp("ckpt") / "BiRefNet-pvt_v2_b0-epoch_1.pth"
    torch.save({f"module.{name}": tensor for name, tensor in model.state_dict().items()}, path)
    return path, model


def torch_masks(model: BiRefNet, images: list[np.ndarray]) -> np.ndarray:
    batch = torch.from_numpy(to_tensor(images, SIZE, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
    with torch.inference_mode():
        return torch.sigmoid(model(batch)).numpy()[:, 0]


def test_pth_import_registers_onnx_and_weights(model_home: Path, checkpoint: tuple[Path, BiRefNet]) -> None:
    path, model = checkpoint
    tag = importer.import_model(str(path), size=SIZE)
    metadata = store.metadata_of(tag)
    assert metadata.variant == "pvt_v2_b0" and metadata.input_size == SIZE and metadata.dynamic_batch
    assert metadata.export_max_abs_diff is not None and metadata.export_max_abs_diff < 1e-3
    assert store.file_of(tag, WEIGHTS_FILE).stat().st_size > 0, "the PyTorch weights travel with the version"

    images = [product_photo(SIZE, SIZE), np.random.default_rng(1).integers(0, 255, (SIZE, SIZE, 3), np.uint8)]
    served = OnnxSegmenter(store.file_of(tag), metadata, threads=1).predict(images)
    np.testing.assert_allclose(np.stack(served), torch_masks(model, images), atol=1e-4)


def test_snapshot_folder_with_safetensors_is_converted(model_home: Path, tmp_path: Path,
                                                       checkpoint: tuple[Path, BiRefNet]) -> None:
    from safetensors.torch import save_file

    _, model = checkpoint
    snapshot = tmp_path / "BiRefNet-snapshot"
    snapshot.mkdir()
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()},
              str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text('{"model_type": "SegformerForSemanticSegmentation"}')
    metadata = store.metadata_of(importer.import_model(str(snapshot), size=SIZE))
    assert metadata.variant == "pvt_v2_b0" and metadata.source == str(snapshot)


def test_wrong_checkpoint_is_refused_clearly(model_home: Path, tmp_path: Path) -> None:
    junk = tmp_path / "not-birefnet.pth"
    torch.save({"layer.weight": torch.zeros(3, 3)}, junk)
    with pytest.raises(importer.ModelImportError, match="no known BiRefNet variant"):
        importer.import_model(str(junk))


def test_served_result_of_an_imported_pth_equals_pytorch(tmp_path: Path, checkpoint: tuple[Path, BiRefNet]) -> None:
    path, model = checkpoint
    home = tmp_path / "bentoml"
    cutout_cli("models", "import", str(path), "--size", str(SIZE), env={**os.environ, "BENTOML_HOME": str(home)})
    image = np.random.default_rng(2).integers(0, 255, (SIZE, SIZE, 3), np.uint8)
    upload = io.BytesIO()
    Image.fromarray(image).save(upload, format="PNG")
    server = start_server(home, tmp_path / "server.log")
    try:
        response = httpx.post(f"{server.url}/remove-background", files={"image": ("x.png", upload.getvalue())},
                              data={"mask": "raw"}, timeout=60)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    served = np.asarray(Image.open(io.BytesIO(response.content)))[..., 3] / 255.0
    expected = torch_masks(model, [image])[0]
    assert np.abs(served - expected).max() <= 1 / 255 + 1e-4, "the served mask is PyTorch's, up to 8-bit rounding"
