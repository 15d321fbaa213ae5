"""Refining only the subject's window (at the output's scale when that is smaller) gives the whole-frame result."""

from __future__ import annotations

import numpy as np
import pytest

from postprocess.layout import plan, subject_box
from postprocess.params import LayoutParams, MaskParams, ShadowParams
from postprocess.pipeline import compose, cutout, windowed_cutout
from postprocess.window import Window, subject_window
from scenes.synthetic import degrade_mask, make_scene

SIZE = 1200


@pytest.fixture(scope="module")
def small_subject() -> tuple[np.ndarray, np.ndarray]:
    """A product in the middle third of a large frame, and a model-like mask of it."""
    scene = make_scene(5, 400, "matte")
    image = np.full((SIZE, SIZE, 3), scene.image[2, 2], np.uint8)
    alpha = np.zeros((SIZE, SIZE), np.float32)
    image[400:800, 400:800], alpha[400:800, 400:800] = scene.image, scene.alpha
    return image, degrade_mask(alpha, 5, "matte", size=300)


def _refine(image: np.ndarray, mask: np.ndarray, layout: LayoutParams | None, shadow: ShadowParams = ShadowParams(),
            params: MaskParams = MaskParams()) -> tuple[np.ndarray, Window]:
    return windowed_cutout(image, mask, params, layout, shadow)


def test_window_cutout_equals_the_whole_frame_cutout(small_subject) -> None:
    image, mask = small_subject
    whole = cutout(image, mask, MaskParams())
    rgba, window = _refine(image, mask, None)
    x0, y0, x1, y1 = window.box
    assert window.scale == 1.0 and (x1 - x0) * (y1 - y0) < 0.5 * SIZE * SIZE, "the window is the subject's, not the frame"
    assert int(whole[..., 3].sum()) == int(whole[y0:y1, x0:x1, 3].sum()), "no alpha outside the window"
    pasted = window.paste(rgba, SIZE, SIZE)
    a, b = whole[..., 3] > 127, pasted[..., 3] > 127
    assert (a & b).sum() / (a | b).sum() > 0.999
    assert np.abs(whole.astype(int) - pasted)[b].mean() < 0.05


def test_fixed_small_output_refines_near_the_output_scale(small_subject) -> None:
    image, mask = small_subject
    layout = LayoutParams(size="200x200", padding=0.1)
    rgba, window = _refine(image, mask, layout)
    x0, y0, x1, y1 = subject_box(cutout(image, mask, MaskParams())[..., 3], True)
    slot_scale = 160 / max(x1 - x0, y1 - y0)
    assert slot_scale < window.scale < 1.25 * slot_scale < 1, "refined a little above the output's scale"
    assert rgba.shape[:2] == window.size[::-1]
    placement = plan(subject_box(rgba[..., 3], True), layout)
    assert max(placement.scale) <= 1.0, "the refined subject is still shrunk into place, never enlarged"
    whole = compose(cutout(image, mask, MaskParams()), layout, ShadowParams(mode="drop"))
    fast = compose(rgba, layout, ShadowParams(mode="drop"))
    assert fast.shape == whole.shape == (200, 200, 3)
    assert np.abs(fast.astype(int) - whole).mean() < 2.0


@pytest.mark.parametrize("case", ["raw mask", "natural shadow", "uncropped layout"])
def test_whole_frame_where_pixels_outside_the_subject_matter(small_subject, case: str) -> None:
    image, mask = small_subject
    params = MaskParams(refine=False) if case == "raw mask" else MaskParams()
    shadow = ShadowParams(mode="natural") if case == "natural shadow" else ShadowParams()
    layout = LayoutParams(crop=False) if case == "uncropped layout" else None
    window = subject_window(mask, SIZE, SIZE, params, layout, shadow)
    assert window.box == (0, 0, SIZE, SIZE) and window.mask_box == (0, 0, *mask.shape[::-1])


def test_a_far_speck_does_not_widen_the_window(small_subject) -> None:
    image, mask = small_subject
    speckled = mask.copy()
    speckled[5:7, 5:7] = 0.9
    window = subject_window(speckled, SIZE, SIZE, MaskParams(), None, ShadowParams())
    assert window.box[0] > 200 and window.box[1] > 200
    kept = subject_window(speckled, SIZE, SIZE, MaskParams(clean=False), None, ShadowParams())
    assert kept.box[:2] == (0, 0)


def test_empty_mask_keeps_the_frame_and_a_scaled_window_cannot_be_pasted(small_subject) -> None:
    image, mask = small_subject
    window = subject_window(np.zeros_like(mask), SIZE, SIZE, MaskParams(), None, ShadowParams())
    assert window.box == (0, 0, SIZE, SIZE)
    scaled = subject_window(mask, SIZE, SIZE, MaskParams(), LayoutParams(size="100x100"), ShadowParams())
    with pytest.raises(ValueError, match="scale"):
        scaled.paste(np.zeros((*scaled.size[::-1], 4), np.uint8), SIZE, SIZE)
