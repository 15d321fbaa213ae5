"""Remove stray blobs, fill pinholes and choke edges without eating thin structures."""

from __future__ import annotations

import cv2
import numpy as np

SEED_LEVEL = 0.05
SOLID_LEVEL = 0.5


def disk(radius: int) -> np.ndarray:
    """An elliptical structuring element of the given radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def remove_islands(alpha: np.ndarray, island_ratio: float, thin_ratio: float) -> np.ndarray:
    """Zero blobs whose alpha mass is a small share of the largest blob's, unless long and thin."""
    weak = (alpha > SEED_LEVEL).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    if count <= 2:
        return alpha
    mass = np.bincount(labels.ravel(), weights=alpha.ravel(), minlength=count)
    mass[0] = 0.0
    largest = int(np.argmax(mass))
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    keep = (mass >= island_ratio * mass[largest]) | (extent >= thin_ratio * extent[largest])
    keep[0] = False
    kept = keep[labels].astype(np.uint8)
    halo = cv2.dilate(kept, disk(2))
    return alpha * halo


def fill_pinholes(alpha: np.ndarray, hole_ratio: float) -> np.ndarray:
    """Make small enclosed gaps opaque; gaps touching the image border are background."""
    solid = alpha >= SOLID_LEVEL
    area = int(solid.sum())
    if area == 0:
        return alpha
    gaps = (~solid).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(gaps, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = stats[:, cv2.CC_STAT_AREA] < hole_ratio * area
    fill[border] = False
    fill[0] = False
    holes = fill[labels].astype(np.uint8)
    if not holes.any():
        return alpha
    return np.maximum(alpha, cv2.dilate(holes, disk(1)).astype(np.float32))


def choke(alpha: np.ndarray, erode_ratio: float) -> np.ndarray:
    """Erode edges by erode_ratio*sqrt(object area) px, only where the object is thicker than that."""
    solid = (alpha >= SOLID_LEVEL).astype(np.uint8)
    radius = int(round(erode_ratio * np.sqrt(float(solid.sum()))))
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
