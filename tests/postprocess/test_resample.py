"""Resizing: whole-block steps that OpenCV averages fast, and results that are still area averages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from postprocess.resample import integer_step, resize
from tests.tiny_model import product_photo


@pytest.mark.parametrize(("source", "target", "step"), [((4000, 4000), (1024, 1024), 2),
                                                      ((6000, 4000), (1024, 683), 5),
                                                      ((4001, 4000), (1024, 1024), 1),
                                                      ((1500, 1500), (1024, 1024), 1)])
def test_integer_step_divides_both_sides_and_keeps_the_target_reachable(source: tuple[int, int],
                                                                       target: tuple[int, int], step: int) -> None:
    assert integer_step(*source, *target) == step


def test_large_shrinks_average_every_pixel_and_match_a_direct_area_resize() -> None:
    """The two-step shrink (whole blocks, then the rest) must still be an area average: a one-pixel checkerboard
    becomes flat grey (no aliasing), and a studio shot matches OpenCV's direct area resize."""
    checkerboard = (np.indices((1200, 1600)).sum(axis=0) % 2 * 255).astype(np.uint8)
    grey = resize(np.dstack([checkerboard] * 3), 300, 225)
    assert np.abs(grey.astype(np.int16) - 128).max() <= 8  # direct area: 2, bilinear (aliased): 57
    photo = product_photo(1600, 1200, (410, 333, 1190, 901))
    difference = np.abs(resize(photo, 300, 225).astype(np.int16)
                        - cv2.resize(photo, (300, 225), interpolation=cv2.INTER_AREA))
    assert difference.mean() < 0.25 and difference.max() <= 40  # shifted by 3 source pixels: 0.46 and 116


def test_resize_returns_the_image_at_its_own_size_and_grows_bilinearly() -> None:
    image = product_photo(64, 48)
    assert resize(image, 64, 48) is image
    np.testing.assert_array_equal(resize(image, 128, 40), cv2.resize(image, (128, 40), interpolation=cv2.INTER_LINEAR))
