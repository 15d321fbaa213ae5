"""Small synthetic scenes shared by the post-processing tests."""

from __future__ import annotations

import cv2
import numpy as np

WHITE = 245
DARK = (30, 30, 30)


def leg_scene(size: int = 512, leg_width: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A dark block with a thin leg (tripod leg / strap) hanging below it, on studio white."""
    alpha = np.zeros((size, size), np.float32)
    alpha[size // 8 : size // 3, size // 3 : 2 * size // 3] = 1.0
    x0 = size // 2 - leg_width // 2
    alpha[size // 3 : 7 * size // 8, x0 : x0 + leg_width] = 1.0
    image = np.full((size, size, 3), WHITE, np.float32)
    image = alpha[..., None] * np.array(DARK, np.float32) + (1 - alpha[..., None]) * image
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), alpha


def model_mask(alpha: np.ndarray, factor: int = 4, sigma: float = 0.7) -> np.ndarray:
    """What a segmentation model at 1/factor resolution would return: coverage, slightly blurred."""
    h, w = alpha.shape
    low = cv2.resize(alpha, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(low, (0, 0), sigma)


def disc_scene(
    size: int = 256, colour: tuple[int, int, int] = (200, 30, 30), soft: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A coloured disc with a wide soft edge on studio white: (image, alpha, true colour)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2)
    alpha = np.clip((size * 0.3 - r) / soft + 0.5, 0.0, 1.0).astype(np.float32)
    fg = np.array(colour, np.float32)
    image = alpha[..., None] * fg + (1 - alpha[..., None]) * WHITE
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), alpha, fg


def rgba_rect(
    size: tuple[int, int] = (300, 400),
    box: tuple[int, int, int, int] = (37, 50, 137, 250),
    colour: tuple[int, int, int] = (10, 120, 200),
) -> np.ndarray:
    """RGBA uint8 canvas (h, w) with an opaque rectangle x0, y0, x1, y1 (exclusive)."""
    rgba = np.zeros((*size, 4), np.uint8)
    x0, y0, x1, y1 = box
    rgba[y0:y1, x0:x1, :3] = colour
    rgba[y0:y1, x0:x1, 3] = 255
    return rgba
