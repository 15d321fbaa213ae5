"""Remove stray blobs, fill pinholes and choke edges without eating thin structures.

Blob analysis runs on a pooled grid (at most POOL_SIDE a side) where a cell is set if any
pixel under it is: thin structures stay connected and gaps stay open, so decisions stay
conservative.
"""

from __future__ import annotations

import cv2
import numpy as np

SEED_LEVEL = 0.05
SOLID_LEVEL = 0.5
OPAQUE_LEVEL = 0.95
POOL_SIDE = 2048


def disk(radius: int) -> np.ndarray:
    """An elliptical structuring element of the given radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _factor(shape: tuple[int, ...]) -> int:
    """Block size that brings the longer side to at most POOL_SIDE."""
    return max(1, -(-max(shape) // POOL_SIDE))


def _pool(alpha: np.ndarray, factor: int, largest: bool) -> np.ndarray:
    """Block maximum (or minimum) over factor x factor blocks."""
    if factor == 1:
        return alpha
    kernel = np.ones((factor, factor), np.uint8)
    morph = cv2.dilate if largest else cv2.erode
    return morph(alpha, kernel, anchor=(0, 0))[::factor, ::factor]


def _unpool(grid: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Block expansion of an analysis grid back to full resolution."""
    if factor == 1:
        return grid
    size = (grid.shape[1] * factor, grid.shape[0] * factor)
    return cv2.resize(grid, size, interpolation=cv2.INTER_NEAREST)[: shape[0], : shape[1]]


def remove_islands(alpha: np.ndarray, island_ratio: float, thin_ratio: float) -> np.ndarray:
    """Zero blobs whose alpha mass is a small share of the largest blob's, unless long and thin."""
    factor = _factor(alpha.shape)
    weak = (_pool(alpha, factor, largest=True) > SEED_LEVEL).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    if count <= 2:
        return alpha
    pooled = cv2.resize(alpha, (weak.shape[1], weak.shape[0]), interpolation=cv2.INTER_AREA)
    mass = np.bincount(labels.ravel(), weights=pooled.ravel(), minlength=count)
    mass[0] = 0.0
    largest = int(np.argmax(mass))
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    keep = (mass >= island_ratio * mass[largest]) | (extent >= thin_ratio * extent[largest])
    keep[0] = False
    if keep[1:].all():
        return alpha
    halo = cv2.dilate(keep[labels].astype(np.uint8), disk(max(1, 2 // factor)))
    return alpha * _unpool(halo, factor, alpha.shape)


def fill_pinholes(alpha: np.ndarray, hole_ratio: float) -> np.ndarray:
    """Make small enclosed not-quite-opaque gaps opaque; gaps touching the border stay."""
    area = int(np.count_nonzero(alpha >= SOLID_LEVEL))
    if area == 0:
        return alpha
    factor = _factor(alpha.shape)
    gaps = (_pool(alpha, factor, largest=False) < OPAQUE_LEVEL).astype(np.uint8)
    _count, labels, stats, _ = cv2.connectedComponentsWithStats(gaps, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = stats[:, cv2.CC_STAT_AREA] * factor**2 < hole_ratio * area
    fill[border] = False
    fill[0] = False
    if not fill.any():
        return alpha
    holes = cv2.dilate(fill[labels].astype(np.uint8), disk(1))
    out = alpha.copy()
    out[_unpool(holes, factor, alpha.shape) > 0] = 1.0
    return out


def choke(alpha: np.ndarray, erode_ratio: float) -> np.ndarray:
    """Erode edges by erode_ratio*sqrt(object area) px, only where the object is thicker than that."""
    solid = (alpha >= SOLID_LEVEL).astype(np.uint8)
    radius = round(erode_ratio * np.sqrt(float(np.count_nonzero(solid))))
    if radius < 1:
        return alpha
    eroded = cv2.erode(alpha, disk(radius))
    thick = cv2.morphologyEx(solid, cv2.MORPH_OPEN, disk(2 * radius + 1))
    zone = cv2.dilate(thick, disk(radius + 1)).astype(np.float32)
    weight = cv2.GaussianBlur(zone, (0, 0), radius + 1) * zone
    return alpha + weight * (eroded - alpha)


def clean(
    alpha: np.ndarray, island_ratio: float, thin_ratio: float, hole_ratio: float, erode_ratio: float
) -> np.ndarray:
    """Island removal, pinhole filling and adaptive choke, in that order."""
    alpha = remove_islands(alpha, island_ratio, thin_ratio)
    alpha = fill_pinholes(alpha, hole_ratio)
    return choke(alpha, erode_ratio)
