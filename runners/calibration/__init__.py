"""Bundled calibration images: generated studio scenes with exact masks and a few public-domain photos (SOURCES.md).

The model side runs them when it imports a checkpoint; they are small (320 px) and never used for training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FOLDER = Path(__file__).parent
MASK_SUFFIX = ".mask.png"


@dataclass(frozen=True)
class CalibrationImage:
    """One calibration image (RGB uint8) and, for generated scenes, its exact alpha in [0, 1]."""

    name: str
    image: np.ndarray
    truth: np.ndarray | None


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@functools.cache
def calibration_images() -> tuple[CalibrationImage, ...]:
    """The scenes (with truth) first, then the photos, each in name order."""
    scenes = sorted(path for path in FOLDER.glob("scene-*.png") if not path.name.endswith(MASK_SUFFIX))
    photos = sorted(FOLDER.glob("photo-*.jpg"))
    images = []
    for path in scenes:
        mask = cv2.imread(str(path.with_name(path.stem + MASK_SUFFIX)), cv2.IMREAD_GRAYSCALE)
        images.append(CalibrationImage(path.stem, _read_rgb(path), mask.astype(np.float32) / 255.0))
    images.extend(CalibrationImage(path.stem, _read_rgb(path), None) for path in photos)
    return tuple(images)
