"""How sure the model was of a cut-out (0-1), from its own soft mask: served with every cut-out and used to send
doubtful results to a person.

A clean mask is near 0 or 1 everywhere except a thin band along the subject's outline. A model that is unsure
leaves parts of the subject half-transparent (lens glass, white-on-white, a background it half keeps), so the score
is the share of the subject whose alpha stays undecided away from the outline, mapped through an exponential. Its
scale puts the best cut between cut-outs with IoU < 0.9 and the rest (Youden's J, which `cutout eval` reports) near
0.5: `make eval-scenes` finds it at 0.534 for the bundled model of 2026-12-08. A mask with next to no subject is a
failed cut-out for a product photo and scores 0.
"""

from __future__ import annotations

import cv2
import numpy as np

UNDECIDED = (0.1, 0.9)  # alpha strictly between these is undecided
OUTLINE_FRACTION = 0.01  # the outline band's half-width, as a share of the mask's longer side (at least 1 px)
SCALE = 0.1  # an undecided share of 0.1 of the subject gives 1/e; 0.1 * ln 2 = 0.069 gives 0.5
MIN_SUBJECT = 0.001  # a subject smaller than this share of the frame is no subject
REVIEW_BELOW = 0.5  # the cut SCALE is calibrated for: below it, a cut-out is likely to be wrong


def undecided_share(mask: np.ndarray) -> float:
    """Undecided pixels away from the outline, per pixel of subject (alpha > 0.5 or undecided)."""
    alpha = mask.astype(np.float32, copy=False)
    solid = (alpha > 0.5).astype(np.uint8)
    undecided = (alpha > UNDECIDED[0]) & (alpha < UNDECIDED[1])
    subject = np.count_nonzero(solid | undecided)
    if subject == 0:
        return 1.0
    width = max(1, round(OUTLINE_FRACTION * max(alpha.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    outline = cv2.morphologyEx(solid, cv2.MORPH_GRADIENT, kernel).astype(bool)
    return float(np.count_nonzero(undecided & ~outline) / subject)


def has_subject(mask: np.ndarray) -> bool:
    """Whether the mask keeps at least MIN_SUBJECT of the frame."""
    return np.count_nonzero(mask > 0.5) >= MIN_SUBJECT * mask.size


def cutout_confidence(mask: np.ndarray) -> float:
    """0 (surely wrong) to 1 (clean): exp(-undecided share / SCALE), 0 when there is next to no subject."""
    if not has_subject(mask):
        return 0.0
    return float(np.exp(-undecided_share(mask) / SCALE))
