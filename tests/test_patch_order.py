"""Official checkpoints in either patch order are served with the official outputs (tests/birefnet/official holds
what official BiRefNet computed at a commit before the order changed and at HEAD)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from runners import importer, store
from runners.birefnet import IMAGENET_MEAN, IMAGENET_STD, VARIANTS, build_from_weights
from runners.birefnet.patch_order import convert_patch_order, old_channel_of_new, prompt_coherence
from runners.birefnet.spec import parse_spec
from runners.birefnet.weights import build_from_state
from runners.inference import OnnxSegmenter
from runners.patch_order_check import detect_patch_order
from runners.preprocess import to_tensor
from tests.birefnet.official import SIZE, TRAINED_SPEC, random_state, recording, trained_state
from tests.server import BIN, cutout_cli, start_server
from tests.tiny_model import build_tiny_birefnet

LOGIT_TOLERANCE = 1e-4
BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "runners" / "default_model" / "weights.safetensors"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The recorded checkpoints as files an operator would import: the random one (read as old or as new order by
    the flag), the trained one in the new order (safetensors) and in the old order (a DataParallel .pth)."""
    folder = tmp_path_factory.mktemp("official")
    paths = {"random": folder / "BiRefNet-pvt_v2_b0-random.pth", "trained-new": folder / "trained-new.safetensors",
             "trained-old": folder / "BiRefNet-trained-old-epoch_40.pth"}
    torch.save(random_state(), paths["random"])
    save_file(trained_state(), str(paths["trained-new"]))
    old = convert_patch_order(trained_state(), "new", "old")
    torch.save({f"module.{key}": value for key, value in old.items()}, paths["trained-old"])
    return paths


def served_logits(tag: str, images: np.ndarray) -> np.ndarray:
    """What the stored version's ONNX model computes for the images, fed as the server feeds it."""
    metadata = store.metadata_of(tag)
    segmenter = OnnxSegmenter(store.file_of(tag), metadata, threads=1)
    return segmenter.logits(to_tensor(list(images), metadata.input_size, metadata.mean, metadata.std))


def test_the_recordings_tell_the_orders_apart() -> None:
    random = recording("random")
    assert np.abs(random.logits["old"] - random.logits["new"]).max() > 0.5, "one file, two different checkpoints"
    trained = recording("trained")
    np.testing.assert_allclose(trained.logits["old"], trained.logits["new"], atol=LOGIT_TOLERANCE,
                               err_msg="one model stored in two orders computes the same")


def test_the_permutation_maps_each_pixel_of_a_patch_to_its_new_channel() -> None:
    grid = 4
    image = torch.arange(3 * grid * grid * 2 * 2, dtype=torch.float32).reshape(1, 3, grid * 2, grid * 2)
    patches = image.unflatten(2, (grid, 2)).unflatten(4, (grid, 2))  # b c hg h wg w
    new = patches.permute(0, 1, 2, 4, 3, 5).flatten(1, 3)  # b (c hg wg) h w
    old = patches.permute(0, 4, 2, 1, 3, 5).flatten(1, 3)  # b (wg hg c) h w: get_patches_batch's order
    assert torch.equal(old[:, old_channel_of_new(grid)], new)


def test_our_model_computes_what_each_official_commit_computes() -> None:
    state = random_state()
    official = recording("random")
    x = torch.from_numpy(to_tensor(list(official.images), SIZE, IMAGENET_MEAN, IMAGENET_STD))
    for order in ("old", "new"):
        model = build_from_state(convert_patch_order(state, order), VARIANTS["pvt_v2_b0"])
        with torch.inference_mode():
            logits = model(x).numpy()
        np.testing.assert_allclose(logits, official.logits[order], atol=LOGIT_TOLERANCE, err_msg=order)


def test_random_weights_are_refused_under_auto_with_the_flag_to_pass(checkpoints: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(BIN / "cutout"), "models", "import", str(checkpoints["random"]), "--size", str(SIZE)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the evidence is weak" in lines[0] and "--patch-order old" in lines[0] and "--patch-order new" in lines[0]


@pytest.mark.parametrize("order", ["old", "new"])
def test_the_flag_imports_a_checkpoint_in_its_order_with_the_official_logits(model_home: Path, order: str,
                                                                              checkpoints: dict[str, Path]) -> None:
    tag = importer.import_model(str(checkpoints["random"]), size=SIZE, patch_order=order)
    metadata = store.metadata_of(tag)
    assert metadata.patch_order == order and metadata.patch_order_check["decided_by"] == "--patch-order"
    official = recording("random")
    np.testing.assert_allclose(served_logits(tag, official.images), official.logits[order], atol=LOGIT_TOLERANCE)
    stored, _ = build_from_weights(store.file_of(tag, "weights.safetensors"), "pvt_v2_b0")
    expected = convert_patch_order(random_state(), order)["decoder.ipt_blk5.conv1.weight"]
    assert torch.equal(stored.state_dict()["decoder.ipt_blk5.conv1.weight"], expected), "stored in the new order"


@pytest.mark.parametrize("name, order", [("trained-new", "new"), ("trained-old", "old")])
def test_trained_checkpoints_are_detected_and_served_with_the_official_logits(
        model_home: Path, checkpoints: dict[str, Path], name: str, order: str) -> None:
    tag = importer.import_model(str(checkpoints[name]), variant=TRAINED_SPEC)
    metadata = store.metadata_of(tag)
    assert metadata.patch_order == order
    check = metadata.patch_order_check
    assert check["decided_by"].startswith("auto") and check["weights"]["coherence"][order] > 0.2
    assert any(line.startswith("weights:") for line in check["evidence"]), "the evidence is recorded in words"
    official = recording("trained")
    np.testing.assert_allclose(served_logits(tag, official.images), official.logits[order], atol=LOGIT_TOLERANCE)


def test_the_bundled_default_model_is_new_order() -> None:
    architecture = json.loads((BUNDLED_WEIGHTS.parent / "training.json").read_text())["architecture"]
    model, _ = build_from_weights(BUNDLED_WEIGHTS, parse_spec(architecture).config())
    state = {key: value.float() for key, value in model.state_dict().items()}
    assert detect_patch_order(model, state, model.config.size).order == "new"


def test_prompt_coherence_is_near_zero_for_random_weights_in_both_orders() -> None:
    state = random_state()
    assert all(abs(prompt_coherence(state, order)) < 0.02 for order in ("old", "new"))


def test_onnx_files_keep_their_own_order(model_home: Path, tmp_path: Path) -> None:
    with pytest.raises(importer.ModelImportError, match="ONNX graph computes in the order it was exported"):
        importer.import_model(str(build_tiny_birefnet(tmp_path / "m.onnx")), patch_order="old")


def test_both_orders_are_served_with_the_official_masks_through_bentoml(checkpoints: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    home = tmp_path / "bentoml"
    env = {**os.environ, "BENTOML_HOME": str(home)}
    old_tag = cutout_cli("models", "import", str(checkpoints["random"]), "--size", str(SIZE), "--patch-order", "old",
                         env=env).split()[1]
    new_tag = cutout_cli("models", "import", str(checkpoints["trained-new"]), "--variant", TRAINED_SPEC,
                         env=env).split()[1]
    cutout_cli("models", "promote", old_tag, env=env)
    server = start_server(home, tmp_path / "server.log")
    try:
        for tag, name, order in ((old_tag, "random", "old"), (new_tag, "trained", "new")):
            wait_until_served(server.url, tag, env)
            official = recording(name)
            for image, logits in zip(official.images, official.logits[order], strict=True):
                upload = io.BytesIO()
                Image.fromarray(image).save(upload, format="PNG")
                response = httpx.post(f"{server.url}/remove-background", data={"mask": "raw"}, timeout=60,
                                      files={"image": ("scene.png", upload.getvalue())})
                assert response.status_code == 200, response.text
                served = np.asarray(Image.open(io.BytesIO(response.content)))[..., 3] / 255.0
                expected = 1.0 / (1.0 + np.exp(-logits[0].astype(np.float64)))
                union = np.count_nonzero((served > 0.5) | (expected > 0.5))
                iou = np.count_nonzero((served > 0.5) & (expected > 0.5)) / union if union else 1.0
                assert iou >= 0.999, f"{tag}: mask IoU {iou:.4f} against official {order}-order BiRefNet"
                assert np.abs(served - expected).max() <= 1 / 255 + 1e-4, "the official mask, up to 8-bit rounding"
    finally:
        server.stop()


def wait_until_served(url: str, tag: str, env: dict[str, str], timeout_s: float = 120) -> None:
    """Promote tag and wait until the running service reports it as its model."""
    cutout_cli("models", "promote", tag, env=env)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health", timeout=30).json()["model"].get("tag") == tag:
            return
        time.sleep(1)
    raise AssertionError(f"the service did not switch to {tag}")
