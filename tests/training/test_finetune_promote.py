"""Fine-tune a tiny BiRefNet from a stored version, evaluate it, register it, promote only what is better,
and roll back to the parent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from runners import store
from runners.birefnet import BiRefNet
from runners.checkpoints import WEIGHTS_FILE
from training.dataset import SegmentationDataset, read_index
from training.evaluate import BASE, CANDIDATE, evaluate_run, store_predictor
from training.finetune import FinetuneConfig, best_model, read_run, start_run, train, write_run
from training.losses import LossWeights, pixel_loss
from training.models import load_start, parse_spec
from training.promote import promote_run, register_model
from training.scene_dataset import write_scene_dataset
from scenes.synthetic import make_scene

SPEC = "pvt_v2_b0@64/w4/d1"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    write_scene_dataset(root, 28, 96, seed=5)
    return root


def untrained_base(workdir: Path) -> str:
    """A stored version with freshly initialised weights, as the version to improve on."""
    torch.manual_seed(0)
    architecture = parse_spec(SPEC)
    return register_model(BiRefNet(architecture.config()).eval(), architecture, workdir, source="test:untrained",
                          parent=None, metrics={}, labels={"origin": "test"})


def fixed_batch_loss(model: torch.nn.Module, root: Path) -> float:
    """Pixel loss of the final output on the first eight images, in eval mode."""
    items = read_index(root).items[:8]
    data = SegmentationDataset(root, items, 64)
    images = torch.stack([data[i][0] for i in range(len(items))])
    masks = torch.stack([data[i][1] for i in range(len(items))])
    model.eval()
    with torch.inference_mode():
        return float(sum(pixel_loss(model(images), masks, LossWeights()).values()))


def test_finetune_evaluate_promote_refuse_and_rollback(model_home: Path, scenes: Path, tmp_path: Path) -> None:
    base = untrained_base(tmp_path)
    store.promote(base)

    start = load_start(None, None)
    assert start.tag == base and start.architecture.spec == "pvt_v2_b0@64/w4/d1"
    before = fixed_batch_loss(start.model, scenes)
    run = tmp_path / "run"
    start_run(scenes, run, start, FinetuneConfig(epochs=6, batch_size=4, lr=2e-3, threads=1, val_fraction=0.2))
    record = train(run)
    assert record.status == "completed" and len(record.history) == 6
    assert fixed_batch_loss(best_model(run), scenes) < 0.9 * before, "training lowers the loss"
    assert not set(record.train_ids) & set(record.val_ids)

    report = evaluate_run(run)
    assert report["base_tag"] == base and report["split"] == "validation"
    candidate_iou = report["summary"][CANDIDATE]["overall"]["iou"]
    base_iou = report["summary"][BASE]["overall"]["iou"]
    assert candidate_iou > base_iou + 0.05 and candidate_iou > 0.3, (candidate_iou, base_iou)
    assert (run / "contact_sheet.jpg").is_file() and (run / "evaluation.md").is_file()

    result = promote_run(run, margin=0.005)
    assert result.promoted and store.current_tag() == result.tag
    metadata = store.metadata_of(result.tag)
    assert metadata.parent == base and metadata.variant == SPEC and metadata.input_size == 64
    assert metadata.metrics["val_iou"] == pytest.approx(candidate_iou)
    assert metadata.metrics["base_val_iou"] == pytest.approx(base_iou)
    assert store.file_of(result.tag, WEIGHTS_FILE).stat().st_size > 0
    assert store.versions()[-1].info.labels["data_sha256"] == record.data_sha256
    mask = store_predictor(result.tag, threads=1)(make_scene(99, 96).image)
    assert mask.shape == (96, 96) and np.isfinite(mask).all()

    worse = tmp_path / "worse"
    start_run(scenes, worse, load_start(base, None), FinetuneConfig(epochs=1, max_steps=1, lr=1e-7, batch_size=4,
                                                                     threads=1, val_fraction=0.2))
    train(worse)
    refused = promote_run(worse, margin=0.005)
    assert not refused.promoted and refused.current_tag == result.tag
    assert refused.current_iou == pytest.approx(candidate_iou)
    assert store.current_tag() == result.tag, "a worse model is registered but not served"
    assert store.metadata_of(refused.tag).metrics["val_iou"] < candidate_iou
    assert read_run(worse).status == "step-limit"

    assert store.rollback() == base, "rollback returns to the parent"


def test_a_run_stopped_by_its_time_limit_resumes_to_the_end(model_home: Path, scenes: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    start_run(scenes, run, load_start(None, SPEC),
              FinetuneConfig(epochs=3, batch_size=4, threads=1, val_fraction=0.2, max_minutes=1e-4))
    stopped = train(run)
    assert stopped.status == "time-limit" and len(stopped.history) == 1
    long_ago = read_run(run)
    long_ago.seconds = 10_000.0  # earlier sessions ran for hours: the limit is per session, not per run
    write_run(run, long_ago)
    record = train(run, resume=True, max_minutes=10)
    assert record.status == "completed", "the limit counts from the resumed session"
    assert [row["epoch"] for row in record.history] == [1, 2, 3]
    assert record.seconds > 10_000 and record.config.max_minutes == 10
