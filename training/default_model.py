"""The bundled default model: a small BiRefNet trained on generated studio scenes, real photographs (human masks,
or the training-time teacher's) and real cut-outs on generated studio sweeps, with the same finetune/evaluate/export
code as any other model, then written to runners/default_model/. It continues from the bundled weights, so training
resumes across machines from what was last committed."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict

from runners import sources
from runners.checkpoints import WEIGHTS_FILE
from training.augment import AugmentConfig
from training.composites import cutout_sources, subjectless_photos, write_composites
from training.dataset import INDEX_FILE, merge_indexes, read_index
from training.evaluate import ONNX_NAME, evaluate_run, export_candidate
from training.finetune import RUN_FILE, FinetuneConfig, RunRecord, best_model, read_run, start_run, train
from training.models import load_start, save_weights
from training.real_sources import extract_source, manifest
from training.scene_dataset import write_scene_dataset
from training.teacher import Teacher, keep_clear_subjects, label_missing

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "runners" / "default_model"
TRAIN_SEED = 0
HELDOUT_SEED = 1
MAX_BYTES = 20_000_000


class DefaultModelPlan(BaseModel):
    """Everything that decides the default model (recorded next to it)."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = "pvt_v2_b0@384/w4"
    start: Literal["bundled", "scratch"] = "bundled"
    train_scenes: int = 1500
    heldout_scenes: int = 300
    heldout_size: int = 320  # the held-out test of every bundled model so far: 300 scenes of 320 px, seed 1
    scene_size: int = 384
    real_sources: tuple[str, ...] = ("ccp", "grocery", "grocery-iconic", "magento", "abo-samples")
    composites: int = 2000
    room_composites: int = 1200
    composite_size: int = 384
    epochs: int = 1  # each session continues from the bundled weights: session 3 of 2026-12-08 ran one
    batch_size: int = 4
    lr: float = 3e-4
    minutes: float = 150.0
    threads: int | None = None
    zoom: tuple[float, float] = (0.7, 1.6)  # zooming in lets products fill the frame and touch its edges


def prepare_data(data: Path, plan: DefaultModelPlan, mirrors: dict[str, Path], teacher: Path | None) -> None:
    """The training set in DATA: generated scenes, each real source (read from its repository copy in MIRRORS, masks
    from the teacher where it has none) and studio composites of their cut-outs, merged into one dataset folder.
    Parts already made are kept."""
    if not (data / "scenes" / INDEX_FILE).is_file():
        write_scene_dataset(data / "scenes", plan.train_scenes, plan.scene_size, TRAIN_SEED)
    for name in plan.real_sources:
        if not (data / name / INDEX_FILE).is_file():
            if name not in mirrors:
                raise ValueError(f"source {name} needs a copy of {manifest()[name].repo}: pass --mirror {name}=PATH")
            extract_source(name, manifest()[name], mirrors[name], data / name)
        if manifest()[name].masks == "teacher":
            if any(not (data / name / item.mask).is_file() for item in read_index(data / name).items):
                if teacher is None:
                    raise ValueError(f"source {name} has no human masks: pass --teacher ISNET.onnx (see the model "
                                     "card)")
                label_missing(data / name, Teacher(teacher, plan.threads))
            keep_clear_subjects(data / name)
    cut_from = [data / name for name in plan.real_sources]
    studio = not (data / "composites" / INDEX_FILE).is_file()
    rooms = plan.room_composites > 0 and not (data / "rooms" / INDEX_FILE).is_file()
    sources = cutout_sources(cut_from) if studio or rooms else []
    if studio:
        write_composites(sources, data / "composites", plan.composites, plan.composite_size)
    if rooms:
        backgrounds = [photo for root in cut_from for photo in subjectless_photos(root)]
        write_composites(sources, data / "rooms", plan.room_composites, plan.composite_size, seed=1,
                         backgrounds=backgrounds)
    if not (data / INDEX_FILE).is_file():
        merge_indexes(data, ["scenes", *plan.real_sources, "composites", *(["rooms"] if plan.room_composites else [])])


def trained_run(work: Path, plan: DefaultModelPlan, mirrors: dict[str, Path] | None = None,
                teacher: Path | None = None) -> RunRecord:
    """Prepare the data and train (or resume) the run in work/run; a finished run is left as it is."""
    data, heldout, run = work / "data", work / "heldout", work / "run"
    prepare_data(data, plan, mirrors or {}, teacher)
    if not (heldout / INDEX_FILE).is_file():
        write_scene_dataset(heldout, plan.heldout_scenes, plan.heldout_size, HELDOUT_SEED)
    if not (run / RUN_FILE).is_file():
        config = FinetuneConfig(epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr, patience=plan.epochs,
                                max_minutes=plan.minutes, threads=plan.threads, val_fraction=0.1,
                                augment=AugmentConfig(zoom=plan.zoom))
        bundled = BUNDLE_DIR / WEIGHTS_FILE
        source = str(bundled) if plan.start == "bundled" and bundled.is_file() else None
        start_run(data, run, load_start(source, plan.architecture), config)
    record = read_run(run)
    return train(run, resume=True) if record.status == "running" else record


def cpu_name() -> str:
    """The processor's model name (where training time was spent)."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def session_record(record: RunRecord, plan: DefaultModelPlan) -> dict:
    """One training session for training.json's history: when, where, how long, on what."""
    return {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "threads": plan.threads,
            "architecture": record.architecture, "minutes": round(record.seconds / 60, 1),
            "steps": record.history[-1]["step"] if record.history else 0, "data_sha256": record.data_sha256,
            "status": record.status, "best_val_iou": record.best_val_iou, "history": record.history}


def earlier_sessions(path: Path) -> list[dict]:
    """The training sessions recorded in a bundled training.json (a record from before sessions were kept counts
    as one session, with what it recorded)."""
    if not path.is_file():
        return []
    recorded = json.loads(path.read_text())
    if "sessions" in recorded:
        return recorded["sessions"]
    training = recorded.get("training", {})
    history = training.get("history", [])
    return [{"date": None, "cpu": None, "threads": None, "architecture": recorded.get("architecture"),
             "minutes": training.get("minutes"), "steps": history[-1]["step"] if history else None,
             "data_sha256": None, "data": "generated studio scenes", "status": training.get("status"),
             "best_val_iou": training.get("best_val_iou"), "history": history}]


def build_default_model(work: Path, plan: DefaultModelPlan, out: Path = BUNDLE_DIR,
                        mirrors: dict[str, Path] | None = None, teacher: Path | None = None) -> dict:
    """Train (or reuse) the run, score it and the white-distance baseline on held-out scenes, write the ONNX
    (fp16 when fp32 would exceed MAX_BYTES), half-precision weights to fine-tune from, and training.json (with
    every earlier session's record) into out; returns the recorded summary."""
    earlier = earlier_sessions(out / "training.json")
    record = trained_run(work, plan, mirrors, teacher)
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
        "sessions": [*earlier, session_record(record, plan)],
        "heldout": {name: result["overall"] for name, result in report["summary"].items()},
        "heldout_by_category": {name: {c: v["iou"] for c, v in result["by_category"].items()}
                                for name, result in report["summary"].items()},
        "plan": plan.model_dump(mode="json"),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary
