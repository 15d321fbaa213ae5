"""The cut-out confidence: clean masks score high, undecided ones low, an empty one 0."""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.confidence import cutout_confidence, undecided_share


def disc(size: int = 256, radius: int = 80) -> np.ndarray:
    """A subject with a one-pixel soft outline, as a sure model gives it."""
    mask = np.zeros((size, size), np.float32)
    cv2.circle(mask, (size // 2, size // 2), radius, 1.0, -1, lineType=cv2.LINE_AA)
    return mask


def test_a_clean_mask_is_confident() -> None:
    assert undecided_share(disc()) == 0.0, "the soft outline itself is not doubt"
    assert cutout_confidence(disc()) == 1.0


def test_a_wide_uncertain_band_scores_lower_than_a_clean_mask() -> None:
    band = cv2.GaussianBlur(disc(), (0, 0), 12)
    assert cutout_confidence(band) < 0.5 < cutout_confidence(disc())


def test_a_half_transparent_subject_scores_lower_the_more_of_it_is_undecided() -> None:
    scores = []
    for hole in (10, 30, 50):
        mask = disc()
        cv2.circle(mask, (128, 128), hole, 0.5, -1)
        scores.append(cutout_confidence(mask))
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_no_subject_is_no_confidence() -> None:
    assert cutout_confidence(np.zeros((256, 256), np.float32)) == 0.0
    assert cutout_confidence(np.full((256, 256), 0.3, np.float32)) == 0.0
