"""Masks from photo pairs: align the processed catalogue image with its original, then read the object's alpha
in the original's frame.

Branding bars are cut away first. After alignment, processed pixels that copy the original are object and
canvas-coloured or clashing ones background; GrabCut settles the rest (added shadows that happen to match the
original's own). Within that support every pixel is P = a * O + (1 - a) * S, with O the original pixel and S
the processed background (canvas colour under any added shadow, filled in smoothly from around the object),
so the soft alpha a is a per-pixel least-squares solve where O stands out from S; elsewhere a weak contrast
would turn noise into alpha, and the support label (less its one-pixel overhang) stands. Pairs are rejected when
the outlines do not line up, the aligned interiors disagree, structure is left outside the mask, or the object
runs under the bar.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from postprocess.resample import resize
from training import sheets
from training.align import coarse_match, edge_agreement, refine, scale_of, to_original
from training.dataset import DatasetIndex, Item, write_index
from training.images import load_image, save_mask, save_rgb
from training.pairing import read_manifest
from training.studio import band_mask, branding_band, canvas_color, main_components, to_float

SHADOW_CHROMA = 0.04
SHADOW_SLOPE = 0.1
SHADOW_MIN = 0.02
SHADOW_FLOOR = 0.2
SEGMENT_MARGIN = 16
SEGMENT_ITERATIONS = 4
NEAR_SHARE = 0.1
UNEXPLAINED_LEVEL = 0.1
SHEET_PAGE = 24
SHEET_COLUMNS = 3


@dataclass(frozen=True)
class RecoveryConfig:
    """Thresholds of the mask recovery (colour distances are max-channel, in [0, 1])."""

    work_side: int = 1024
    object_level: float = 0.04
    agreement: float = 0.035
    clash: float = 0.15
    conditioning: float = 0.25
    max_error: float = 0.035
    min_match: float = 0.5
    min_correlation: float = 0.6
    max_unexplained: float = 0.01


@dataclass(frozen=True)
class Recovery:
    """The original at working size and, when accepted, its alpha; with the alignment and the verdict."""

    image: np.ndarray
    alpha: np.ndarray | None
    matrix: np.ndarray | None
    scale: float
    error: float
    accepted: bool
    reason: str


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Max-channel absolute difference of two float images."""
    return np.abs(a - b).max(axis=2)


def _disk(radius: int) -> np.ndarray:
    """Elliptic structuring element of the given radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every region it encloses filled."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (padded | (flood == 0))[1:-1, 1:-1].astype(bool)


def _smooth_fill(image: np.ndarray, known: np.ndarray, fallback: np.ndarray, keep: bool = True) -> np.ndarray:
    """Normalised-convolution fill of an image from its known pixels: fine near them, coarse further away;
    keep=False smooths the known pixels too."""
    weight = known.astype(np.float32)
    result = np.broadcast_to(fallback, image.shape).astype(np.float32)
    for sigma in (24.0, 8.0, 2.5):
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
        ok = den > 1e-3
        result = np.where(ok[..., None], num / np.maximum(den, 1e-6)[..., None], result)
    return np.where(known[..., None], image, result) if keep else result


def _unexplained(processed: np.ndarray, free: np.ndarray, differs: np.ndarray, support: np.ndarray,
                 color: np.ndarray) -> float:
    """Structure left outside the mask near the object (missed legs, straps, glass), as a share of its area.

    Everything outside the mask must be background: the canvas colour under smooth added shadows."""
    area = max(1, int(np.count_nonzero(support)))
    reach = cv2.dilate(support.astype(np.uint8), _disk(max(2, int(NEAR_SHARE * np.sqrt(area))))) > 0
    residual = _distance(processed, _smooth_fill(processed, free, color, keep=False))
    return np.count_nonzero((residual > UNEXPLAINED_LEVEL) & free & differs & reach) / area


def _reject(image: np.ndarray, reason: str, matrix: np.ndarray | None = None, error: float = 1.0) -> Recovery:
    """A refused recovery with its reason."""
    scale = scale_of(matrix) if matrix is not None else 0.0
    return Recovery(image, None, matrix, scale, error, False, reason)


def _solve_alpha(processed: np.ndarray, original: np.ndarray, fallback: np.ndarray, free: np.ndarray,
                 color: np.ndarray, config: RecoveryConfig) -> np.ndarray:
    """Least-squares a of P = a O + (1 - a) S where O differs from S by at least `conditioning` (max channel);
    elsewhere the fallback label stands."""
    background = _smooth_fill(processed, free, color)
    contrast = original - background
    energy = (contrast**2).sum(axis=2)
    alpha = ((processed - background) * contrast).sum(axis=2) / np.maximum(energy, 1e-6)
    conditioned = np.abs(contrast).max(axis=2) >= config.conditioning
    return np.clip(np.where(conditioned, alpha, fallback), 0.0, 1.0).astype(np.float32)


def _shadow_like(processed: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Pixels that could be an added shadow: a smooth, neutral darkening of the canvas colour."""
    ratio = processed / np.maximum(color, 1e-3)
    level = ratio.mean(axis=2)
    neutral = np.abs(ratio - level[..., None]).max(axis=2) < SHADOW_CHROMA
    slope = cv2.magnitude(cv2.Sobel(level, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(level, cv2.CV_32F, 0, 1, ksize=3)) / 8
    smooth = cv2.dilate(slope, _disk(1)) < SHADOW_SLOPE
    return neutral & smooth & (level < 1.0 - SHADOW_MIN) & (level > SHADOW_FLOOR)


def _segment(processed: np.ndarray, known: np.ndarray, differs: np.ndarray, agree: np.ndarray, near: np.ndarray,
             clash: np.ndarray, shadow_like: np.ndarray) -> np.ndarray:
    """Object support by GrabCut on the aligned processed image: pixels that copy the original are probably object,
    canvas-coloured or clashing ones surely background; colour models and edges settle shadows that happen to
    match the original's own shadow. Enclosed canvas-coloured parts that copy the original are object too
    (white-on-white); enclosed parts that do not are holes."""
    labels = np.full(known.shape, cv2.GC_PR_BGD, np.uint8)
    copied = differs & (agree | near)
    labels[copied] = cv2.GC_PR_FGD
    labels[differs & agree & ~shadow_like] = cv2.GC_FGD
    labels[~known | ~differs | clash] = cv2.GC_BGD
    rows, cols = np.flatnonzero(copied.any(axis=1)), np.flatnonzero(copied.any(axis=0))
    if not rows.size or np.count_nonzero(labels == cv2.GC_BGD) == 0:
        return copied
    margin = SEGMENT_MARGIN
    y0, y1 = max(0, rows[0] - margin), min(known.shape[0], rows[-1] + margin + 1)
    x0, x1 = max(0, cols[0] - margin), min(known.shape[1], cols[-1] + margin + 1)
    crop = np.ascontiguousarray(labels[y0:y1, x0:x1])
    image = np.clip(processed[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(image, crop, None, *models, SEGMENT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return copied
    support = np.zeros(known.shape, bool)
    support[y0:y1, x0:x1] = (crop == cv2.GC_FGD) | (crop == cv2.GC_PR_FGD)
    support = main_components(support)
    return support | (_fill_holes(support) & agree)


@dataclass(frozen=True)
class _Frame:
    """The processed image resampled into the original's frame, and how each pixel compares."""

    warped: np.ndarray
    source: np.ndarray
    known: np.ndarray
    mismatch: np.ndarray
    envelope: np.ndarray
    differs: np.ndarray


def _align(image: np.ndarray, processed: np.ndarray, candidates: np.ndarray,
           config: RecoveryConfig) -> tuple[np.ndarray, str | None]:
    """Coarse multi-scale match, ECC refinement and the check that the outlines line up."""
    matrix, match = coarse_match(image, processed, candidates)
    if match < config.min_match:
        return matrix, f"no alignment found (best match {match:.2f})"
    matrix = refine(image, processed, candidates, matrix)
    correlation = edge_agreement(image, processed, candidates, matrix)
    if correlation < config.min_correlation:
        return matrix, f"alignment did not converge (correlation {correlation:.2f})"
    return matrix, None


def _frame(image: np.ndarray, processed: np.ndarray, band: np.ndarray, matrix: np.ndarray, color: np.ndarray,
           config: RecoveryConfig) -> _Frame:
    """Resample the processed image (and its canvas and band) into the original's frame and compare."""
    shape = image.shape[:2]
    warped = to_float(to_original(processed, matrix, shape))
    inside = to_original(np.full(processed.shape[:2], 255, np.uint8), matrix, shape) == 255
    barred = to_original(band.astype(np.uint8) * 255, matrix, shape) > 0
    source = to_float(image)
    envelope = np.maximum(cv2.erode(source, _disk(1)) - warped, warped - cv2.dilate(source, _disk(1))).max(axis=2)
    return _Frame(warped, source, inside & ~barred, cv2.blur(_distance(warped, source), (3, 3)), envelope,
                  _distance(warped, color) > config.object_level)


def _alpha(frame: _Frame, color: np.ndarray, config: RecoveryConfig) -> tuple[np.ndarray, str | None]:
    """Object support by segmentation, soft alpha by least squares, and the check that nothing was left out."""
    support = _segment(frame.warped, frame.known, frame.differs, frame.mismatch < config.agreement,
                       frame.envelope < config.agreement, frame.mismatch > config.clash,
                       _shadow_like(frame.warped, color))
    reach = cv2.dilate(_fill_holes(support).astype(np.uint8), _disk(1)) > 0
    free = frame.known & (cv2.dilate(support.astype(np.uint8), _disk(1)) == 0)
    inner = cv2.erode(support.astype(np.uint8), _disk(1)).astype(np.float32)  # the support overhangs by a pixel
    alpha = _solve_alpha(frame.warped, frame.source, inner, free, color, config)
    missing = _unexplained(frame.warped, free, frame.differs, support, color)
    reason = f"parts of the object are not in the mask ({missing:.1%} of its area)" if missing > config.max_unexplained else None
    return alpha * (reach & frame.known), reason


def recover_mask(original: np.ndarray, processed: np.ndarray, processed_alpha: np.ndarray | None = None,
                 config: RecoveryConfig = RecoveryConfig()) -> Recovery:
    """The original's alpha (at most work_side pixels on its long side) recovered from its processed version;
    a processed image with its own transparency gives the alpha directly, only the alignment is needed."""
    factor = min(1.0, config.work_side / max(original.shape[:2]))
    image = resize(original, max(1, round(original.shape[1] * factor)), max(1, round(original.shape[0] * factor)))
    color = canvas_color(processed)
    band = band_mask(processed.shape[:2], branding_band(processed, color))
    candidates = main_components((_distance(to_float(processed), color) > config.object_level) & ~band, 0.02)
    if not candidates.any():
        return _reject(image, "no object found in the processed image")
    matrix, reason = _align(image, processed, candidates, config)
    if reason:
        return _reject(image, reason, matrix)
    frame = _frame(image, processed, band, matrix, color, config)
    if processed_alpha is not None:
        alpha = to_original(processed_alpha.astype(np.float32), matrix, image.shape[:2]) * frame.known
    else:
        alpha, reason = _alpha(frame, color, config)
        if reason:
            return _reject(image, reason, matrix)
    solid = alpha > 0.5
    if not solid.any():
        return _reject(image, "no object left after alignment", matrix)
    if (cv2.dilate(solid.astype(np.uint8), _disk(2)) > 0)[~frame.known].any():
        return _reject(image, "the object runs under the branding bar or off the processed canvas", matrix)
    interior = cv2.erode(solid.astype(np.uint8), _disk(2)) > 0
    error = float(_distance(frame.warped, frame.source)[interior].mean()) if interior.any() else 1.0
    if error > config.max_error:
        return _reject(image, f"aligned pixels disagree (error {error:.3f})", matrix, error)
    return Recovery(image, alpha, matrix, scale_of(matrix) * factor, error, True, "ok")


def _item_id(original: str) -> str:
    """A file-system-safe id from the original's relative path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(Path(original).with_suffix(""))).strip("_") or "item"


def _sheet_cell(recovery: Recovery, processed: np.ndarray, caption: str) -> np.ndarray:
    """Original with the recovered mask, the processed image, and the verdict."""
    shown = sheets.overlay(recovery.image, recovery.alpha) if recovery.alpha is not None else recovery.image
    return sheets.captioned([sheets.thumbnail(shown), sheets.thumbnail(processed)], caption)


def prepare_dataset(manifest_path: Path, out: Path, config: RecoveryConfig = RecoveryConfig(),
                    min_confidence: float = 0.5) -> DatasetIndex:
    """Recover a mask for every confident pair of a manifest; write images/, masks/, index.json, check sheets."""
    manifest = read_manifest(manifest_path)
    originals, processed_root = Path(manifest.originals_root), Path(manifest.processed_root)
    items, rejected, cells = [], [], []
    for pair in tqdm(manifest.pairs, desc="masks from pairs", unit="pair"):
        if pair.confidence < min_confidence:
            rejected.append({"original": pair.original, "processed": pair.processed,
                             "reason": f"pairing confidence {pair.confidence:.2f} < {min_confidence}"})
            continue
        try:
            original = load_image(originals / pair.original, config.work_side).rgb
            decoded = load_image(processed_root / pair.processed)
        except ValueError as exc:
            rejected.append({"original": pair.original, "processed": pair.processed, "reason": str(exc)})
            continue
        recovery = recover_mask(original, decoded.rgb, decoded.alpha, config)
        caption = f"{pair.original}  err {recovery.error:.3f}  {'ok' if recovery.accepted else recovery.reason}"
        cells.append(_sheet_cell(recovery, decoded.rgb, caption))
        if not recovery.accepted:
            rejected.append({"original": pair.original, "processed": pair.processed, "reason": recovery.reason})
            continue
        name = _item_id(pair.original)
        save_rgb(out / "images" / f"{name}.jpg", recovery.image, quality=95)
        save_mask(out / "masks" / f"{name}.png", recovery.alpha)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", pair.product, pair.category))
    for page, start in enumerate(range(0, len(cells), SHEET_PAGE)):
        sheet = sheets.grid(cells[start : start + SHEET_PAGE], SHEET_COLUMNS)
        cv2.imwrite(str(out / f"check_sheet_{page + 1:02d}.jpg"), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    source = {"manifest": str(manifest_path.resolve()),
              "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(), "recovery": asdict(config)}
    index = DatasetIndex(items, source, rejected)
    write_index(out, index)
    return index
