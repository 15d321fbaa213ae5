"""The bundled default model: small, follows the serving contract, segments studio scenes better than a
white-distance threshold, and `cutout models ensure` serves it on an empty store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from postprocess.metrics import iou
from runners import importer, store
from runners.bundled import BUNDLED_DEFAULT
from runners.inference import OnnxSegmenter
from tests.server import BIN
from training.evaluate import baseline_predictor
from scenes.synthetic import make_scene

TRAINING_RECORD = BUNDLED_DEFAULT.parent / "training.json"
FRESH_SEED = 900_000


def test_bundled_model_follows_the_serving_contract() -> None:
    assert BUNDLED_DEFAULT.stat().st_size < 20_000_000
    facts = importer.inspect_onnx(BUNDLED_DEFAULT)
    size = json.loads(TRAINING_RECORD.read_text())["input_size"]
    assert facts.input_name == "input" and facts.input_size == size and facts.dynamic_batch
    segmenter = OnnxSegmenter(BUNDLED_DEFAULT, store.ModelMetadata(input_size=size, dynamic_batch=True), threads=1)
    logits = segmenter.logits(np.zeros((3, 3, size, size), np.float32))
    assert logits.shape == (3, 1, size, size) and logits.dtype == np.float32


def test_bundled_model_beats_the_white_distance_baseline_on_new_scenes() -> None:
    size = json.loads(TRAINING_RECORD.read_text())["input_size"]
    segmenter = OnnxSegmenter(BUNDLED_DEFAULT, store.ModelMetadata(input_size=size, dynamic_batch=True), threads=1)
    scenes = [make_scene(FRESH_SEED + i, 320) for i in range(16)]
    masks = segmenter.predict([scene.image for scene in scenes])
    model = np.mean([iou(mask, scene.alpha) for mask, scene in zip(masks, scenes)])
    baseline = np.mean([iou(baseline_predictor(scene.image), scene.alpha) for scene in scenes])
    assert model >= 0.85 and model > baseline, (model, baseline)


def test_ensure_registers_and_serves_the_bundled_default_on_an_empty_store(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(BIN / "cutout"), "models", "ensure"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("(bundled default model)")
    current = json.loads(subprocess.run([str(BIN / "cutout"), "models", "current"], env=env, capture_output=True,
                                        text=True, timeout=120, check=True).stdout)
    assert current["tag"] == done.stdout.split()[1]
    assert current["metadata"]["variant"] == "studio-default" and current["metadata"]["dynamic_batch"]
    assert current["metadata"]["input_size"] == json.loads(TRAINING_RECORD.read_text())["input_size"]
