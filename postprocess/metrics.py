"""Matte quality measures against exact ground truth (shared by tests and the benchmark)."""

from __future__ import annotations

import cv2
import numpy as np

LEVEL = 0.5


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the masks thresholded at one half."""
    a, t = alpha > LEVEL, truth > LEVEL
    union = np.count_nonzero(a | t)
    return float(np.count_nonzero(a & t) / union) if union else 1.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel inner boundary of a binary mask."""
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool)


def boundary_f(alpha: np.ndarray, truth: np.ndarray, tolerance: int | None = None) -> float:
    """Boundary F-measure: contour pixels matched within tolerance (default diagonal / 1000)."""
    if tolerance is None:
        tolerance = max(1, round(float(np.hypot(*truth.shape)) / 1000))
    pred_b, true_b = _boundary(alpha > LEVEL), _boundary(truth > LEVEL)
    if not pred_b.any() or not true_b.any():
        return float(pred_b.any() == true_b.any())
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_true = cv2.dilate(true_b.astype(np.uint8), kernel).astype(bool)
    near_pred = cv2.dilate(pred_b.astype(np.uint8), kernel).astype(bool)
    precision = np.count_nonzero(pred_b & near_true) / np.count_nonzero(pred_b)
    recall = np.count_nonzero(true_b & near_pred) / np.count_nonzero(true_b)
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def mae(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute alpha error over the whole image."""
    return float(np.mean(np.abs(alpha.astype(np.float32) - truth.astype(np.float32))))


def dice(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of the masks thresholded at one half."""
    a, t = alpha > LEVEL, truth > LEVEL
    total = np.count_nonzero(a) + np.count_nonzero(t)
    return float(2 * np.count_nonzero(a & t) / total) if total else 1.0


SCORES = ("iou", "dice", "boundary_f", "mae")


def scores(alpha: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Every mask score of one predicted alpha against the truth."""
    return {"iou": iou(alpha, truth), "dice": dice(alpha, truth), "boundary_f": boundary_f(alpha, truth),
            "mae": mae(alpha, truth)}


def edge_band(truth: np.ndarray, width: int = 3) -> np.ndarray:
    """Pixels where the true matte is soft, widened by width pixels (catches halos too)."""
    soft = (truth > 0.01) & (truth < 0.99)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(soft.astype(np.uint8), kernel).astype(bool)


def fringe_error(
    rgb: np.ndarray,
    alpha: np.ndarray,
    true_fg: np.ndarray,
    truth: np.ndarray,
    backdrop: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> float:
    """Mean colour error (0-255) in the edge band of the composite over a contrasting backdrop.

    rgb is uint8 foreground colour, true_fg float in [0, 1]; both are composited with their
    alphas over `backdrop` (float RGB) and compared in the true matte's edge band.
    """
    band = edge_band(truth)
    if not band.any():
        return 0.0
    k = np.asarray(backdrop, np.float32)
    a = alpha[band][:, None].astype(np.float32)
    t = truth[band][:, None].astype(np.float32)
    pred = a * (rgb[band].astype(np.float32) / 255.0) + (1 - a) * k
    true = t * true_fg[band] + (1 - t) * k
    return float(np.mean(np.abs(pred - true)) * 255.0)
