"""Perceptual fingerprint of the product in a photo: a small normalised thumbnail of its crop plus its aspect.

Renamed originals are matched to their processed versions with it, and near-duplicate shots are kept on one
side of the train/validation split. Cropping to the object makes it blind to canvas size, padding and bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.images import load_image
from training.studio import box_of, object_mask

THUMB = 16
READ_SIDE = 256
ASPECT_WEIGHT = 3.0


@dataclass(frozen=True)
class Fingerprint:
    """Zero-mean unit-length RGB thumbnail of the object crop and the crop's width/height."""

    vector: np.ndarray
    aspect: float


def fingerprint(image: np.ndarray) -> Fingerprint:
    """Fingerprint of the object in an RGB uint8 image (the whole frame when no object stands out)."""
    scale = min(1.0, READ_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = box_of(object_mask(image)) or (0, 0, image.shape[1], image.shape[0])
    crop = cv2.resize(image[y0:y1, x0:x1], (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    vector = (crop - crop.mean()).ravel()
    norm = float(np.linalg.norm(vector))
    return Fingerprint(vector / norm if norm > 0 else vector, (x1 - x0) / (y1 - y0))


def fingerprint_file(path: Path) -> Fingerprint:
    """Fingerprint of an image file, decoded at reduced scale."""
    return fingerprint(load_image(path, READ_SIDE).rgb)


def similarity_matrix(rows: list[Fingerprint], cols: list[Fingerprint]) -> np.ndarray:
    """Pairwise similarity in [0, 1]: thumbnail correlation damped by aspect disagreement."""
    if not rows or not cols:
        return np.zeros((len(rows), len(cols)), np.float32)
    correlation = np.stack([f.vector for f in rows]) @ np.stack([f.vector for f in cols]).T
    aspects = np.log([f.aspect for f in rows])[:, None] - np.log([f.aspect for f in cols])[None, :]
    return (np.clip(correlation, 0.0, 1.0) * np.exp(-ASPECT_WEIGHT * np.abs(aspects))).astype(np.float32)
