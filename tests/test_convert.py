"""Importing PyTorch checkpoints: convert, verify, register with the weights, and serve what PyTorch computes."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import warnings
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from runners import importer, store
from postprocess.resample import resize
from runners.birefnet import VARIANTS, BiRefNet, check_onnx_parity, export_onnx
from runners.checkpoints import WEIGHTS_FILE
from runners.inference import OnnxSegmenter
from runners.preprocess import to_tensor
from tests.birefnet.conftest import TINY, randomize
from tests.server import BIN, cutout_cli, start_server
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
    tag = importer.import_model(str(path), size=SIZE, patch_order="new")
    metadata = store.metadata_of(tag)
    assert metadata.variant == "pvt_v2_b0" and metadata.input_size == SIZE and metadata.dynamic_batch
    assert metadata.export_max_abs_diff is not None and metadata.export_max_abs_diff < 1e-3
    assert metadata.patch_order == "new" and metadata.patch_order_check == {"decided_by": "--patch-order",
                                                                            "evidence": []}
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
    metadata = store.metadata_of(importer.import_model(str(snapshot), size=SIZE, patch_order="new"))
    assert metadata.variant == "pvt_v2_b0" and metadata.source == str(snapshot)


def test_wrong_checkpoint_is_refused_clearly(model_home: Path, tmp_path: Path) -> None:
    junk = tmp_path / "not-birefnet.pth"
    torch.save({"layer.weight": torch.zeros(3, 3)}, junk)
    with pytest.raises(importer.ModelImportError, match="no known BiRefNet variant"):
        importer.import_model(str(junk))


def test_served_result_of_an_imported_pth_equals_pytorch(tmp_path: Path, checkpoint: tuple[Path, BiRefNet]) -> None:
    path, model = checkpoint
    home = tmp_path / "bentoml"
    cutout_cli("models", "import", str(path), "--size", str(SIZE), "--patch-order", "new",
               env={**os.environ, "BENTOML_HOME": str(home)})
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


def scaled_logits_model(factor: float) -> BiRefNet:
    """A tiny random model whose logits are `factor` times larger (its last conv scaled)."""
    model = randomize(BiRefNet(TINY["pvt_v2"])).eval()
    with torch.no_grad():
        model.decoder.conv_out1[0].weight.mul_(factor)
        model.decoder.conv_out1[0].bias.mul_(factor)
    return model


def test_parity_is_judged_on_the_logits_scale_and_the_masks(tmp_path: Path) -> None:
    model = scaled_logits_model(1e5)
    size = model.config.size
    parity = check_onnx_parity(model, export_onnx(model, tmp_path / "large.onnx", size), size)
    assert parity.logit_scale > 1e4 and parity.max_abs_diff > 1e-3, "a fixed 1e-3 limit would refuse this export"
    assert parity.mismatch() is None, "rounding at a large scale is not a mismatch"


def test_an_export_with_one_weight_changed_is_refused(tmp_path: Path) -> None:
    model = scaled_logits_model(1.0)
    wrong = copy.deepcopy(model)
    with torch.no_grad():
        wrong.decoder.conv_out1[0].bias += 1.0
    size = model.config.size
    problem = check_onnx_parity(model, export_onnx(wrong, tmp_path / "wrong.onnx", size), size).mismatch()
    assert problem is not None and "mask IoU" in problem and "relative" in problem


def test_import_refuses_an_export_that_does_not_compute_the_model(model_home: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import runners.birefnet

    export = runners.birefnet.export_onnx

    def export_with_one_weight_changed(model: BiRefNet, path: Path, **kwargs: object) -> Path:
        wrong = copy.deepcopy(model)
        with torch.no_grad():
            wrong.decoder.conv_out1[0].bias += 1.0
        return export(wrong, path, **kwargs)

    path = tmp_path / "tiny.pth"
    torch.save(scaled_logits_model(1.0).state_dict(), path)
    monkeypatch.setattr(runners.birefnet, "export_onnx", export_with_one_weight_changed)
    with pytest.raises(importer.ModelImportError, match="does not compute what PyTorch computes"):
        importer.import_model(str(path), variant=TINY_SPEC, patch_order="new")
    assert not store.versions(), "nothing is registered"


TINY_SPEC = "pvt_v2_b0@64/w4/d2"
JUNK = {
    "random-bytes.pth": lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
    "random-bytes.safetensors": lambda path: path.write_bytes(np.random.default_rng(1).bytes(4096)),
    "empty.pth": lambda path: path.write_bytes(b""),
    "text.bin": lambda path: path.write_text("not a checkpoint\n"),
    "a-zip.pth": lambda path: zipfile.ZipFile(path, "w").writestr("hello.txt", "hello"),
    "a-list.pth": lambda path: torch.save([torch.zeros(2)], path),
    "int-keys.pth": lambda path: torch.save({1: torch.zeros(2)}, path),
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_unreadable_or_foreign_checkpoints_are_refused_clearly(model_home: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    JUNK[name](path)
    with pytest.raises(importer.ModelImportError, match=str(path)):
        importer.import_model(str(path))


def test_a_junk_pth_gets_one_line_and_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "BiRefNet-general-epoch_244.pth"
    JUNK["random-bytes.pth"](path)
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(BIN / "cutout"), "models", "import", str(path)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "not a readable" in done.stderr, (
        done.stderr)


def test_an_onnx_exported_like_the_official_tutorial_imports_as_it_is(model_home: Path, tmp_path: Path) -> None:
    """BiRefNet_pth2onnx.ipynb: torch.onnx.export(net, randn(1, 3, 1024, 1024), opset 17, input 'input_image',
    output 'output_image'), no dynamic axes: the logits of a fixed 1 x 3 x 1024 x 1024 input."""
    config = VARIANTS["pvt_v2_b0"].scaled(1024, width_div=8, max_depth=1)
    model = randomize(BiRefNet(config), seed=4).eval()
    path = tmp_path / "BiRefNet-general-epoch_244.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 1024, 1024),), str(path), opset_version=17,
                          input_names=["input_image"], output_names=["output_image"], dynamo=False)
    tag = importer.import_model(str(path))
    metadata = store.metadata_of(tag)
    assert (metadata.input_name, metadata.input_size, metadata.dynamic_batch) == ("input_image", 1024, False)
    assert metadata.variant == "general" and metadata.patch_order is None, "an ONNX graph keeps its own order"
    images = [product_photo(300, 200), np.random.default_rng(3).integers(0, 255, (120, 90, 3), np.uint8)]
    served = OnnxSegmenter(store.file_of(tag), metadata, threads=2).predict(images)
    for image, mask in zip(images, served, strict=True):
        batch = torch.from_numpy(to_tensor([image], 1024, metadata.mean, metadata.std))
        with torch.inference_mode():
            expected = torch.sigmoid(model(batch))[0, 0].numpy()
        np.testing.assert_allclose(mask, resize(expected, image.shape[1], image.shape[0]), atol=1e-4)
