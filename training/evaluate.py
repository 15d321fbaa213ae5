"""Evaluate a run: its candidate (the exported ONNX, i.e. what would be served), the version it started from,
and a trivial white-distance baseline, on the same images at their stored resolution. IoU, Dice, boundary F
and MAE overall and per category, plus a contact sheet of the images where candidate and base differ most."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from postprocess import metrics
from runners import store
from runners.birefnet import check_onnx_parity, export_onnx
from runners.inference import OnnxSegmenter
from training import sheets
from training.dataset import Item, index_sha256, read_index
from training.finetune import BEST_WEIGHTS, best_model, read_run
from training.images import load_image, load_mask
from training.studio import object_mask

CANDIDATE, BASE, BASELINE = "candidate", "base", "white-distance baseline"
ONNX_NAME = "model.onnx"
EVALUATION = "evaluation.json"
SHEET_ROWS = 12

Predictor = Callable[[np.ndarray], np.ndarray]


class ExportError(RuntimeError):
    """An ONNX export that does not reproduce PyTorch."""


def candidate_metadata(run_dir: Path) -> store.ModelMetadata:
    """How to feed the run's exported model (the serving contract: dynamic batch, ImageNet normalisation)."""
    record = read_run(run_dir)
    return store.ModelMetadata(variant=record.architecture, input_size=record.size, dynamic_batch=True)


def export_candidate(run_dir: Path, target: Path | None = None, fp16: bool = False) -> tuple[Path, float]:
    """Export the run's best weights to ONNX (default RUN_DIR/model.onnx) and check it against PyTorch."""
    size = read_run(run_dir).size
    model = best_model(run_dir)
    path = export_onnx(model, target or run_dir / ONNX_NAME, size=size, fp16=fp16)
    parity = check_onnx_parity(model, path, size, batch=2)
    if problem := parity.mismatch(fp16):
        raise ExportError(f"the ONNX export does not compute what PyTorch computes: {problem}")
    return path, parity.max_abs_diff


def candidate_onnx(run_dir: Path) -> Path:
    """RUN_DIR/model.onnx, exported again when the best weights are newer."""
    path = run_dir / ONNX_NAME
    if not path.exists() or path.stat().st_mtime < (run_dir / BEST_WEIGHTS).stat().st_mtime:
        export_candidate(run_dir)
    return path


def onnx_predictor(path: Path, metadata: store.ModelMetadata, threads: int | None = None) -> Predictor:
    """Soft masks at image size from an ONNX model, exactly as the server computes them."""
    segmenter = OnnxSegmenter(path, metadata, threads)
    return lambda image: segmenter.predict([image])[0]


def store_predictor(tag: str, threads: int | None = None) -> Predictor:
    """The served computation of a stored version."""
    return onnx_predictor(store.file_of(tag), store.metadata_of(tag), threads)


def baseline_predictor(image: np.ndarray) -> np.ndarray:
    """Everything that stands out from the fitted studio backdrop (no learning)."""
    return object_mask(image).astype(np.float32)


def score_items(root: Path, items: list[Item], predictors: dict[str, Predictor]) -> list[dict]:
    """Per-image metrics of every predictor."""
    rows = []
    for item in tqdm(items, desc="evaluate", unit="img", leave=False):
        image, truth = load_image(root / item.image).rgb, load_mask(root / item.mask)
        row = {"id": item.id, "category": item.category}
        for name, predict in predictors.items():
            row[name] = metrics.scores(predict(image), truth)
        rows.append(row)
    return rows


def summarize(rows: list[dict], names: list[str]) -> dict:
    """Mean metrics per model, overall and per category."""
    categories = sorted({row["category"] for row in rows})

    def means(subset: list[dict], name: str) -> dict[str, float]:
        return {m: float(np.mean([row[name][m] for row in subset])) for m in metrics.SCORES} | {"n": len(subset)}

    return {name: {"overall": means(rows, name),
                   "by_category": {c: means([r for r in rows if r["category"] == c], name) for c in categories}}
            for name in names}


def markdown(summary: dict) -> str:
    """The summary as markdown tables: overall, then IoU per category."""
    names = list(summary)
    lines = ["| model | IoU | Dice | boundary F | MAE | n |", "|---|---|---|---|---|---|"]
    for name in names:
        o = summary[name]["overall"]
        lines.append(f"| {name} | {o['iou']:.4f} | {o['dice']:.4f} | {o['boundary_f']:.4f} | {o['mae']:.4f} | {o['n']} |")
    categories = list(summary[names[0]]["by_category"]) if names else []
    lines += ["", "| category | n | " + " | ".join(f"IoU {n}" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for c in categories:
        n = summary[names[0]]["by_category"][c]["n"]
        lines.append(f"| {c or '-'} | {n} | " + " | ".join(f"{summary[m]['by_category'][c]['iou']:.4f}" for m in names) + " |")
    return "\n".join(lines) + "\n"


def contact_sheet(root: Path, items: list[Item], rows: list[dict], predictors: dict[str, Predictor], first: str,
                  second: str) -> np.ndarray:
    """Image, truth and both models' masks for the images where the two models' IoU differ most."""
    order = sorted(range(len(rows)), key=lambda i: -abs(rows[i][first]["iou"] - rows[i][second]["iou"]))
    cells = []
    for i in order[:SHEET_ROWS]:
        image, truth = load_image(root / items[i].image).rgb, load_mask(root / items[i].mask)
        tiles = [sheets.thumbnail(image), sheets.thumbnail(truth)]
        tiles += [sheets.thumbnail(sheets.overlay(image, predictors[name](image))) for name in (first, second)]
        caption = (f"{items[i].id} [{items[i].category}] {first} {rows[i][first]['iou']:.3f} "
                   f"vs {second} {rows[i][second]['iou']:.3f}")
        cells.append(sheets.captioned(tiles, caption))
    return sheets.grid(cells, 1)


def evaluate_run(run_dir: Path, base: str | None = "auto", data: Path | None = None, threads: int | None = None,
                 out: Path | None = None) -> dict:
    """Score candidate, base (auto: the version the run started from, else the promoted one) and baseline on the
    run's validation split, or on every image of another dataset; write evaluation.json/.md and a contact sheet."""
    record = read_run(run_dir)
    out = out or run_dir
    out.mkdir(parents=True, exist_ok=True)
    base_tag = (record.base_tag or store.current_tag()) if base == "auto" else (store.normalize_tag(base) if base else None)
    predictors = {CANDIDATE: onnx_predictor(candidate_onnx(run_dir), candidate_metadata(run_dir), threads)}
    if base_tag:
        predictors[BASE] = store_predictor(base_tag, threads)
    predictors[BASELINE] = baseline_predictor
    root = Path(record.dataset) if data is None else data
    by_id = {item.id: item for item in read_index(root).items}
    items = [by_id[i] for i in record.val_ids] if data is None else list(by_id.values())
    rows = score_items(root, items, predictors)
    summary = summarize(rows, list(predictors))
    report = {"run": str(run_dir.resolve()), "dataset": str(root.resolve()), "data_sha256": index_sha256(root),
              "split": "validation" if data is None else "all", "base_tag": base_tag, "summary": summary, "rows": rows}
    (out / EVALUATION).write_text(json.dumps(report, indent=2))
    (out / "evaluation.md").write_text(markdown(summary))
    other = BASE if base_tag else BASELINE
    sheet = contact_sheet(root, items, rows, predictors, CANDIDATE, other)
    cv2.imwrite(str(out / "contact_sheet.jpg"), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return report


def read_evaluation(run_dir: Path) -> dict | None:
    """The run's last evaluation.json, if any."""
    path = run_dir / EVALUATION
    return json.loads(path.read_text()) if path.is_file() else None
