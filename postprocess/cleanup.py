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
MAX_BOX_SUMS = 256  # components summed box by box (about 10 us each) before a bincount over the image (about 5 ms)


def disk(radius: int) -> np.ndarray:
    """An elliptical structuring element of the given radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _factor(shape: tuple[int, ...]) -> int:
    """Block size that brings the longer side to at most POOL_SIDE."""
    return max(1, -(-max(shape) // POOL_SIDE))


def _pool_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """Block "any" of a uint8 mask over factor x factor blocks (a block maximum: comparing first and pooling the
    uint8 result is exact and four times cheaper than pooling float alpha)."""
    if factor == 1:
        return mask
    return cv2.dilate(mask, np.ones((factor, factor), np.uint8), anchor=(0, 0))[::factor, ::factor]


def _unpool(grid: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Block expansion of an analysis grid back to full resolution."""
    if factor == 1:
        return grid
    size = (grid.shape[1] * factor, grid.shape[0] * factor)
    return cv2.resize(grid, size, interpolation=cv2.INTER_NEAREST)[: shape[0], : shape[1]]


def component_sums(values: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Sum of values over each labelled component (0 for the background label 0), from connectedComponentsWithStats'
    labels and stats. A few components are summed inside their bounding boxes, which is over 20 times faster than
    a bincount over every pixel; many (specks) take the bincount."""
    count = stats.shape[0]
    if count > MAX_BOX_SUMS:
        sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=count)
        sums[0] = 0.0
        return sums
    sums = np.zeros(count)
    for label in range(1, count):
        x, y, width, height = stats[label, :4]
        box = (slice(y, y + height), slice(x, x + width))
        inside = np.equal(labels[box], label).view(np.uint8)  # cv2.compare rejects a 1x1 array against a number
        sums[label] = cv2.sumElems(cv2.bitwise_and(values[box], values[box], mask=inside))[0]
    return sums


def remove_islands(alpha: np.ndarray, island_ratio: float, thin_ratio: float) -> np.ndarray:
    """Zero blobs whose alpha mass is a small share of the largest blob's, unless long and thin."""
    factor = _factor(alpha.shape)
    weak = _pool_any(cv2.compare(alpha, SEED_LEVEL, cv2.CMP_GT), factor)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    if count <= 2:
        return alpha
    pooled = cv2.resize(alpha, (weak.shape[1], weak.shape[0]), interpolation=cv2.INTER_AREA)
    mass = component_sums(pooled, labels, stats)
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
    gaps = _pool_any(cv2.compare(alpha, OPAQUE_LEVEL, cv2.CMP_LT), factor)
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
