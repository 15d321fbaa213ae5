"""Snap mask edges of near-white products on a white studio backdrop.

Where product and backdrop are almost equally bright the general guided refine sees no edge
(guide variance below eps) and falls back to the model's blurry answer. Here the photo is
normalised by a backdrop model fitted on the border, and a guided filter with contrast gain
(eps / gain^2) snaps alpha to the faint edges - only inside the model's uncertainty band and
only where the pixels are close to the backdrop colour.
"""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.background import estimate_backdrop
from postprocess.refine import apply_coefficients, box, guided_coefficients, resize, working_grid

UNSURE_LOW = 0.02
UNSURE_HIGH = 0.98
NEAR_WHITE = 0.12


def uncertainty_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """Where the model's mask is neither clearly 0 nor clearly 1, widened by radius."""
    unsure = ((mask > UNSURE_LOW) & (mask < UNSURE_HIGH)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * radius + 1, 4 * radius + 1))
    return cv2.dilate(unsure, kernel).astype(np.float32)


def refine_white_on_white(
    image: np.ndarray,
    alpha: np.ndarray,
    mask: np.ndarray,
    radius: int,
    eps: float,
    gain: float,
    white_level: float,
) -> np.ndarray:
    """Alpha with edges re-snapped where product and white backdrop are nearly equal."""
    backdrop = estimate_backdrop(image, alpha)
    if backdrop.brightness() < white_level:
        return alpha
    low = working_grid(mask)
    h, w = low.shape
    small = resize(image, w, h).astype(np.float32) / 255.0
    backdrop_small = backdrop.at(w, h)
    guide = small - backdrop_small
    closeness = np.clip(1.0 - box(np.abs(guide).max(axis=2), radius) / NEAR_WHITE, 0.0, 1.0)
    weight = closeness * uncertainty_band(low, radius)
    if weight.max() <= 0.0:
        return alpha
    a, b = guided_coefficients(guide, resize(alpha, w, h), radius, eps / gain**2)
    b = b - np.einsum("hwc,hwc->hw", a, backdrop_small)
    snapped = np.clip(apply_coefficients(image, a, b), 0.0, 1.0)
    full_weight = cv2.resize(box(weight, radius), (alpha.shape[1], alpha.shape[0]), interpolation=cv2.INTER_LINEAR)
    return alpha + full_weight * (snapped - alpha)
