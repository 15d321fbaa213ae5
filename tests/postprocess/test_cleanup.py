"""Clean-up: islands go, pinholes close, thin structures stay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from postprocess.cleanup import MAX_BOX_SUMS, choke, clean, component_sums, fill_pinholes, remove_islands
from postprocess.params import MaskParams
from tests.postprocess.helpers import leg_scene

P = MaskParams()


def _body(size: int = 400) -> np.ndarray:
    alpha = np.zeros((size, size), np.float32)
    cv2.circle(alpha, (size // 2, size // 2), size // 4, 1.0, -1)
    return alpha


def test_small_islands_removed_body_untouched() -> None:
    alpha = _body()
    alpha[20:26, 20:26] = 0.9
    alpha[350:353, 30:34] = 0.6
    out = remove_islands(alpha, P.island_ratio, P.thin_ratio)
    assert out[20:26, 20:26].max() == 0.0 and out[350:353, 30:34].max() == 0.0
    np.testing.assert_array_equal(out[100:300, 100:300], alpha[100:300, 100:300])


@pytest.mark.parametrize("specks", [3, 2 * MAX_BOX_SUMS])
def test_component_sums_match_per_label_sums(specks: int) -> None:
    """Both ways of summing (box by box for a few components, a bincount for many) give each label's alpha mass,
    with nested components (a speck in a ring's hole) kept apart and one-pixel components counted."""
    rng = np.random.default_rng(specks)
    alpha = np.zeros((600, 600), np.float32)
    cv2.circle(alpha, (300, 300), 60, 0.7, 12)
    for y, x in rng.integers(0, 590, (specks, 2)):
        alpha[y:y + 3, x:x + 3] = rng.uniform(0.1, 1.0)
    alpha[298:302, 298:302] = 0.3
    alpha[0, 0] = 0.4  # a one-pixel component
    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).astype(np.uint8), connectivity=8)
    assert (count > MAX_BOX_SUMS) == (specks > MAX_BOX_SUMS), "the case must take the path it is named for"
    expected = [0.0] + [float(alpha[labels == label].sum(dtype=np.float64)) for label in range(1, count)]
    np.testing.assert_allclose(component_sums(alpha, labels, stats), expected, rtol=1e-6)


def test_pinholes_filled_real_holes_kept() -> None:
    alpha = _body()
    alpha[190:194, 190:194] = 0.0
    alpha[230:233, 170:173] = 0.6
    cv2.circle(alpha, (200, 200), 40, 0.0, -1)
    alpha[200:204, 260:264] = 0.0
    out = fill_pinholes(alpha, P.hole_ratio)
    assert out[200:204, 260:264].min() == 1.0
    assert out[230:233, 170:173].min() == 1.0
    assert out[185:215, 185:215].max() == 0.0, "a large hole (e.g. strap loop) is real"


def test_three_pixel_structures_survive_cleanup_and_choke() -> None:
    _, alpha = leg_scene(leg_width=3)
    alpha[20:170, 70:500] = 1.0
    strap = np.zeros_like(alpha)
    strap[280:430, 60:63] = 1.0
    alpha = np.maximum(alpha, strap)
    assert strap.sum() < P.island_ratio * alpha.sum(), "the strap is light enough to pass for an island"
    out = clean(alpha, P.island_ratio, P.thin_ratio, P.hole_ratio, erode_ratio=0.01)
    assert out[180:440, 255:258].min() > 0.9, "attached leg"
    assert out[280:430, 60:63].min() > 0.9, "detached strap"


def test_choke_erodes_thick_parts_by_object_size() -> None:
    alpha = _body()
    out = choke(alpha, erode_ratio=0.01)
    radius = round(0.01 * np.sqrt(np.count_nonzero(alpha >= 0.5)))
    assert radius >= 2
    row = out[200] >= 0.5
    assert row.sum() <= (alpha[200] >= 0.5).sum() - 2 * radius + 2
    assert choke(alpha, 0.0) is alpha
