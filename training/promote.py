"""Register a trained run as a new store version (ONNX + weights, parent, data hash, validation metrics) and
serve it only when it beats the served version on validation IoU by a margin. Promotion pushes the pointer
history, so `cutout models rollback` returns to the version that was served before (normally the parent)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from runners import sources, store
from runners.birefnet import check_onnx_parity, export_onnx
from runners.checkpoints import WEIGHTS_FILE
from training.dataset import read_index
from training.evaluate import (BASE, CANDIDATE, ONNX_NAME, candidate_onnx, evaluate_run, read_evaluation,
                               score_items, store_predictor)
from training.finetune import best_model, read_run
from training.models import Architecture, save_weights

PROMOTION = "promotion.json"


@dataclass(frozen=True)
class Promotion:
    """What promote did and why."""

    tag: str
    promoted: bool
    reason: str
    candidate_iou: float
    current_tag: str | None
    current_iou: float | None
    margin: float


def _current_iou(run_dir: Path, evaluation: dict, current: str, threads: int | None) -> float:
    """The served version's validation IoU: from the evaluation when it was the base, else measured now."""
    if evaluation["base_tag"] == current:
        return evaluation["summary"][BASE]["overall"]["iou"]
    root = Path(evaluation["dataset"])
    by_id = {item.id: item for item in read_index(root).items}
    rows = score_items(root, [by_id[row["id"]] for row in evaluation["rows"]], {BASE: store_predictor(current, threads)})
    return sum(row[BASE]["iou"] for row in rows) / len(rows)


def _registered(run_dir: Path) -> str | None:
    """The tag this run was registered as before, if it is still in the store."""
    path = run_dir / PROMOTION
    if not path.is_file():
        return None
    try:
        return store.normalize_tag(json.loads(path.read_text())["tag"])
    except store.StoreError:
        return None


def register_model(model: torch.nn.Module, architecture: Architecture, workdir: Path, onnx_path: Path | None = None,
                   *, source: str, parent: str | None, metrics: dict[str, float], labels: dict[str, str]) -> str:
    """Store a PyTorch model as a servable version: its ONNX export (made and checked here unless given) plus
    weights.safetensors, so later runs can fine-tune from it."""
    if onnx_path is None:
        onnx_path = export_onnx(model, workdir / ONNX_NAME, size=architecture.size)
    metadata = store.ModelMetadata(
        variant=architecture.spec, input_size=architecture.size, dynamic_batch=True, source=source,
        sha256=sources.sha256_of(onnx_path), parent=parent, metrics=metrics,
        export_max_abs_diff=check_onnx_parity(model, onnx_path, architecture.size, batch=1).max_abs_diff,
        patch_order="new", patch_order_check={"decided_by": "trained here"},
    )
    files = {store.ONNX_FILE: onnx_path, WEIGHTS_FILE: save_weights(model, workdir / WEIGHTS_FILE)}
    return store.register(files, metadata, labels=labels)


def register_run(run_dir: Path, evaluation: dict) -> str:
    """Store the run's evaluated ONNX export and weights as a new version with lineage and validation metrics."""
    record = read_run(run_dir)
    overall = evaluation["summary"][CANDIDATE]["overall"]
    metrics = {f"val_{name}": value for name, value in overall.items() if name != "n"}
    if BASE in evaluation["summary"]:
        metrics["base_val_iou"] = evaluation["summary"][BASE]["overall"]["iou"]
    return register_model(best_model(run_dir), record.parsed, run_dir, candidate_onnx(run_dir),
                          source=f"finetune:{run_dir.resolve()}", parent=record.base_tag or store.current_tag(),
                          metrics=metrics, labels={"origin": "finetune", "data_sha256": record.data_sha256})


def promote_run(run_dir: Path, margin: float = 0.005, threads: int | None = None) -> Promotion:
    """Register the run (once) and promote it if its validation IoU beats the served version's by margin."""
    evaluation = read_evaluation(run_dir)
    if evaluation is None or evaluation["split"] != "validation":
        evaluation = evaluate_run(run_dir, threads=threads)
    tag = _registered(run_dir) or register_run(run_dir, evaluation)
    candidate_iou = evaluation["summary"][CANDIDATE]["overall"]["iou"]
    current = store.current_tag()
    if current is None:
        result = Promotion(tag, True, "nothing was served", candidate_iou, None, None, margin)
    elif current == tag:
        result = Promotion(tag, True, "already served", candidate_iou, current, candidate_iou, margin)
    else:
        current_iou = _current_iou(run_dir, evaluation, current, threads)
        better = candidate_iou >= current_iou + margin
        verdict = "beats" if better else "does not beat"
        reason = f"validation IoU {candidate_iou:.4f} {verdict} {current} ({current_iou:.4f}) by the margin {margin}"
        result = Promotion(tag, better, reason, candidate_iou, current, current_iou, margin)
    if result.promoted:
        store.promote(tag)
    (run_dir / PROMOTION).write_text(json.dumps(asdict(result), indent=2))
    return result
