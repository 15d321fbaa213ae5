"""Premultiplied-alpha layers: conversion to and from uint8 and the 'over' operator.

Each function writes into one preallocated HxWx4 array instead of stacking temporaries (np.dstack copies every
plane again); the arithmetic, and so every result, is the same as the plain formulas in the docstrings.
"""

from __future__ import annotations

import numpy as np


def to_layer(image: np.ndarray) -> np.ndarray:
    """Turn RGB or RGBA uint8 into a premultiplied float32 HxWx4 layer in [0, 1]: (rgb * a, a) with x / 255."""
    layer = np.empty((*image.shape[:2], 4), np.float32)
    np.divide(image[..., :3], np.float32(255.0), out=layer[..., :3], dtype=np.float32)
    if image.shape[2] == 4:
        np.divide(image[..., 3], np.float32(255.0), out=layer[..., 3], dtype=np.float32)
        layer[..., :3] *= layer[..., 3:4]
    else:
        layer[..., 3] = 1.0
    return layer


def solid(height: int, width: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A uniform premultiplied layer of one RGBA colour."""
    alpha = rgba[3] / 255.0
    pixel = np.array([c / 255.0 * alpha for c in rgba[:3]] + [alpha], np.float32)
    return np.broadcast_to(pixel, (height, width, 4)).copy()


def tinted(coverage: np.ndarray, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A premultiplied layer of one colour whose opacity is coverage x the colour's alpha."""
    layer = np.empty((*coverage.shape, 4), np.float32)
    alpha = layer[..., 3]
    np.multiply(coverage, np.float32(rgba[3] / 255.0), out=alpha, dtype=np.float32)
    np.multiply(alpha[..., None], np.array(rgba[:3], np.float32) / 255.0, out=layer[..., :3])
    return layer


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff 'over' of two premultiplied layers: top + bottom * (1 - top alpha)."""
    out = np.subtract(np.float32(1.0), top[..., 3:4])
    out = np.multiply(bottom, out)
    out += top
    return out


def from_layer(layer: np.ndarray, keep_alpha: bool) -> np.ndarray:
    """Turn a premultiplied layer into RGBA uint8 (or RGB uint8 over black if not keep_alpha): x * 255 + 0.5."""
    alpha = layer[..., 3:4]
    if keep_alpha:
        rgb = np.where(alpha > 1e-6, layer[..., :3] / np.maximum(alpha, 1e-6), 0.0)
        out = np.concatenate([rgb, alpha], axis=2)
        out *= np.float32(255.0)
    else:
        out = layer[..., :3] * np.float32(255.0)
    out += np.float32(0.5)
    return np.clip(out, 0, 255, out=out).astype(np.uint8)
