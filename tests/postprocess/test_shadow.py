"""Shadows: below the product, never above it; natural mode carries the photo's own."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from postprocess.params import LayoutParams, MaskParams, ShadowParams
from postprocess.pipeline import compose, cutout
from postprocess.shadow import VISIBLE, blur, visible_part
from tests.postprocess.helpers import rgba_rect
from scenes.synthetic import degrade_mask, make_scene

LAYOUT = LayoutParams(padding="25%", background="FFFFFF")


def _object_rows(out: np.ndarray, reference: np.ndarray) -> tuple[int, int]:
    """Top and bottom (exclusive) rows of the object, from the shadowless composite."""
    rows = np.flatnonzero((reference < 250).any(axis=(1, 2)))
    return int(rows[0]), int(rows[-1]) + 1


def test_drop_shadow_is_below_not_above() -> None:
    rgba = rgba_rect(colour=(200, 200, 200))
    plain = compose(rgba, LAYOUT, ShadowParams(mode="none"))
    shaded = compose(rgba, LAYOUT, ShadowParams(mode="drop"))
    top, bottom = _object_rows(shaded, plain)
    assert shaded[:top].min() == 255, "nothing above the product"
    below = shaded[bottom:].astype(int)
    assert below.min() < 200, "a visible shadow under the product"
    assert (below < 250).sum() > 100


@pytest.mark.parametrize("direction", [0.0, 45.0, 135.0])
def test_drop_shadow_follows_direction(direction: float) -> None:
    rgba = rgba_rect(colour=(200, 200, 200))
    params = ShadowParams(mode="drop", direction=direction, offset=0.1, contact_opacity=0.0, squash=0.3)
    shaded = compose(rgba, LAYOUT, params).astype(int)
    dark = np.argwhere(shaded.min(axis=2) < 240)
    expected = np.sign(np.cos(np.radians(direction)))
    centre_x = shaded.shape[1] / 2
    assert np.sign(round(dark[:, 1].mean() - centre_x)) == expected


def test_natural_shadow_comes_from_the_photo() -> None:
    scene = make_scene(21, 384, "matte")
    rgba = cutout(scene.image, degrade_mask(scene.alpha, 21, "matte"), MaskParams())
    layout = LayoutParams(padding="15%")
    plain = compose(rgba, layout, ShadowParams(mode="none"))
    natural = compose(rgba, layout, ShadowParams(mode="natural")).astype(int)
    top, bottom = _object_rows(natural, plain)
    assert natural[:top].min() >= 250, "no shadow above the product"
    darkening = plain.astype(int)[bottom : bottom + 12] - natural[bottom : bottom + 12]
    assert darkening.max() > 20, "the studio floor shadow under the product is carried over"
    none = compose(rgba, layout, ShadowParams(mode="natural", strength=0.0))
    np.testing.assert_array_equal(none, plain)


def test_natural_shadow_without_photo_pixels_is_empty() -> None:
    rgba = rgba_rect(colour=(200, 200, 200))
    plain = compose(rgba, LAYOUT, ShadowParams(mode="none"))
    natural = compose(rgba, LAYOUT, ShadowParams(mode="natural"))
    np.testing.assert_array_equal(natural, plain)


def test_natural_shadow_keeps_floor_shadow_but_not_dust() -> None:
    photo = np.full((400, 400, 3), 240, np.uint8)
    photo[300:312, 100:300] = 150
    photo[340:346, 200:206] = 60
    rgba = np.dstack([photo, np.zeros((400, 400), np.uint8)])
    rgba[150:300, 120:280, :3] = (30, 60, 200)
    rgba[150:300, 120:280, 3] = 255
    layout = LayoutParams(crop=False, padding=0)
    out = compose(rgba, layout, ShadowParams(mode="natural")).astype(int)
    assert out[303:309, 130:270].mean() < 190, "the floor shadow under the product is kept"
    assert out[341:345, 201:205].min() > 235, "a dust speck on the floor is not"


@pytest.mark.parametrize("size", [(1000, 700), (64, 64), (333, 517)])
def test_visible_part_is_the_upsampled_map_where_it_can_show(size: tuple[int, int]) -> None:
    low = np.zeros((40, 30), np.float32)
    low[12:20, 0:9] = 1.0  # touching the left border
    low = cv2.GaussianBlur(low, (0, 0), 3.0)  # smooth, as shadows are
    low[39, 29] = 0.01  # a lone visible cell in the corner
    width, height = size
    full = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
    part = visible_part(low, width, height)
    h, w = part.opacity.shape
    level = 1 / 255  # the warp samples at 1/32 px: on a smooth map that stays within an 8-bit level
    np.testing.assert_allclose(part.opacity, full[part.y : part.y + h, part.x : part.x + w], atol=level)
    outside = full.copy()
    outside[part.y : part.y + h, part.x : part.x + w] = 0.0
    assert outside.max() < VISIBLE, "every pixel that can show is in the part"
    assert visible_part(np.full((4, 4), VISIBLE / 2, np.float32), width, height) is None


@pytest.mark.parametrize("sigma", [0.5, 3.0, 15.0])
@pytest.mark.parametrize("where", ["interior", "corner", "everywhere"])
def test_blurring_around_the_shadow_gives_the_whole_canvas_blur(sigma: float, where: str) -> None:
    plane = np.zeros((240, 320), np.float32)
    rng = np.random.default_rng(0)
    region = {"interior": np.s_[150:170, 90:250], "corner": np.s_[225:, 300:], "everywhere": np.s_[:, :]}[where]
    plane[region] = rng.random(plane[region].shape, dtype=np.float32)
    np.testing.assert_allclose(blur(plane, sigma), cv2.GaussianBlur(plane, (0, 0), sigma), rtol=0, atol=1e-6)
