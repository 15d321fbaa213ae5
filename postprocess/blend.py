"""Premultiplied-alpha layers: conversion to and from uint8 and the 'over' operator."""

from __future__ import annotations

import numpy as np


def to_layer(image: np.ndarray) -> np.ndarray:
    """Turn RGB or RGBA uint8 into a premultiplied float32 HxWx4 layer in [0, 1]."""
    rgb = image[..., :3].astype(np.float32) / 255.0
    if image.shape[2] == 4:
        alpha = image[..., 3].astype(np.float32) / 255.0
    else:
        alpha = np.ones(image.shape[:2], np.float32)
    return np.dstack([rgb * alpha[..., None], alpha])


def solid(height: int, width: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A uniform premultiplied layer of one RGBA colour."""
    alpha = rgba[3] / 255.0
    pixel = np.array([c / 255.0 * alpha for c in rgba[:3]] + [alpha], np.float32)
    return np.broadcast_to(pixel, (height, width, 4)).copy()


def tinted(coverage: np.ndarray, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A premultiplied layer of one colour whose opacity is coverage x the colour's alpha."""
    alpha = coverage.astype(np.float32) * (rgba[3] / 255.0)
    rgb = np.array(rgba[:3], np.float32) / 255.0
    return np.dstack([alpha[..., None] * rgb, alpha])


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff 'over' of two premultiplied layers."""
    return top + bottom * (1.0 - top[..., 3:4])


def from_layer(layer: np.ndarray, keep_alpha: bool) -> np.ndarray:
    """Turn a premultiplied layer into RGBA uint8 (or RGB uint8 over black if not keep_alpha)."""
    alpha = layer[..., 3:4]
    if keep_alpha:
        rgb = np.where(alpha > 1e-6, layer[..., :3] / np.maximum(alpha, 1e-6), 0.0)
        out = np.concatenate([rgb, alpha], axis=2)
    else:
        out = layer[..., :3]
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
