"""Augmentations that fit studio product photos: flips, zoom, small tilts, exposure, white balance, JPEG quality.

They work on the model-size square (after the same resize the server does) so they cost little per sample.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class AugmentConfig(BaseModel):
    """Ranges of the random changes; zero or equal bounds switch one off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flip: float = Field(0.5, ge=0, le=1, description="chance of a horizontal mirror")
    zoom: tuple[float, float] = (0.8, 1.15)
    shift: float = Field(0.06, ge=0, le=0.5, description="max shift as a share of the side")
    rotate: float = Field(4.0, ge=0, le=45, description="max tilt in degrees")
    exposure: tuple[float, float] = (0.85, 1.12)
    white_balance: float = Field(0.04, ge=0, le=0.5, description="max per-channel gain change")
    jpeg: tuple[int, int] = (55, 95)
    jpeg_chance: float = Field(0.5, ge=0, le=1)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Randomly changed copies of a square RGB uint8 image and its float mask (same geometry for both)."""
    size = image.shape[0]
    if rng.random() < config.flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    zoom = rng.uniform(*config.zoom)
    angle = rng.uniform(-config.rotate, config.rotate)
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, zoom)
    matrix[:, 2] += rng.uniform(-config.shift, config.shift, 2) * size
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(np.ascontiguousarray(mask), matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    gains = rng.uniform(*config.exposure) * (1.0 + rng.uniform(-config.white_balance, config.white_balance, 3))
    image = np.clip(image.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)
    if rng.random() < config.jpeg_chance:
        quality = int(rng.integers(config.jpeg[0], config.jpeg[1] + 1))
        _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(image), mask
