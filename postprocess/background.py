"""Model the studio backdrop from the image border as a smooth (Coons patch) colour field."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from postprocess.resample import shrink

MODEL_SIDE = 192
STRIP = 0.04
FREE_ALPHA = 0.02


@dataclass(frozen=True)
class Backdrop:
    """Backdrop colour at low resolution plus the noise level seen on the border."""

    color: np.ndarray
    noise: float

    def at(self, width: int, height: int) -> np.ndarray:
        """The backdrop colour field (float32 HxWx3 in [0, 1]) at the requested size."""
        return cv2.resize(self.color, (width, height), interpolation=cv2.INTER_LINEAR)

    def brightness(self) -> float:
        """Median luminance of the backdrop in [0, 1]."""
        return float(np.median(self.color.mean(axis=2)))


def _edge_profile(strip: np.ndarray, free: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Per-position median colour across a border strip, interpolated where the object covers it."""
    length = strip.shape[1]
    valid = free.mean(axis=0) > 0.5
    if not valid.any():
        return np.broadcast_to(fallback, (length, 3)).copy()
    masked = np.where(free[..., None], strip, np.nan)
    profile = np.nanmedian(masked[:, valid], axis=0)
    positions = np.arange(length)
    return np.stack([np.interp(positions, positions[valid], profile[:, c]) for c in range(3)], axis=1)


def estimate_backdrop(image: np.ndarray, alpha: np.ndarray) -> Backdrop:
    """Fit the backdrop from border strips free of the object (alpha ~ 0); any resolution."""
    height, width = alpha.shape
    scale = min(1.0, MODEL_SIDE / max(height, width))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    small = shrink(image, w, h).astype(np.float32) / 255.0
    free = shrink(alpha.astype(np.float32), w, h) < FREE_ALPHA
    depth = max(1, round(STRIP * min(w, h)))
    fallback = np.median(small[free], axis=0) if free.any() else np.ones(3, np.float32)
    top = _edge_profile(small[:depth], free[:depth], fallback)
    bottom = _edge_profile(small[-depth:], free[-depth:], fallback)
    left = _edge_profile(small[:, :depth].transpose(1, 0, 2), free[:, :depth].T, fallback)
    right = _edge_profile(small[:, -depth:].transpose(1, 0, 2), free[:, -depth:].T, fallback)
    u = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    v = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    corners = (
        (1 - u) * (1 - v) * top[0] + u * (1 - v) * top[-1] + (1 - u) * v * bottom[0] + u * v * bottom[-1]
    )
    color = (1 - v) * top[None] + v * bottom[None] + (1 - u) * left[:, None] + u * right[:, None] - corners
    color = np.clip(color, 0.0, 1.0).astype(np.float32)
    border = np.zeros((h, w), bool)
    border[:depth], border[-depth:], border[:, :depth], border[:, -depth:] = True, True, True, True
    residual = (small - color).mean(axis=2)[border & free]
    noise = float(1.4826 * np.median(np.abs(residual - np.median(residual)))) if residual.size else 0.01
    return Backdrop(color=color, noise=max(noise, 1.0 / 255.0))
