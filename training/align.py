"""Find where an original photo's pixels went in its processed version: template matching of the object's
outline (gradient magnitude, so backdrops and soft shadows hardly count) over many scales on small copies, then
ECC refinement at growing resolution, each step kept only while it stays a plausible scale + translation.

Matrices map original (working-frame) pixel centres to processed pixel centres, as 2x3 float32 arrays.
"""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.resample import resize

COARSE_SIDE = 192
MIN_TEMPLATE = 24
SCALE_STEP = 1.03
ECC_ITERATIONS = 60
ECC_EPS = 1e-5
ECC_LEVELS = (4, 2, 1)
RING = 3
MAX_ANISOTROPY = 0.03
MAX_SHEAR = 0.01
MAX_CHANGE = 0.06


def gray(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> float32 luminance in [0, 1]."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / np.float32(255.0)


def edges(image: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    """Gradient magnitude of the blurred luminance: outlines match where backdrops and shadows differ."""
    lum = cv2.GaussianBlur(gray(image), (0, 0), sigma)
    return cv2.magnitude(cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3))


def _centre_scaling(factor: float) -> np.ndarray:
    """3x3 map from pixel centres of an image to those of its copy resized by factor."""
    shift = 0.5 * factor - 0.5
    return np.array([[factor, 0.0, shift], [0.0, factor, shift], [0.0, 0.0, 1.0]])


def rescale(matrix: np.ndarray, source_factor: float, target_factor: float) -> np.ndarray:
    """The same mapping between copies of the two images resized by source_factor and target_factor."""
    full = np.vstack([matrix.astype(np.float64), [0.0, 0.0, 1.0]])
    return (_centre_scaling(target_factor) @ full @ np.linalg.inv(_centre_scaling(source_factor)))[:2].astype(np.float32)


def scale_of(matrix: np.ndarray) -> float:
    """Geometric mean of the two axis scales of a mapping."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2].astype(np.float64)))))


def shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    """image resized by factor (area-averaged when shrinking)."""
    height, width = image.shape[:2]
    return resize(image, max(1, round(width * factor)), max(1, round(height * factor)))


def coarse_match(original: np.ndarray, processed: np.ndarray, object_mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Best scale + translation (and its correlation) of the processed object's crop inside the original."""
    factor = min(1.0, COARSE_SIDE / max(original.shape[:2]))
    scene = edges(shrunk(original, factor))
    rows, cols = np.flatnonzero(object_mask.any(axis=1)), np.flatnonzero(object_mask.any(axis=0))
    x0, y0, x1, y1 = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
    pad = max(2, (y1 - y0 + x1 - x0) // 40)
    y0, y1, x0, x1 = max(0, y0 - pad), min(processed.shape[0], y1 + pad), max(0, x0 - pad), min(processed.shape[1], x1 + pad)
    crop = processed[y0:y1, x0:x1]
    best = (-np.inf, (1.0, 1.0), (0, 0))
    long_side = max(crop.shape[:2])
    target = float(MIN_TEMPLATE)
    while target <= max(scene.shape):
        t = target / long_side
        size = (max(1, round(crop.shape[1] * t)), max(1, round(crop.shape[0] * t)))
        target *= SCALE_STEP
        if size[0] > scene.shape[1] or size[1] > scene.shape[0]:
            continue
        template = edges(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        if template.std() < 1e-3:
            continue
        scores = np.nan_to_num(cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED), nan=-1.0, posinf=-1.0,
                               neginf=-1.0)
        _, score, _, location = cv2.minMaxLoc(scores)
        if score > best[0]:
            best = (score, (size[0] / crop.shape[1], size[1] / crop.shape[0]), location)
    score, (tx, ty), (lx, ly) = best
    # template pixel u sits at scene pixel loc + u and at processed pixel box0 + (u + 0.5) / t - 0.5
    scene_to_processed = np.array([[1 / tx, 0.0, x0 + (0.5 - lx) / tx - 0.5], [0.0, 1 / ty, y0 + (0.5 - ly) / ty - 0.5]])
    return rescale(scene_to_processed, 1.0 / factor, 1.0), float(score)


def plausible(update: np.ndarray, previous: np.ndarray, extent: float) -> bool:
    """An ECC result stays a near scale + translation close to the previous estimate (else it diverged)."""
    a = update[:, :2].astype(np.float64)
    sx, sy = np.hypot(a[0, 0], a[1, 0]), np.hypot(a[0, 1], a[1, 1])
    shear = abs(a[0, 1]) + abs(a[1, 0])
    change = abs(scale_of(update) / scale_of(previous) - 1.0)
    corners = np.array([[0.0, 0.0, 1.0], [extent, extent, 1.0]]).T
    moved = np.abs(update.astype(np.float64) @ corners - previous.astype(np.float64) @ corners).max()
    return abs(sx / sy - 1.0) < MAX_ANISOTROPY and shear < MAX_SHEAR * (sx + sy) and change < MAX_CHANGE and \
        moved < MAX_CHANGE * extent * scale_of(previous)


def refine(original: np.ndarray, processed: np.ndarray, object_mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """ECC (affine) refinement at 1/4, 1/2 and full resolution of the original, each step kept only if plausible."""
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPS)
    extent = float(max(original.shape[:2]))
    for level in ECC_LEVELS:
        factor_o = 1.0 / level
        if level > 1 and max(original.shape[:2]) * factor_o < 4 * MIN_TEMPLATE:
            continue
        factor_p = min(1.0, factor_o / scale_of(matrix))
        template = edges(shrunk(original, factor_o), 0.6 + 0.4 * level)
        scene = edges(shrunk(processed, factor_p), (0.6 + 0.4 * level) * factor_p * scale_of(matrix) / factor_o)
        warp = rescale(matrix, factor_o, factor_p)
        inside = cv2.dilate((shrunk(object_mask.astype(np.uint8) * 255, factor_p) > 127).astype(np.uint8),
                            np.ones((2 * RING + 1, 2 * RING + 1), np.uint8))
        if np.count_nonzero(inside) < 64:
            continue
        try:
            _, warp = cv2.findTransformECC(template, scene, warp, cv2.MOTION_AFFINE, criteria, inside, 5)
        except cv2.error:
            continue
        update = rescale(warp, 1.0 / factor_o, 1.0 / factor_p)
        if plausible(update, matrix, extent):
            matrix = update
    return matrix


def edge_agreement(original: np.ndarray, processed: np.ndarray, object_mask: np.ndarray, matrix: np.ndarray) -> float:
    """Correlation of the two images' outlines around the object after alignment (near 1 when they line up)."""
    shape = original.shape[:2]
    ours = edges(original)
    theirs = edges(to_original(processed, matrix, shape))
    near = cv2.dilate(to_original(object_mask.astype(np.uint8) * 255, matrix, shape), np.ones((2 * RING + 1,) * 2, np.uint8)) > 0
    a, b = ours[near] - ours[near].mean(), theirs[near] - theirs[near].mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def to_original(processed: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], border: float = 0.0,
                interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resample a processed-frame plane or image into the original's frame (anti-aliased when shrinking)."""
    factor = min(1.0, 1.0 / scale_of(matrix))
    source = shrunk(processed, factor) if factor < 1.0 else processed
    warp = rescale(matrix, 1.0, factor)
    return cv2.warpAffine(source, warp, (shape[1], shape[0]), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)
