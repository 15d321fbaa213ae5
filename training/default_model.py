"""The bundled default model: a small BiRefNet trained from scratch on generated studio scenes with the same
finetune/evaluate/export code as any other model, then written to runners/default_model/."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from runners import sources
from runners.convert import WEIGHTS_FILE
from training.augment import AugmentConfig
from training.dataset import INDEX_FILE
from training.evaluate import ONNX_NAME, evaluate_run, export_candidate
from training.finetune import RUN_FILE, FinetuneConfig, RunRecord, best_model, read_run, start_run, train
from training.models import load_start, save_weights
from training.scene_dataset import write_scene_dataset

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "runners" / "default_model"
TRAIN_SEED = 0
HELDOUT_SEED = 1
MAX_BYTES = 20_000_000


class DefaultModelPlan(BaseModel):
    """Everything that decides the default model (recorded next to it)."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = "pvt_v2_b0@256/w4"
    train_scenes: int = 2400
    heldout_scenes: int = 300
    scene_size: int = 320
    epochs: int = 3
    batch_size: int = 4
    lr: float = 1e-3
    minutes: float = 40.0
    threads: int | None = None
    zoom: tuple[float, float] = (0.7, 1.2)


def trained_run(work: Path, plan: DefaultModelPlan) -> RunRecord:
    """Generate the scenes and train (or resume) the run in work/run; a finished run is left as it is."""
    scenes, heldout, run = work / "scenes", work / "heldout", work / "run"
    if not (scenes / INDEX_FILE).is_file():
        write_scene_dataset(scenes, plan.train_scenes, plan.scene_size, TRAIN_SEED)
    if not (heldout / INDEX_FILE).is_file():
        write_scene_dataset(heldout, plan.heldout_scenes, plan.scene_size, HELDOUT_SEED)
    if not (run / RUN_FILE).is_file():
        config = FinetuneConfig(epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr, patience=plan.epochs,
                                max_minutes=plan.minutes, threads=plan.threads, val_fraction=0.1,
                                augment=AugmentConfig(zoom=plan.zoom))
        start_run(scenes, run, load_start(None, plan.architecture), config)
    record = read_run(run)
    return train(run, resume=True) if record.status == "running" else record


def build_default_model(work: Path, plan: DefaultModelPlan, out: Path = BUNDLE_DIR) -> dict:
    """Train (or reuse) the run, score it and the white-distance baseline on held-out scenes, write the ONNX
    (fp16 when fp32 would exceed MAX_BYTES), half-precision weights to fine-tune from, and training.json into
    out; returns the recorded summary."""
    record = trained_run(work, plan)
    run = work / "run"
    report = evaluate_run(run, base=None, data=work / "heldout", out=work / "heldout-eval")
    target = out / ONNX_NAME
    _, difference = export_candidate(run, target)
    fp16 = target.stat().st_size > MAX_BYTES
    if fp16:
        _, difference = export_candidate(run, target, fp16=True)
    model = best_model(run)
    save_weights(model, out / WEIGHTS_FILE, half=True)
    summary = {
        "architecture": record.architecture,
        "input_size": record.size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx_bytes": target.stat().st_size,
        "fp16": fp16,
        "export_max_abs_diff": difference,
        "sha256": sources.sha256_of(target),
        "training": {"status": record.status, "minutes": round(record.seconds / 60, 1), "best_epoch": record.best_epoch,
                     "best_val_iou": record.best_val_iou, "history": record.history},
        "heldout": {name: result["overall"] for name, result in report["summary"].items()},
        "heldout_by_category": {name: {c: v["iou"] for c, v in result["by_category"].items()}
                                for name, result in report["summary"].items()},
        "plan": plan.model_dump(mode="json"),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary
