"""`cutout eval` on a tiny set with known truth: exact scores, every photo on the contact sheet, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.server import BIN, cutout_cli, start_server, tiny_model_home
from tests.tiny_model import product_photo
from training import photo_eval, sheets
from training.images import load_mask
from training.photo_eval import find_photos
from training.scene_dataset import rendered_scenes, write_scene_photos

SIZE = 64
BOX = (16, 16, 48, 48)  # the product the tiny model cuts out exactly: 32 x 32 = 1024 pixels


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval-store")
    return tiny_model_home(root, SIZE)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Three studio photos: one whose truth is the product (IoU 1), one whose truth is its top half (IoU 1/2),
    one without truth; kinds from SOURCES.tsv."""
    folder = tmp_path / "photos"
    (folder / "gt").mkdir(parents=True)
    for name in ("exact.png", "half.png", "unmasked.png"):
        Image.fromarray(product_photo(SIZE, SIZE, box=BOX)).save(folder / name)
    truth = np.zeros((SIZE, SIZE), np.uint8)
    truth[16:48, 16:48] = 255
    cv2.imwrite(str(folder / "gt" / "exact.png"), truth)
    truth[32:48] = 0
    cv2.imwrite(str(folder / "gt" / "half.png"), truth)
    (folder / "SOURCES.tsv").write_text("file\tkind\nexact.png\tstudio\nhalf.png\tstudio\nunmasked.png\tother\n")
    return folder


def test_eval_gives_exact_scores_and_shows_every_photo(home: Path, photos: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(home)}
    out = tmp_path / "out"
    printed = cutout_cli("eval", str(photos), "--out", str(out), "--mask", "raw", env=env)
    report = json.loads((out / photo_eval.REPORT_JSON).read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"exact.png", "half.png", "unmasked.png"}, "the truth folder is not a photo"
    assert rows["exact.png"]["scores"] == {"iou": 1.0, "dice": 1.0, "boundary_f": 1.0, "mae": 0.0}
    half = rows["half.png"]["scores"]
    assert half["iou"] == 0.5 and half["dice"] == pytest.approx(2 / 3) and half["mae"] == 512 / SIZE**2
    assert "scores" not in rows["unmasked.png"] and rows["unmasked.png"]["kind"] == "other"
    summary = report["summary"]
    assert summary["with_truth"] == 2 and summary["overall"]["iou"] == 0.75
    assert summary["by_kind"] == {"studio": summary["overall"]}
    assert summary["below_review_iou"] == 1 and summary["confidence_auc"] is not None
    assert "| **overall** | 0.750 |" in printed and "| half.png | studio |" in (out / photo_eval.REPORT_MD).read_text()
    sheet = cv2.imread(str(out / photo_eval.SHEET))
    assert sheet.shape[:2] == (2 * (sheets.TILE + sheets.CAPTION), 2 * 3 * sheets.TILE), "3 photos, 2 per row"


def test_eval_through_a_running_service_gives_the_same_scores(home: Path, photos: Path, tmp_path: Path) -> None:
    server = start_server(home, tmp_path / "server.log")
    try:
        served = photo_eval.evaluate_photos(photo_eval.find_photos(photos),
                                            photo_eval.server_cutter(server.url, None, "raw"), tmp_path / "served")
    finally:
        server.stop()
    assert served["summary"]["overall"]["iou"] == 0.75 and served["models"][0].startswith("birefnet:")


def test_a_broken_photo_is_recorded_and_bad_arguments_exit_2(home: Path, photos: Path, tmp_path: Path) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    env = {**os.environ, "BENTOML_HOME": str(home)}
    cutout_cli("eval", str(photos), "--out", str(tmp_path / "out"), env=env)
    rows = {row["name"]: row for row in json.loads((tmp_path / "out" / photo_eval.REPORT_JSON).read_text())["rows"]}
    assert "error" in rows["broken.jpg"] and rows["exact.png"]["scores"]["iou"] > 0.9
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["eval", str(empty)], ["eval", str(photos), "--server", "http://x", "--model", "birefnet:x"],
                 ["eval", str(photos), "--server", "http://127.0.0.1:9"]):
        done = subprocess.run([str(BIN / "cutout"), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)


def test_generated_scenes_make_an_eval_folder_with_kinds_and_exact_truth(tmp_path: Path) -> None:
    write_scene_photos(tmp_path / "scenes", 3, 64, seed=5)
    photos = find_photos(tmp_path / "scenes")
    assert [photo.name for photo in photos] == ["s5-00000.jpg", "s5-00001.jpg", "s5-00002.jpg"]
    for photo, (_, _, scene) in zip(photos, rendered_scenes(3, 64, 5)):
        assert photo.kind == f"generated {scene.kind}"
        assert np.abs(load_mask(photo.truth) - scene.alpha).max() <= 1 / 255 + 1e-6


def test_the_summary_counts_what_the_calibrated_cut_sends_to_review() -> None:
    rows = [{"name": name, "kind": "studio", "confidence": confidence, "scores": {"iou": iou, "dice": iou,
                                                                              "boundary_f": iou, "mae": 0.0}}
            for name, confidence, iou in (("bad-doubted", 0.2, 0.5), ("bad-trusted", 0.7, 0.6),
                                          ("good-trusted", 0.8, 0.95), ("good-doubted", 0.3, 0.97))]
    summary = photo_eval.summarize(rows)
    assert summary["below_review_iou"] == 2 and summary["sent_to_review"] == {"bad": 1, "good": 1}
    assert summary["best_cut"] == 0.2, "flags half the bad and none of the good; 0.7 does as well, but later"
    assert "sends 1 of them to review, and 1 of the 2 others. The best cut between them is at confidence 0.200." \
        in photo_eval.markdown(summary, rows)
