"""White-on-white refinement: better on near-white products, inert on contrasty ones."""

from __future__ import annotations

import numpy as np

from postprocess import metrics
from postprocess.params import MaskParams
from postprocess.pipeline import refine_alpha
from scenes.synthetic import degrade_mask, make_scene


def test_white_on_white_improves_iou_and_boundary() -> None:
    scene = make_scene(2001, 512, "white")
    mask = degrade_mask(scene.alpha, 2001, "white")
    before = refine_alpha(scene.image, mask, MaskParams(white_on_white=False))
    after = refine_alpha(scene.image, mask, MaskParams())
    assert metrics.iou(after, scene.alpha) > metrics.iou(before, scene.alpha) + 0.01
    assert metrics.boundary_f(after, scene.alpha) > metrics.boundary_f(before, scene.alpha) + 0.1


def test_inert_on_dark_products() -> None:
    scene = make_scene(5, 384, "dark")
    mask = degrade_mask(scene.alpha, 5, "dark")
    before = refine_alpha(scene.image, mask, MaskParams(white_on_white=False))
    after = refine_alpha(scene.image, mask, MaskParams())
    assert np.abs(after - before).max() < 0.02
