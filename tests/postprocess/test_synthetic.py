"""Synthetic studio scenes: deterministic, exact, shadows outside the alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from scenes.synthetic import KINDS, degrade_mask, make_scene, model_output


def test_deterministic_for_a_seed() -> None:
    a, b = make_scene(42, 256), make_scene(42, 256)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    assert not np.array_equal(a.alpha, make_scene(43, 256).alpha)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_with_exact_soft_alpha(kind: str) -> None:
    scene = make_scene(7, 256, kind)
    assert scene.kind == kind
    assert scene.image.shape == (256, 256, 3) and scene.image.dtype == np.uint8
    assert scene.alpha.dtype == np.float32 and scene.alpha.min() >= 0.0 and scene.alpha.max() <= 1.0
    soft = (scene.alpha > 0) & (scene.alpha < 1)
    assert soft.any(), "anti-aliased edges"
    assert scene.alpha[scene.floor + 2 :].max() == 0.0, "shadows on the floor are not alpha"


def test_floor_shadow_darkens_the_backdrop_below_the_product() -> None:
    scene = make_scene(9, 256, "matte")
    cols = np.flatnonzero(scene.alpha.max(axis=0) > 0.5)
    under = scene.image[scene.floor + 1 : scene.floor + 4, cols].mean()
    beside = scene.image[scene.floor + 1 : scene.floor + 4, :10].mean()
    assert under < beside - 10


def test_thin_kind_has_thin_structures() -> None:
    scene = make_scene(3, 1024, "thin")
    solid = scene.alpha > 0.5
    widths = solid.sum(axis=1)
    assert ((widths > 0) & (widths <= 12)).sum() > 50


def test_degrade_mask_is_low_res_and_deterministic() -> None:
    scene = make_scene(1, 256, "dark")
    mask = degrade_mask(scene.alpha, 5)
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    np.testing.assert_array_equal(mask, degrade_mask(scene.alpha, 5))
    assert degrade_mask(scene.alpha, 5, size=100).shape == (100, 100)
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_clutter_is_backdrop_but_the_model_takes_it_for_product() -> None:
    scene = make_scene(8, 512, "dark")
    debris = scene.clutter > 0.5
    assert debris.any() and scene.alpha[debris].max() == 0.0
    mask = model_output(scene, 8)
    grid = cv2.resize(debris.astype(np.float32), mask.shape[::-1], interpolation=cv2.INTER_AREA) > 0.25
    assert mask[grid].max() > 0.5
