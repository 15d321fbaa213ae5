"""Colour decontamination: no white fringe when a white-background cut-out goes on black."""

from __future__ import annotations

import numpy as np
import pytest

import postprocess.decontaminate as decontaminate_module
from postprocess.decontaminate import SPARSE_BAND_SHARE, decontaminate, edge_band
from postprocess.params import MaskParams
from postprocess.pipeline import cutout
from tests.postprocess.helpers import disc_scene


def _edge_error(rgb: np.ndarray, alpha: np.ndarray, fg: np.ndarray) -> float:
    """Mean colour error of the composite over black in the soft band vs the true composite."""
    band = (alpha > 0.1) & (alpha < 0.9)
    pred = alpha[band, None] * rgb[band].astype(np.float32)
    true = alpha[band, None] * fg
    return float(np.abs(pred - true).mean())


def test_edge_colour_close_to_true_foreground_on_black() -> None:
    image, alpha, fg = disc_scene(soft=4.0)
    raw = _edge_error(image, alpha, fg)
    clean = _edge_error(decontaminate(image, alpha, iterations=2), alpha, fg)
    assert raw > 30
    assert clean < 3 and clean < 0.1 * raw


def test_cutout_decontaminates_better_than_not() -> None:
    image, alpha, fg = disc_scene(size=512, soft=6.0)
    on = cutout(image, alpha[::2, ::2].copy(), MaskParams())
    off = cutout(image, alpha[::2, ::2].copy(), MaskParams(decontaminate=False))
    a_on, a_off = on[..., 3] / 255.0, off[..., 3] / 255.0
    assert _edge_error(on[..., :3], a_on, fg) < 0.5 * _edge_error(off[..., :3], a_off, fg)


def test_pixels_outside_the_band_untouched() -> None:
    image, alpha, _ = disc_scene()
    out = decontaminate(image, alpha, iterations=2)
    solid = (alpha == 0.0) | (alpha == 1.0)
    np.testing.assert_array_equal(out[solid], image[solid])


def test_thin_bands_solved_sparsely_match_the_dense_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thin outline on a large level takes the pixel-list path; it must give what full-size arrays give."""
    image, alpha, fg = disc_scene(size=1200, soft=3.0)
    assert np.count_nonzero(edge_band(alpha)) < SPARSE_BAND_SHARE * alpha.size / 4, "the band is thin"
    sparse = decontaminate(image, alpha, iterations=2)
    monkeypatch.setattr(decontaminate_module, "SPARSE_BAND_SHARE", 0.0)
    dense = decontaminate(image, alpha, iterations=2)
    assert np.abs(sparse.astype(int) - dense.astype(int)).max() <= 2
    assert _edge_error(sparse, alpha, fg) < 3


def test_alpha_levels_give_what_their_float_values_give() -> None:
    """The cut-out passes its uint8 alpha channel: the band and the solve must be those of alpha / 255."""
    image, alpha, _ = disc_scene(soft=4.0)
    levels = np.round(alpha * 255).astype(np.uint8)
    assert 0 < np.count_nonzero(levels == 1) and 0 < np.count_nonzero(levels == 254), "the band's ends are present"
    np.testing.assert_array_equal(decontaminate(image, levels, iterations=2),
                                  decontaminate(image, levels / np.float32(255.0), iterations=2))
