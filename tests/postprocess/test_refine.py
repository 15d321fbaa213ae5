"""Guided upsampling: real edges at full resolution, thin structures kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from postprocess import metrics, refine
from postprocess.params import MaskParams
from postprocess.refine import align_to_image, guided_coefficients, guided_upsample, upsample
from tests.postprocess.helpers import leg_scene, model_mask
from scenes.synthetic import degrade_mask, make_scene

P = MaskParams()


def _refine(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return guided_upsample(image, mask, P.guide_radius, P.guide_eps, P.confidence_power, P.sharpen, P.align)


def test_guided_refine_beats_plain_resize_on_synthetic_scene() -> None:
    scene = make_scene(11, 512, "dark")
    mask = degrade_mask(scene.alpha, 11, "dark")
    plain = upsample(mask, 512, 512)
    refined = _refine(scene.image, mask)
    assert refined.shape == scene.alpha.shape and refined.dtype == np.float32
    assert metrics.boundary_f(refined, scene.alpha) > metrics.boundary_f(plain, scene.alpha) + 0.2
    assert metrics.mae(refined, scene.alpha) < 0.6 * metrics.mae(plain, scene.alpha)
    assert metrics.iou(refined, scene.alpha) >= metrics.iou(plain, scene.alpha)


def test_three_pixel_leg_survives_refine() -> None:
    image, alpha = leg_scene(leg_width=3)
    mask = model_mask(alpha)
    assert mask[96:208, 64].max() < 0.5, "the model's leg must be faint for this test to mean anything"
    refined = _refine(image, mask)
    leg = refined[200:440, 255:258]
    assert leg.max(axis=1).min() > 0.5, "leg never breaks"
    assert leg.mean() > 0.7, "leg stays nearly opaque (edge sharpening)"
    assert refined[200:440, 250].max() < 0.1 and refined[200:440, 262].max() < 0.1


def test_refine_accepts_non_square_mask_and_keeps_image_size() -> None:
    image, alpha = leg_scene()
    wide = np.ascontiguousarray(image[:, :384])
    mask = cv2.resize(model_mask(alpha)[:, :96], (70, 100), interpolation=cv2.INTER_AREA)
    assert _refine(wide, mask).shape == (512, 384)


def test_confident_regions_keep_the_models_answer() -> None:
    image, alpha = leg_scene()
    refined = _refine(image, model_mask(alpha))
    assert refined[5:30, 5:30].max() == 0.0
    assert refined[90:150, 200:300].min() == 1.0


def test_globally_offset_mask_is_realigned_and_aligned_mask_left_alone() -> None:
    scene = make_scene(12, 512, "matte")
    low = cv2.resize(scene.alpha, (128, 128), interpolation=cv2.INTER_AREA)
    guide = cv2.resize(scene.image, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    assert align_to_image(low, guide) is low
    offset = cv2.warpAffine(low, np.float32([[1, 0, 1.5], [0, 1, -1.0]]), (128, 128))
    realigned = align_to_image(offset, guide)
    assert np.abs(realigned - low).mean() < 0.3 * np.abs(offset - low).mean()


def test_refine_uses_alignment() -> None:
    scene = make_scene(12, 512, "matte")
    low = cv2.resize(scene.alpha, (128, 128), interpolation=cv2.INTER_AREA)
    offset = cv2.warpAffine(low, np.float32([[1, 0, 1.5], [0, 1, -1.0]]), (128, 128))
    args = (P.guide_radius, P.guide_eps, P.confidence_power, P.sharpen)
    aligned = guided_upsample(scene.image, offset, *args, align=True)
    unaligned = guided_upsample(scene.image, offset, *args, align=False)
    assert metrics.boundary_f(aligned, scene.alpha) > metrics.boundary_f(unaligned, scene.alpha) + 0.2



def _fitted(guide: np.ndarray, src: np.ndarray, eps: float) -> np.ndarray:
    """The guided filter's output a.guide + b on the guide's own grid."""
    a, b = guided_coefficients(guide, src, 3, eps)
    return np.einsum("hwc,hwc->hw", a, guide) + b


def test_guided_coefficients_resolve_tiny_local_variances_next_to_strong_contrast() -> None:
    """A tiny eps must follow a 1/1000 ramp on white beside a dark region (float32 moments would cancel it away)."""
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (64, 1))
    guide = np.concatenate([np.full((64, 64), 0.1, np.float32), 0.9 + 1e-3 * ramp], axis=1)
    guide = np.repeat(guide[..., None], 3, axis=2)
    src = np.concatenate([np.zeros_like(ramp), ramp], axis=1)
    fitted = _fitted(guide, src, 1e-12)
    assert np.abs(fitted - src)[8:-8, 72:-8].max() < 0.02


def test_guided_coefficients_in_float32_match_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """From FLOAT32_EPS up the moments are float32: the result must stay far below one 8-bit alpha level."""
    scene = make_scene(3, size=256, kind="white")
    guide = scene.image.astype(np.float32) / 255.0
    src = model_mask(scene.alpha, factor=1)
    eps = refine.FLOAT32_EPS
    fast = _fitted(guide, src, eps)
    monkeypatch.setattr(refine, "FLOAT32_EPS", np.inf)
    assert np.abs(fast - _fitted(guide, src, eps)).max() < 1e-4
