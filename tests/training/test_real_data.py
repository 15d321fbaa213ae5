"""Training data from real images: sources read from their repositories at the recorded commit, evaluation sources
refused, the teacher's pseudo-labels, studio composites of real cut-outs, one merged dataset split by product."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper
from scipy.io import savemat

from postprocess.metrics import iou
from tests.tiny_model import product_photo
from training.composites import (cutout_sources, room_composite, studio_composite, subjectless_photos,
                                 write_composites)
from training.dataset import DatasetIndex, Item, merge_indexes, read_index, split, write_index
from training.images import load_image, load_mask, save_mask, save_rgb
from training.real_sources import RealSource, SourceError, extract_source, load_manifest, manifest
from training.teacher import TEACHER_SIZE, Teacher, keep_clear_subjects, label_missing

REALPHOTOS_SOURCES = Path(__file__).resolve().parents[3] / "shared" / "realphotos" / "SOURCES.tsv"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository shaped like CCP: two photos with MATLAB label maps; a later commit changes a photo."""
    root = tmp_path / "repo"
    (root / "photos").mkdir(parents=True)
    (root / "annotations" / "pixel-level").mkdir(parents=True)
    git(root, "init", "-q")
    for number, box in ((1, (10, 20, 40, 60)), (2, (30, 10, 70, 40))):
        cv2.imwrite(str(root / "photos" / f"{number:04d}.jpg"), product_photo(80, 90, box=box)[..., ::-1])
        labels = np.zeros((90, 80), np.uint8)
        x0, y0, x1, y1 = box
        labels[y0:y1, x0:x1] = 3 + number
        savemat(root / "annotations" / "pixel-level" / f"{number:04d}.mat", {"groundtruth": labels})
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    first = git(root, "rev-parse", "HEAD")
    cv2.imwrite(str(root / "photos" / "0001.jpg"), np.zeros((90, 80, 3), np.uint8))
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "later")
    return root, first


def ccp_like(commit: str, **changes: object) -> RealSource:
    fields = {"repo": "someone/ccp-like", "commit": commit, "images": "photos/{id}.jpg", "masks": "ccp-mat",
              "mask_path": "annotations/pixel-level/{id}.mat", "ids": "0001-0002", "category": "real-person",
              "licence": "MIT", "licence_evidence": "LICENSE", "what": "two photos"}
    return RealSource.model_validate({**fields, **changes})


def test_a_source_is_read_at_its_commit_with_its_human_masks(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, first = repo
    index = extract_source("ccp", ccp_like(first), root, tmp_path / "out")
    assert [item.id for item in index.items] == ["ccp-0001", "ccp-0002"]
    assert index.items[0].category == "real-person" and read_index(tmp_path / "out").source["ccp"]["commit"] == first
    image = load_image(tmp_path / "out" / index.items[0].image).rgb
    assert image.mean() > 100, "the photo of the recorded commit, not the later black one"
    truth = np.zeros((90, 80), np.float32)
    truth[20:60, 10:40] = 1.0
    assert np.array_equal(load_mask(tmp_path / "out" / index.items[0].mask), truth), "every labelled pixel"


def test_a_missing_commit_or_file_is_a_clear_error(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = repo
    with pytest.raises(SourceError, match="git cat-file"):
        extract_source("ccp", ccp_like("0" * 40), root, tmp_path / "a")
    with pytest.raises(SourceError, match="git show"):
        extract_source("ccp", ccp_like(git(root, "rev-parse", "HEAD"), ids="0001-0003"), root, tmp_path / "b")


def test_teacher_sources_take_a_fixed_hash_chosen_subset_without_masks(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, first = repo
    source = ccp_like(first, images="photos/*.jpg", masks="teacher", mask_path=None, ids=None, limit=1)
    chosen = [extract_source("t", source, root, tmp_path / name).items for name in ("a", "b")]
    assert len(chosen[0]) == 1 and chosen[0] == chosen[1], "the same photo every time"
    assert not (tmp_path / "a" / chosen[0][0].mask).exists(), "the teacher writes it later"


def test_evaluation_sources_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    body = ccp_like("a" * 40).model_dump()
    for repo_name in ("opencart/opencart", "someone/ECSSD-mirror", "danielgatis/rembg"):
        path.write_text(yaml.safe_dump({"bad": {**body, "repo": repo_name}}))
        with pytest.raises(SourceError, match="kept for evaluation"):
            load_manifest(path)


def test_the_manifest_names_no_evaluation_source() -> None:
    repos = {source.repo.lower() for source in manifest().values()}
    assert repos and all(source.licence and source.licence_evidence for source in manifest().values())
    if REALPHOTOS_SOURCES.is_file():
        with open(REALPHOTOS_SOURCES, newline="") as handle:
            evaluation = {row["repo"].lower() for row in csv.DictReader(handle, delimiter="\t") if row["repo"] != "-"}
        assert evaluation and not repos & evaluation


def tiny_teacher(path: Path) -> Path:
    """An ONNX with IS-Net's contract (input 'input' 1x3x1024x1024 normalised (v-128)/256, output 'output' a
    probability) that calls dark pixels foreground."""
    weight = numpy_helper.from_array(np.full((1, 3, 1, 1), -20.0, np.float32), "w")
    bias = numpy_helper.from_array(np.array([0.0], np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["z"]), helper.make_node("Sigmoid", ["z"], ["output"])],
        "tiny_isnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, TEACHER_SIZE, TEACHER_SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, TEACHER_SIZE, TEACHER_SIZE])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_the_teacher_labels_only_the_photos_without_a_mask(tmp_path: Path) -> None:
    root = tmp_path / "data"
    items = []
    for name in ("a", "b"):
        save_rgb(root / "images" / f"{name}.jpg", product_photo(120, 90, box=(30, 20, 90, 70)))
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", name))
    write_index(root, DatasetIndex(items))
    save_mask(root / "masks" / "b.png", np.zeros((90, 120), np.float32))
    assert label_missing(root, Teacher(tiny_teacher(tmp_path / "isnet.onnx"), threads=1)) == 1
    truth = np.zeros((90, 120), np.float32)
    truth[20:70, 30:90] = 1.0
    assert iou(load_mask(root / "masks" / "a.png"), truth) > 0.95
    assert not load_mask(root / "masks" / "b.png").any(), "an existing mask is kept"


def test_teacher_labels_without_a_clear_subject_are_not_taught(tmp_path: Path) -> None:
    root = tmp_path / "data"
    items = []
    for name, value in (("clear", 1.0), ("empty", 0.0), ("murky", 0.5)):
        save_rgb(root / "images" / f"{name}.jpg", product_photo(80, 80))
        mask = np.zeros((80, 80), np.float32)
        mask[20:60, 20:60] = value
        save_mask(root / "masks" / f"{name}.png", mask)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", name))
    write_index(root, DatasetIndex(items))
    assert keep_clear_subjects(root) == 1 and keep_clear_subjects(root) == 1
    index = read_index(root)
    assert [item.id for item in index.items] == ["clear"]
    assert [entry["id"] for entry in index.rejected] == ["empty", "murky"]
    assert index.rejected[0]["reason"] == "teacher mask undecided share 1.000"


def test_a_studio_composite_keeps_the_real_cutout_as_its_truth() -> None:
    rgb = np.zeros((100, 60, 3), np.uint8)
    rgb[..., 0] = 200
    alpha = np.zeros((100, 60), np.float32)
    alpha[10:90, 10:50] = 1.0
    image, truth = studio_composite(rgb, alpha, 256, np.random.default_rng(3))
    assert image.shape == (256, 256, 3) and truth.shape == (256, 256)
    inside, outside = truth > 0.99, truth < 0.01
    assert 0.1 < inside.mean() < 0.5, "scaled into the frame"
    assert image[outside].mean() > 150, "a light studio sweep around it"
    crops = [studio_composite(rgb, alpha, 128, np.random.default_rng(seed))[1] for seed in range(20)]
    assert any(crop[:, 0].max() > 0.5 or crop[:, -1].max() > 0.5 or crop[0].max() > 0.5 for crop in crops), \
        "some products fill the frame and are cut by it"
    coloured = image[inside].astype(int)
    assert (coloured[:, 0] - coloured[:, 2]).mean() > 20 or image[inside].mean() > 180, "the object or its white twin"


def test_a_room_composite_pastes_the_cutout_on_a_real_background() -> None:
    rgb = np.zeros((100, 60, 3), np.uint8)
    rgb[..., 2] = 220
    alpha = np.zeros((100, 60), np.float32)
    alpha[10:90, 10:50] = 1.0
    background = np.zeros((300, 400, 3), np.uint8)
    background[..., 1] = 180
    image, truth = room_composite(rgb, alpha, background, 256, np.random.default_rng(5))
    inside, outside = truth > 0.99, truth < 0.01
    assert 0.05 < inside.mean() < 0.6
    assert image[inside][:, 2].mean() > 180 and image[outside][:, 1].mean() > 140, "the object on the room's colours"


def test_composites_skip_doubtful_cutouts_and_stay_with_their_source_in_the_split(tmp_path: Path) -> None:
    data = tmp_path / "data"
    items = []
    for index in range(6):
        name = f"p{index}"
        save_rgb(data / "real" / "images" / f"{name}.jpg", product_photo(80, 80, box=(20, 20, 60, 60)))
        mask = np.zeros((80, 80), np.float32)
        mask[20:60, 20:60] = 1.0 if index else 0.5  # p0's mask is all doubt
        save_mask(data / "real" / "masks" / f"{name}.png", mask)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", name, "real"))
    write_index(data / "real", DatasetIndex(items))
    composites = write_composites(cutout_sources([data / "real"]), data / "composites", 12, 96)
    assert {item.product for item in composites.items} <= {f"p{index}" for index in range(1, 6)}
    write_index(data / "real", DatasetIndex(items[1:], rejected=[{"id": "p0", "reason": "no subject"}]))
    assert subjectless_photos(data / "real") == [data / "real" / "images" / "p0.jpg"]
    rooms = write_composites(cutout_sources([data / "real"]), data / "rooms", 6, 96, seed=1,
                             backgrounds=subjectless_photos(data / "real"))
    assert {item.category for item in rooms.items} == {"room-real"}
    merged = merge_indexes(data, ["real", "composites", "rooms"])
    assert len(merged.items) == 23 and merged.items[0].id == "real/p1" and (data / merged.items[-1].image).is_file()
    train, val = split(data, merged.items, 0.3)
    assert not {item.product for item in train} & {item.product for item in val}, "no photo on both sides"
