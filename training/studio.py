"""Where things are in a studio photo or a processed catalogue image: canvas colour, branding band, the object."""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.background import estimate_backdrop

BAND_TOLERANCE = 0.06
BAND_COVER = 0.6
BAND_MAX_SHARE = 0.3
OBJECT_LEVEL = 0.06
NOISE_FACTOR = 6.0
KEEP_SHARE = 0.05


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in [0, 1]."""
    return image.astype(np.float32) / np.float32(255.0)


def canvas_color(image: np.ndarray) -> np.ndarray:
    """The flat background colour of a processed image: median of the side columns' middle rows."""
    height, width = image.shape[:2]
    rows = slice(height // 5, height - height // 5)
    depth = max(1, width // 50)
    sides = np.concatenate([image[rows, :depth].reshape(-1, 3), image[rows, -depth:].reshape(-1, 3)])
    return np.median(to_float(sides), axis=0).astype(np.float32)


def branding_band(image: np.ndarray, color: np.ndarray) -> tuple[int, int]:
    """Rows (from the top, from the bottom) of a full-width bar that differs from the canvas colour."""
    differs = np.abs(to_float(image) - color).max(axis=2) > BAND_TOLERANCE
    banded = differs.mean(axis=1) >= BAND_COVER
    limit = int(len(banded) * BAND_MAX_SHARE)

    def run(flags: np.ndarray) -> int:
        count = int(np.argmin(flags)) if not flags.all() else len(flags)
        return count if count <= limit else 0

    return run(banded), run(banded[::-1])


def band_mask(shape: tuple[int, int], band: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the branding band rows."""
    mask = np.zeros(shape, bool)
    top, bottom = band
    mask[:top] = True
    mask[shape[0] - bottom :] = True
    return mask


def main_components(mask: np.ndarray, share: float = KEEP_SHARE) -> np.ndarray:
    """Keep connected components at least `share` of the largest one (drops specks, text glyphs, dust)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= share * areas.max()) + 1
    return np.isin(labels, keep)


def object_mask(image: np.ndarray) -> np.ndarray:
    """Rough object (plus its shadow) of a photo on a studio backdrop or canvas, branding band excluded."""
    top, bottom = branding_band(image, canvas_color(image))
    height = image.shape[0]
    body = image[top : height - bottom]
    mask = np.zeros(image.shape[:2], bool)
    if body.shape[0] < 8:
        return mask
    backdrop = estimate_backdrop(body, np.zeros(body.shape[:2], np.float32))
    field = backdrop.at(body.shape[1], body.shape[0])
    level = max(OBJECT_LEVEL, NOISE_FACTOR * backdrop.noise)
    differs = np.abs(to_float(body) - field).max(axis=2) > level
    differs = cv2.morphologyEx(differs.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    mask[top : height - bottom] = main_components(differs)
    return mask


def box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of a mask, or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
