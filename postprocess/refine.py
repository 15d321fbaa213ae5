"""Upsample the model's low-res soft mask to full resolution along the photo's real edges."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from postprocess.resample import resize

WORK_MAX_SIDE = 1536
TILE = 128
UNSURE = 0.02
DECIDED_LOW = 0.5
DECIDED_HIGH = 0.8
MIN_RESPONSE = 0.5
MAX_SHIFT = 3.0
MIN_SHIFT = 0.25
FLOAT32_EPS = 1e-3


def box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, reflecting at the borders."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REFLECT)


def channel_mean(image: np.ndarray) -> np.ndarray:
    """Per-pixel mean of the three colour channels (float32 HxW): one OpenCV pass, ~40x faster than numpy's strided
    mean over the last axis."""
    return cv2.transform(image.astype(np.float32, copy=False), np.full((1, 3), 1.0 / 3.0, np.float32))


def channel_norm(vectors: np.ndarray) -> np.ndarray:
    """Euclidean length over the last axis (HxWx3 or Nx3 vectors; np.linalg.norm's result, ~3x faster)."""
    return np.sqrt(np.einsum("...c,...c->...", vectors, vectors))


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al.): per-pixel linear model src ~ a.guide + b, smoothed.

    Moments are taken of the guide centred on its mean colour and of src centred on 0.5 (smaller values cancel with
    smaller error), in float32 for eps >= FLOAT32_EPS (within 3e-5 of float64 on the bench photo, half the time) and
    in float64 below, where the variances a small eps has to resolve are lost to float32's cancellation. Every
    product and box works on contiguous planes (strided channel views of an HxWx3 array cost about twice as much).
    """
    dtype = np.float32 if eps >= FLOAT32_EPS else np.float64
    centre = np.array(cv2.mean(guide)[:3], dtype)
    g = [np.subtract(plane, c, dtype=dtype) for plane, c in zip(cv2.split(guide), centre, strict=True)]
    p = np.subtract(src, 0.5, dtype=dtype)
    mean = [box(plane, radius) for plane in g]
    mean_p = box(p, radius)

    def covariance(i: int, other: np.ndarray, other_mean: np.ndarray) -> np.ndarray:
        return box(g[i] * other, radius) - mean[i] * other_mean

    c0, c1, c2 = (covariance(i, p, mean_p) for i in range(3))
    s00 = covariance(0, g[0], mean[0]) + dtype(eps)
    s01 = covariance(0, g[1], mean[1])
    s02 = covariance(0, g[2], mean[2])
    s11 = covariance(1, g[1], mean[1]) + dtype(eps)
    s12 = covariance(1, g[2], mean[2])
    s22 = covariance(2, g[2], mean[2]) + dtype(eps)
    inv00 = s11 * s22 - s12 * s12
    inv01 = s02 * s12 - s01 * s22
    inv02 = s01 * s12 - s02 * s11
    inv11 = s00 * s22 - s02 * s02
    inv12 = s01 * s02 - s00 * s12
    inv22 = s00 * s11 - s01 * s01
    det = s00 * inv00 + s01 * inv01 + s02 * inv02
    a = [
        (inv00 * c0 + inv01 * c1 + inv02 * c2) / det,
        (inv01 * c0 + inv11 * c1 + inv12 * c2) / det,
        (inv02 * c0 + inv12 * c1 + inv22 * c2) / det,
    ]
    b = mean_p + dtype(0.5) - sum(ai * (mi + c) for ai, mi, c in zip(a, mean, centre, strict=True))
    return cv2.merge([box(plane, radius).astype(np.float32) for plane in a]), box(b, radius).astype(np.float32)


def active_tiles(active: np.ndarray, width: int, height: int, tile: int = TILE) -> list[tuple[slice, slice]]:
    """Full-res tiles whose footprint touches an active cell of a low-res grid (with 1-cell margin).

    Each tile takes the maximum over the cells under it: the grid spans the image exactly, the tiles may overhang.
    """
    grown = cv2.dilate(active.astype(np.uint8), np.ones((3, 3), np.uint8))
    row_starts = np.arange(0, height, tile) * grown.shape[0] // height
    col_starts = np.arange(0, width, tile) * grown.shape[1] // width
    hit = np.maximum.reduceat(np.maximum.reduceat(grown, row_starts, axis=0), col_starts, axis=1) > 0
    return [
        (slice(r * tile, min(height, (r + 1) * tile)), slice(c * tile, min(width, (c + 1) * tile)))
        for r, c in zip(*np.nonzero(hit), strict=False)
    ]


def sample_tile(low: np.ndarray, rows: slice, cols: slice, width: int, height: int) -> np.ndarray:
    """Bilinear upsampling of a low-res field to full (width, height), evaluated on one tile only."""
    sx, sy = low.shape[1] / width, low.shape[0] / height
    matrix = np.array(
        [[sx, 0.0, (cols.start + 0.5) * sx - 0.5], [0.0, sy, (rows.start + 0.5) * sy - 0.5]], np.float32
    )
    size = (cols.stop - cols.start, rows.stop - rows.start)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(low, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)


def guided_tiles(
    image: np.ndarray, a: np.ndarray, b: np.ndarray, active: np.ndarray
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Yield (rows, cols, a.image + b) on each full-res tile near an active low-res cell."""
    height, width = image.shape[:2]
    coeffs = np.dstack([a, b]).astype(np.float32)
    for rows, cols in active_tiles(active, width, height):
        ab = sample_tile(coeffs, rows, cols, width, height)
        pixels = image[rows, cols].astype(np.float32) * np.float32(1.0 / 255.0)
        yield rows, cols, np.einsum("hwc,hwc->hw", ab[..., :3], pixels) + ab[..., 3]


def working_grid(mask: np.ndarray) -> np.ndarray:
    """The mask at no more than WORK_MAX_SIDE pixels a side (large masks gain nothing)."""
    h, w = mask.shape
    scale = min(1.0, WORK_MAX_SIDE / max(h, w))
    return resize(mask.astype(np.float32), max(1, round(w * scale)), max(1, round(h * scale)))


def upsample(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Plain bilinear upsampling of a mask to (width, height)."""
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _edges(plane: np.ndarray) -> np.ndarray:
    """Gradient magnitude (Sobel)."""
    return cv2.magnitude(cv2.Sobel(plane, cv2.CV_32F, 1, 0), cv2.Sobel(plane, cv2.CV_32F, 0, 1))


def align_to_image(low: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """The mask translated onto the photo's edges when the model's output is globally offset.

    Phase correlation of mask and photo gradients; applied only for a clear peak and a shift
    of at most MAX_SHIFT mask pixels, so scenes without a trustworthy match are left alone.
    """
    lum = channel_mean(guide)
    window = cv2.createHanningWindow((low.shape[1], low.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(_edges(lum), _edges(low), window)
    if response < MIN_RESPONSE or np.hypot(dx, dy) > MAX_SHIFT or np.hypot(dx, dy) < MIN_SHIFT:
        return low
    matrix = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    return cv2.warpAffine(low, matrix, (low.shape[1], low.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def edge_sharpness(low: np.ndarray, radius: int, sharpen: float) -> np.ndarray:
    """Per-cell contrast gain for the guided ramp, so real soft alpha stays soft.

    Up to `sharpen` where the model's neighbourhood is binary (a confident edge or a thin
    line on clean background), 1 where it is broadly unsure (glass, motion blur, hair).
    """
    decided = box(np.abs(low * 2.0 - 1.0), radius)
    return 1.0 + (sharpen - 1.0) * np.clip((decided - DECIDED_LOW) / (DECIDED_HIGH - DECIDED_LOW), 0.0, 1.0)


def guided_upsample(
    image: np.ndarray,
    mask: np.ndarray,
    radius: int,
    eps: float,
    confidence_power: float,
    sharpen: float,
    align: bool,
    small: np.ndarray | None = None,
) -> np.ndarray:
    """Full-res alpha: guided result where the model is unsure, the model's own answer where sure.

    Coefficients are fitted on the mask's grid (fast guided filter, He & Sun 2015) and only
    evaluated at full resolution on tiles where the model is unsure; the guided ramp is then
    steepened around confident edges (see edge_sharpness). `small` is the image already
    resized to that grid, when the caller has it.
    """
    height, width = image.shape[:2]
    low = working_grid(mask)
    if small is None:
        small = resize(image, low.shape[1], low.shape[0])
    guide = small.astype(np.float32) / 255.0
    if align:
        low = align_to_image(low, guide)
    a, b = guided_coefficients(guide, low, radius, eps)
    gain = edge_sharpness(low, radius, sharpen)
    plain = upsample(low, width, height)
    alpha = cv2.threshold(plain, 0.5, 1.0, cv2.THRESH_BINARY)[1]
    unsure = (low > UNSURE) & (low < 1.0 - UNSURE)
    for rows, cols, soft in guided_tiles(image, a, b, unsure):
        hard = alpha[rows, cols]
        confidence = np.abs(plain[rows, cols] * 2.0 - 1.0) ** confidence_power
        soft = np.clip((soft - 0.5) * sample_tile(gain, rows, cols, width, height) + 0.5, 0.0, 1.0)
        alpha[rows, cols] = soft + confidence * (hard - soft)
    return alpha
