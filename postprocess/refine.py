"""Upsample the model's low-res soft mask to full resolution along the photo's real edges."""

from __future__ import annotations

import cv2
import numpy as np

WORK_MAX_SIDE = 1536


def box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, reflecting at the borders."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REFLECT)


def resize(x: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average when shrinking, bilinear when growing."""
    if (x.shape[1], x.shape[0]) == (width, height):
        return x
    shrink = width < x.shape[1] and height < x.shape[0]
    return cv2.resize(x, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al.): per-pixel linear model src ~ a.guide + b, smoothed."""
    mean_i = box(guide, radius)
    mean_p = box(src, radius)
    cov = box(guide * src[..., None], radius) - mean_i * mean_p[..., None]
    pairs = {}
    for i in range(3):
        for j in range(i, 3):
            pairs[i, j] = box(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
            if i == j:
                pairs[i, j] += eps
    s00, s01, s02, s11, s12, s22 = (pairs[k] for k in [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)])
    inv00 = s11 * s22 - s12 * s12
    inv01 = s02 * s12 - s01 * s22
    inv02 = s01 * s12 - s02 * s11
    inv11 = s00 * s22 - s02 * s02
    inv12 = s01 * s02 - s00 * s12
    inv22 = s00 * s11 - s01 * s01
    det = s00 * inv00 + s01 * inv01 + s02 * inv02
    c0, c1, c2 = cov[..., 0], cov[..., 1], cov[..., 2]
    a = np.dstack(
        [
            inv00 * c0 + inv01 * c1 + inv02 * c2,
            inv01 * c0 + inv11 * c1 + inv12 * c2,
            inv02 * c0 + inv12 * c1 + inv22 * c2,
        ]
    ) / det[..., None]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return box(a, radius), box(b, radius)


def apply_coefficients(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Evaluate a.image + b at the image's resolution after bilinear upsampling of a and b."""
    height, width = image.shape[:2]
    a_up = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
    out = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    scale = np.float32(1.0 / 255.0)
    for c in range(3):
        out += cv2.multiply(image[..., c], a_up[..., c], scale=scale, dtype=cv2.CV_32F)
    return out


def fast_guided_filter(
    image: np.ndarray, src: np.ndarray, radius: int, eps: float, guide: np.ndarray | None = None
) -> np.ndarray:
    """Fast guided filter (He & Sun 2015): coefficients on src's grid, applied at full res.

    `guide` is an optional float guide already at src's grid (defaults to the shrunk image).
    """
    h, w = src.shape
    if guide is None:
        guide = resize(image, w, h).astype(np.float32) / 255.0
    a, b = guided_coefficients(guide, src.astype(np.float32), radius, eps)
    return apply_coefficients(image, a, b)


def working_grid(mask: np.ndarray) -> np.ndarray:
    """The mask at no more than WORK_MAX_SIDE pixels a side (large masks gain nothing)."""
    h, w = mask.shape
    scale = min(1.0, WORK_MAX_SIDE / max(h, w))
    return resize(mask.astype(np.float32), max(1, round(w * scale)), max(1, round(h * scale)))


def upsample(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Plain bilinear upsampling of a mask to (width, height)."""
    return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def guided_upsample(
    image: np.ndarray, mask: np.ndarray, radius: int, eps: float, confidence_power: float
) -> np.ndarray:
    """Full-res alpha: guided result where the model is unsure, the model's own answer where sure."""
    height, width = image.shape[:2]
    low = working_grid(mask)
    soft = np.clip(fast_guided_filter(image, low, radius, eps), 0.0, 1.0)
    plain = upsample(low, width, height)
    confidence = np.abs(plain * 2.0 - 1.0) ** confidence_power
    hard = (plain > 0.5).astype(np.float32)
    return soft + confidence * (hard - soft)
