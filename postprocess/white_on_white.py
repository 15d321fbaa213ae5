"""Re-estimate alpha where a near-white product meets a white studio backdrop.

Where product and backdrop are almost equally bright the guided refine sees no usable edge
and keeps the model's blurry, often bloated answer. Here, on the mask's grid and only in
the model's uncertainty band, alpha is re-estimated from colour: each pixel is projected
onto the line from the backdrop colour (a smooth model fitted on the image border) to the
local product colour (averaged from confidently-foreground pixels nearby), capped by the
same projection on chroma alone, which floor shadows cannot fake. Band pixels that match
the backdrop within noise and connect to open background are set to zero, which removes the
model's halo. Where the contrast is well above the noise, the corrected mask is carried to
full resolution by a guided filter on the backdrop-normalised photo with contrast gain
(eps / gain^2). Runs only when the backdrop is studio white.
"""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.background import estimate_backdrop
from postprocess.cleanup import disk
from postprocess.refine import (
    active_tiles,
    box,
    channel_norm,
    guided_coefficients,
    guided_tiles,
    sample_tile,
    working_grid,
)
from postprocess.resample import resize

UNSURE_LOW = 0.02
UNSURE_HIGH = 0.98
SURE_FOREGROUND = 0.9
SURE_BACKGROUND = 0.02
NEAR_WHITE = 0.25
MIN_SNR = 4.0
BACKDROP_Z = 3.0
NOISE_SAMPLES = 20000
PRODUCT_SIGMA = 1.0


def uncertainty_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """Where the model's mask is neither clearly 0 nor clearly 1, widened by radius."""
    unsure = ((mask > UNSURE_LOW) & (mask < UNSURE_HIGH)).astype(np.uint8)
    return cv2.dilate(unsure, disk(radius)).astype(np.float32)


def _local_mean(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: Gaussian mean of values where weights are set."""
    num = cv2.GaussianBlur(values * weights[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weights, (0, 0), sigma)
    return num / np.maximum(den, 1e-6)[..., None]


def _samples(background: np.ndarray) -> np.ndarray:
    """Flat indices of about NOISE_SAMPLES evenly strided sure-background pixels (`background`: a 0/1 uint8 mask,
    searched as bool, where numpy's nonzero is over ten times faster)."""
    found = np.flatnonzero(background.view(bool))
    return found[:: max(1, found.size // NOISE_SAMPLES)]


def _noise(values: np.ndarray) -> float:
    """Robust standard deviation of backdrop residuals (N x 3, from sure-background pixels)."""
    if values.size < 16:
        return 1.0 / 255.0
    spread = 1.4826 * np.median(np.abs(values - np.median(values, axis=0)), axis=0)
    return max(float(np.linalg.norm(spread)), 0.5 / 255.0)


def _project(diff: np.ndarray, contrast: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """(alpha as projection of diff onto contrast, trust from the contrast's signal-to-noise), per row of N x 3."""
    strength = channel_norm(contrast)
    alpha = np.einsum("nc,nc->n", diff, contrast) / np.maximum(strength**2, 1e-8)
    return np.clip(alpha, 0.0, 1.0), np.clip(strength / (MIN_SNR * noise) - 1.0, 0.0, 1.0)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """N x 3 vectors scaled to unit length."""
    return vectors / np.maximum(channel_norm(vectors), 1e-6)[:, None]


def _chroma(vectors: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Components of N x 3 vectors orthogonal to the backdrop colour's unit vectors: blind to shadows, which only
    darken it."""
    return vectors - np.einsum("nc,nc->n", vectors, unit)[:, None] * unit


def open_backdrop(diff: np.ndarray, low: np.ndarray, sure_bg: np.ndarray, band: np.ndarray,
                  samples: np.ndarray) -> np.ndarray:
    """Band pixels whose 3x3 mean matches the backdrop within noise and connect to sure background (`samples`: the
    sure-background pixels the noise is measured on)."""
    smooth = box(diff, 1)
    candidates = (band > 0) | (low < SURE_BACKGROUND)
    noise = _noise(smooth.reshape(-1, 3)[samples])
    like = ((channel_norm(smooth) < BACKDROP_Z * noise) & candidates) | (sure_bg > 0)
    _, labels = cv2.connectedComponents(like.astype(np.uint8), connectivity=4)
    outside = np.zeros(labels.max() + 1, bool)
    outside[labels[sure_bg > 0]] = True
    outside[0] = False
    return (outside[labels] & (band > 0)).astype(np.float32)


def corrected_mask(
    small: np.ndarray, backdrop: np.ndarray, low: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(colour-based alpha on the mask grid, trust in it, open backdrop region).

    Alpha is the projection of (pixel - backdrop) onto (product - backdrop); where product
    and backdrop also differ in chroma, the shadow-blind chroma projection caps it so that
    floor shadows next to the product are not taken for product. Band pixels that look
    exactly like the open backdrop are background whatever the product looks like. Alpha and
    trust are computed on the band's pixels only (trust is zero elsewhere).
    """
    diff = small - backdrop
    sure_fg = cv2.erode((low > SURE_FOREGROUND).astype(np.uint8), disk(1)).astype(np.float32)
    sure_bg = cv2.erode((low < SURE_BACKGROUND).astype(np.uint8), disk(2 * radius))
    band = uncertainty_band(low, radius)
    samples, pixels = _samples(sure_bg), np.flatnonzero(band > 0)
    flat_diff, flat_backdrop = diff.reshape(-1, 3), backdrop.reshape(-1, 3)
    band_backdrop, band_diff, sample_diff = flat_backdrop[pixels], flat_diff[pixels], flat_diff[samples]
    band_unit, sample_unit = _unit(band_backdrop), _unit(flat_backdrop[samples])
    contrast = _local_mean(small, sure_fg, PRODUCT_SIGMA * radius).reshape(-1, 3)[pixels] - band_backdrop
    alpha, trust = _project(band_diff, contrast, _noise(sample_diff))
    chroma_alpha, chroma_trust = _project(_chroma(band_diff, band_unit), _chroma(contrast, band_unit),
                                          _noise(_chroma(sample_diff, sample_unit)))
    alpha = alpha + chroma_trust * (np.minimum(alpha, chroma_alpha) - alpha)
    near = np.clip(2.0 - 2.0 * channel_norm(contrast) / NEAR_WHITE, 0.0, 1.0)
    close_to_product = np.clip(cv2.GaussianBlur(sure_fg, (0, 0), 3.0 * radius).ravel()[pixels] * 8.0, 0.0, 1.0)
    colour_alpha, weight = np.zeros(low.shape, np.float32), np.zeros(low.shape, np.float32)
    colour_alpha.flat[pixels] = alpha
    weight.flat[pixels] = trust * near * close_to_product
    return colour_alpha, weight, open_backdrop(diff, low, sure_bg, band, samples)


def refine_white_on_white(
    image: np.ndarray,
    alpha: np.ndarray,
    mask: np.ndarray,
    radius: int,
    eps: float,
    gain: float,
    white_level: float,
    small: np.ndarray | None = None,
) -> np.ndarray:
    """Alpha re-estimated from colour where product and white backdrop are nearly equal (`small`: the image
    already resized to the mask's working grid, when the caller has it)."""
    low = working_grid(mask)
    h, w = low.shape
    small8 = resize(image, w, h) if small is None else small
    small = small8.astype(np.float32) / 255.0
    current = resize(alpha, w, h)
    backdrop = estimate_backdrop(small8, current)
    if backdrop.brightness() < white_level:
        return alpha
    backdrop_small = backdrop.at(w, h)
    colour_alpha, weight, backdrop_region = corrected_mask(small, backdrop_small, low, radius)
    height, width = alpha.shape
    out = alpha.copy()
    if weight.max() > 0.0:
        target = (current + weight * (colour_alpha - current)) * (1.0 - backdrop_region)
        a, b = guided_coefficients(small - backdrop_small, target, radius, eps / gain**2)
        b = b - np.einsum("hwc,hwc->hw", a, backdrop_small)
        weight = np.clip(box(weight, radius) * 4.0, 0.0, 1.0)
        for rows, cols, snapped in guided_tiles(image, a, b, weight > 0):
            tile_weight = sample_tile(weight, rows, cols, width, height)
            out[rows, cols] += tile_weight * (np.clip(snapped, 0.0, 1.0) - out[rows, cols])
    backdrop_core = cv2.erode(backdrop_region, disk(1))
    keep = 1.0 - backdrop_core
    for rows, cols in active_tiles(backdrop_core > 0, width, height):
        out[rows, cols] *= sample_tile(keep, rows, cols, width, height)
    return out
