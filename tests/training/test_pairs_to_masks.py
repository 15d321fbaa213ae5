"""Generated originals and PhotoRoom-like processed versions (new canvas, scale, offset, shadow, branding bar,
drifted names): pairing finds the true pairs and reports the rest, prepare recovers the exact masks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from postprocess.metrics import iou
from tests.server import BIN
from training.dataset import read_index
from training.demo_pairs import read_truth, truth_alpha, write_demo_pairs
from scenes.synthetic import KINDS
from training.images import load_mask
from training.pairing import name_key, name_score

PAIRS = 8
SIZE = 640
SOLID = ("matte", "glossy", "dark", "metallic")


def cutout(*args: str) -> str:
    done = subprocess.run([str(BIN / "cutout"), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUTOUT_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def paired(root: Path, kinds: tuple[str, ...]) -> Path:
    """Generated pairs of the given kinds, paired with `cutout train pair`."""
    write_demo_pairs(root, PAIRS, SIZE, seed=3, extra=2, kinds=kinds)
    cutout("train", "pair", str(root / "originals"), str(root / "processed"), "--out", str(root / "manifest.json"))
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return paired(tmp_path_factory.mktemp("pairs"), KINDS)


def recovered_ious(root: Path) -> tuple[list[float], list[dict]]:
    """`cutout train prepare` on a paired folder: IoU of each written mask against the truth, and the rejects."""
    out = root / "dataset"
    cutout("train", "prepare", str(root / "manifest.json"), "--out", str(out))
    index = read_index(out)
    truth = {p.original: p for p in read_truth(root)}
    assert len(index.items) + len(index.rejected) == PAIRS
    assert all(r["reason"] for r in index.rejected) and list(out.glob("check_sheet_*.jpg"))
    scores = []
    for item in index.items:
        original = next(name for name in truth if name.endswith(f"/{item.id.split('_', 1)[1]}.jpg"))
        assert item.category == truth[original].kind and item.product
        scores.append(iou(load_mask(out / item.mask), truth_alpha(truth[original])))
    return scores, index.rejected


def test_drifted_names_match_and_different_skus_do_not() -> None:
    original = name_key(Path("Canon-EF2470-3.jpg"))
    assert name_score(original, name_key(Path("canon_ef2470_3_edit.jpg"))) == 1.0
    assert name_score(original, name_key(Path("CANON-EF2470-3-final.png"))) == 1.0
    assert name_score(original, name_key(Path("CanonEF24703_v2.jpg"))) == 1.0
    assert name_score(original, name_key(Path("canon-ef2470 (photoroom).jpg"))) == 0.95
    assert name_score(name_key(Path("canon-r5-body.jpg")), name_key(Path("canon-r6-body.jpg"))) < 0.75


def test_pairing_finds_every_true_pair_and_lists_the_rest(demo: Path) -> None:
    manifest = json.loads((demo / "manifest.json").read_text())
    truth = read_truth(demo)
    expected = {p.original: p.processed for p in truth if p.processed}
    found = {pair["original"]: pair["processed"] for pair in manifest["pairs"]}
    assert found == expected
    methods = {pair["processed"]: pair["method"] for pair in manifest["pairs"]}
    renamed = [name for name in expected.values() if name.startswith("export_")]
    assert renamed and all(methods[name] == "content" for name in renamed), "renamed files are matched by content"
    assert all(0.5 <= pair["confidence"] <= 1.0 for pair in manifest["pairs"])
    assert manifest["unmatched_originals"] == sorted(p.original for p in truth if not p.processed)
    all_processed = sorted(p.name for p in (demo / "processed").iterdir())
    assert manifest["unmatched_processed"] == sorted(set(all_processed) - set(expected.values()))
    assert len(manifest["unmatched_processed"]) == 2


def test_prepare_recovers_exact_masks_of_solid_products(tmp_path: Path) -> None:
    scores, rejected = recovered_ious(paired(tmp_path, SOLID))
    assert len(scores) >= PAIRS - 2, [r["reason"] for r in rejected]
    assert min(scores) >= 0.97 and sum(scores) / len(scores) >= 0.985, scores


def test_prepare_rejects_rather_than_writes_a_wrong_mask(demo: Path) -> None:
    scores, rejected = recovered_ious(demo)
    assert scores and rejected, "white-on-white, glass and thin products: some pass, the doubtful ones are rejected"
    # A thin product sits on the edge of the unexplained-structure check: OpenCV's optimised kernels return slightly
    # different floats from call to call on the same input, so its mask (IoU 0.96) is written in some runs only.
    assert min(scores) >= 0.95 and sorted(scores)[1] >= 0.97, scores
