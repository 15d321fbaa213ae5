"""The public contract used by the service."""

from __future__ import annotations

import numpy as np
import pytest

from postprocess.params import LayoutParams, MaskParams, ShadowParams
from postprocess.pipeline import compose, cutout
from scenes.synthetic import degrade_mask, make_scene


def test_cutout_full_resolution_rgba_from_square_low_res_mask() -> None:
    scene = make_scene(3, 512, "glossy")
    image = np.ascontiguousarray(scene.image[:, 64:448])
    mask = degrade_mask(np.ascontiguousarray(scene.alpha[:, 64:448]), 3, size=128)
    assert mask.shape == (128, 128)
    rgba = cutout(image, mask, MaskParams())
    assert rgba.shape == (512, 384, 4) and rgba.dtype == np.uint8
    hidden = rgba[..., 3] == 0
    np.testing.assert_array_equal(rgba[..., :3][hidden], image[hidden])


def test_compose_outputs_rgb_for_white_and_rgba_for_transparent() -> None:
    scene = make_scene(4, 256, "matte")
    rgba = cutout(scene.image, degrade_mask(scene.alpha, 4, "matte"), MaskParams())
    assert compose(rgba, LayoutParams(), ShadowParams()).shape[2] == 3
    out = compose(rgba, LayoutParams(background="transparent"), ShadowParams())
    assert out.shape[2] == 4
    assert out[0, 0, 3] == 0 and out[..., 3].max() == 255


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="uint8"):
        cutout(np.zeros((10, 10, 3), np.float32), np.zeros((5, 5), np.float32), MaskParams())
    with pytest.raises(ValueError, match="HxW"):
        cutout(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 5, 1), np.float32), MaskParams())
    with pytest.raises(ValueError, match="rgba"):
        compose(np.zeros((10, 10, 3), np.uint8), LayoutParams(), ShadowParams())


def test_empty_mask_gives_transparent_cutout_and_plain_background() -> None:
    image = np.full((64, 64, 3), 250, np.uint8)
    rgba = cutout(image, np.zeros((16, 16), np.float32), MaskParams())
    assert rgba[..., 3].max() == 0
    out = compose(rgba, LayoutParams(), ShadowParams())
    assert (out == 255).all()
