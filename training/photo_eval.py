"""`cutout eval`: how well a model cuts out real photographs.

Every photo goes through the served pipeline (a running service's /remove-background, or the same code in this
process), so the numbers are what a client gets. Where a human mask exists (TRUTH/<name>.png) the cut-out's alpha is
scored (IoU, Dice, boundary F, MAE) per photo, per kind (the `kind` column of IMAGES/SOURCES.tsv) and overall, and
the confidence the service reported is checked against it (ROC AUC for telling cut-outs with IoU < 0.9 apart).
Every photo, masked or not, gets a contact-sheet row: photo | cut-out on a checkerboard | truth.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image
from tqdm import tqdm

from api.codecs import IMAGE_SUFFIXES
from api.errors import ApiError
from api.processor import CONFIDENCE_HEADER
from api.recipe import RAW_MASK, customised, load_preset
from postprocess.confidence import REVIEW_BELOW
from postprocess.metrics import SCORES, scores
from api.local import local_renderer
from training import sheets
from training.images import list_images
from training.images import load_mask

SOURCES = "SOURCES.tsv"
TRUTH_DIR = "gt"
NO_KIND = "photos"
REVIEW_IOU = 0.9  # the confidence should single out cut-outs below this IoU
REPORT_JSON, REPORT_MD, SHEET = "eval.json", "eval.md", "contact_sheet.jpg"


@dataclass(frozen=True)
class Photo:
    """One photo to evaluate: its name (path below IMAGES), kind and human mask, if any."""

    name: str
    path: Path
    kind: str
    truth: Path | None


@dataclass(frozen=True)
class Cutout:
    """What the service returned for a photo."""

    rgba: np.ndarray
    confidence: float | None
    model_tag: str


Cutter = Callable[[bytes], Cutout]


class EvalError(RuntimeError):
    """An evaluation that cannot run (no photos, an unreachable service), with a message for the operator."""


class PhotoFailed(RuntimeError):
    """One photo could not be cut out; recorded in its row, the evaluation goes on."""


def read_kinds(path: Path) -> dict[str, str]:
    """file name -> kind, from a SOURCES.tsv with `file` and `kind` columns (empty when there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["file"]: row.get("kind") or NO_KIND for row in csv.DictReader(handle, delimiter="\t")
                if row.get("file")}


def find_photos(images: Path, truth: Path | None = None) -> list[Photo]:
    """Every photo below IMAGES (the truth folder excluded), with its kind and mask (TRUTH, default IMAGES/gt)."""
    truth = truth if truth is not None else images / TRUTH_DIR
    kinds = read_kinds(images / SOURCES)
    masks = {path.stem: path for path in truth.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES} \
        if truth.is_dir() else {}
    photos = []
    for path in list_images(images):
        if truth in path.parents:
            continue
        name = str(path.relative_to(images))
        photos.append(Photo(name, path, kinds.get(path.name, NO_KIND), masks.get(path.stem)))
    if not photos:
        raise EvalError(f"no JPEG, PNG or WebP photos below {images}")
    return photos


def _rgba(body: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(body)) as image:
        return np.asarray(image.convert("RGBA"))


def server_cutter(url: str, api_key: str | None, mask: str) -> Cutter:
    """Cut out through a running service's POST /remove-background (mask 'refined' or 'raw')."""
    client = httpx.Client(base_url=url.rstrip("/"), headers={"x-api-key": api_key} if api_key else {}, timeout=600)

    def cut(data: bytes) -> Cutout:
        try:
            response = client.post("/remove-background", files={"image": ("photo", data)}, data={"mask": mask})
        except httpx.TransportError as exc:
            raise EvalError(f"the service at {url} cannot be reached: {exc}") from exc
        if response.status_code != 200:
            raise PhotoFailed(f"the service answered {response.status_code}: {response.text[:200]}")
        confidence = response.headers.get(CONFIDENCE_HEADER)
        return Cutout(_rgba(response.content), None if confidence is None else float(confidence),
                      response.headers.get("x-model-tag", ""))

    return cut


def local_cutter(model_tag: str | None, mask: str) -> Cutter:
    """Cut out in this process, with the code the service runs (the promoted version, or MODEL_TAG)."""
    render = local_renderer(model_tag)
    recipe = customised(load_preset("transparent"), **({"mask": RAW_MASK} if mask == "raw" else {}))

    def cut(data: bytes) -> Cutout:
        try:
            rendered = render(data, recipe)
        except ApiError as exc:
            raise PhotoFailed(f"{exc.status}: {exc.message}") from exc
        return Cutout(_rgba(rendered.body), rendered.confidence, rendered.model_tag)

    return cut


def roc_auc(positives: list[float], negatives: list[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half); None without both."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return float(wins / (len(positives) * len(negatives)))


def best_cut(bad: list[float], good: list[float]) -> float | None:
    """The confidence at or below which flagging best separates bad cut-outs from good ones (Youden's J: share of
    the bad flagged minus share of the good flagged; the lowest such confidence on a tie); None without both."""
    if not bad or not good:
        return None
    return max(sorted(set(bad + good)), key=lambda cut: (sum(value <= cut for value in bad) / len(bad)
                                                         - sum(value <= cut for value in good) / len(good), -cut))


def _means(rows: list[dict]) -> dict[str, float]:
    return {metric: float(np.mean([row["scores"][metric] for row in rows])) for metric in SCORES} | {"n": len(rows)}


def summarize(rows: list[dict]) -> dict:
    """Mean scores overall and per kind (photos with truth only), and how well the confidence flags bad cut-outs."""
    scored = [row for row in rows if row.get("scores")]
    kinds = sorted({row["kind"] for row in scored})
    flagged = [row for row in scored if row["confidence"] is not None]
    bad = [row["confidence"] for row in flagged if row["scores"]["iou"] < REVIEW_IOU]
    good = [row["confidence"] for row in flagged if row["scores"]["iou"] >= REVIEW_IOU]
    return {
        "photos": len(rows),
        "with_truth": len(scored),
        "overall": _means(scored) if scored else None,
        "by_kind": {kind: _means([row for row in scored if row["kind"] == kind]) for kind in kinds},
        "confidence_auc": roc_auc([-value for value in bad], [-value for value in good]),
        "below_review_iou": len(bad),
        "sent_to_review": {"bad": sum(value < REVIEW_BELOW for value in bad),
                           "good": sum(value < REVIEW_BELOW for value in good)},
        "best_cut": best_cut(bad, good),
    }


def markdown(summary: dict, rows: list[dict]) -> str:
    """The summary and the per-photo rows as markdown tables."""
    head = "| IoU | Dice | boundary F | MAE | n |"
    lines = []
    if summary["overall"] is not None:
        lines += ["| kind " + head, "|---|---|---|---|---|---|"]
        for kind, means in [("**overall**", summary["overall"]), *summary["by_kind"].items()]:
            lines.append(f"| {kind} | {means['iou']:.3f} | {means['dice']:.3f} | {means['boundary_f']:.3f} | "
                         f"{means['mae']:.4f} | {means['n']} |")
        auc, below, sent = summary["confidence_auc"], summary["below_review_iou"], summary["sent_to_review"]
        lines += ["", f"Confidence against IoU < {REVIEW_IOU}: ROC AUC "
                      f"{'n/a (needs cut-outs on both sides)' if auc is None else f'{auc:.3f}'} "
                      f"({below} of {summary['with_truth']} below). Confidence below {REVIEW_BELOW} sends "
                      f"{sent['bad']} of them to review, and {sent['good']} of the {summary['with_truth'] - below} "
                      "others." + ("" if summary["best_cut"] is None else
                                   f" The best cut between them is at confidence {summary['best_cut']:.3f}."), ""]
    lines += ["| photo | kind | confidence | IoU | boundary F |", "|---|---|---|---|---|"]
    for row in rows:
        found = row.get("scores") or {}
        confidence = "-" if row["confidence"] is None else f"{row['confidence']:.3f}"
        iou = f"{found['iou']:.3f}" if found else ("error" if row.get("error") else "-")
        boundary = f"{found['boundary_f']:.3f}" if found else "-"
        lines.append(f"| {row['name']} | {row['kind']} | {confidence} | {iou} | {boundary} |")
    return "\n".join(lines) + "\n"


def sheet_row(photo: Photo, rgb: np.ndarray | None, cutout: Cutout | None, truth: np.ndarray | None,
              row: dict) -> np.ndarray:
    """photo | cut-out on a checkerboard | truth (a grey tile for what is missing), captioned with the scores."""
    missing = sheets.thumbnail(np.full((8, 8), 0.38, np.float32))
    tiles = [sheets.thumbnail(rgb) if rgb is not None else missing,
             sheets.thumbnail(sheets.on_checkerboard(cutout.rgba)) if cutout is not None else missing,
             sheets.thumbnail(truth) if truth is not None else missing]
    parts = [photo.name, photo.kind]
    if row.get("scores"):
        parts.append(f"IoU {row['scores']['iou']:.3f}")
    if row["confidence"] is not None:
        parts.append(f"conf {row['confidence']:.2f}")
    if row.get("error"):
        parts.append(row["error"])
    return sheets.captioned(tiles, " | ".join(parts))


def evaluate_photos(photos: list[Photo], cut: Cutter, out: Path, columns: int = 2) -> dict:
    """Cut out every photo, score those with truth, write eval.json, eval.md and contact_sheet.jpg into OUT."""
    out.mkdir(parents=True, exist_ok=True)
    rows, cells, tags = [], [], set()
    for photo in tqdm(photos, desc="eval", unit="photo", dynamic_ncols=True):
        row: dict = {"name": photo.name, "kind": photo.kind, "truth": photo.truth is not None, "confidence": None}
        rgb = cutout = truth = None
        try:
            data = photo.path.read_bytes()
            rgb = _rgba(data)[..., :3]
            truth = load_mask(photo.truth) if photo.truth else None
            cutout = cut(data)
        except (PhotoFailed, OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
            row["error"] = str(exc)
        if cutout is not None:
            tags.add(cutout.model_tag)
            row["confidence"] = cutout.confidence
            if truth is not None:
                alpha = cutout.rgba[..., 3].astype(np.float32) / 255.0
                if truth.shape != alpha.shape:  # a mask saved at another resolution than the photo
                    truth = cv2.resize(truth, alpha.shape[::-1], interpolation=cv2.INTER_LINEAR)
                row["scores"] = scores(alpha, truth)
        rows.append(row)
        cells.append(sheet_row(photo, rgb, cutout, truth, row))
    summary = summarize(rows)
    report = {"models": sorted(tags), "summary": summary, "rows": rows}
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2))
    (out / REPORT_MD).write_text(markdown(summary, rows))
    cv2.imwrite(str(out / SHEET), sheets.grid(cells, columns)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    return report
