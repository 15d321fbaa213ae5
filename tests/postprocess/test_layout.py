"""Layout: crop to subject, exact padding, sizes, aspect presets, backgrounds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from postprocess.layout import MILD_SHRINK, shrink_interpolation
from postprocess.params import LayoutParams, ShadowParams
from postprocess.pipeline import compose
from tests.postprocess.helpers import rgba_rect

NO_SHADOW = ShadowParams(mode="none")


def _bbox(alpha: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _margins(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) transparent margins around the subject."""
    x0, y0, x1, y1 = _bbox(alpha)
    return x0, y0, alpha.shape[1] - x1, alpha.shape[0] - y1


def test_pixel_padding_is_exact() -> None:
    out = compose(rgba_rect(), LayoutParams(padding="40px", background="transparent"), NO_SHADOW)
    assert out.shape == (200 + 80, 100 + 80, 4)
    assert _margins(out[..., 3]) == (40, 40, 40, 40)


def test_ratio_padding_is_share_of_shorter_side() -> None:
    out = compose(rgba_rect(), LayoutParams(padding=0.1, background="transparent"), NO_SHADOW)
    height, width = out.shape[:2]
    pad = _margins(out[..., 3])[0]
    assert pad == round(0.1 * min(width, height)) or abs(pad - 0.1 * min(width, height)) <= 1
    assert len(set(_margins(out[..., 3]))) == 1


def test_fixed_size_fits_object_with_exact_padding_on_limiting_axis() -> None:
    out = compose(
        rgba_rect(), LayoutParams(size="1000x800", padding="10%", background="transparent"), NO_SHADOW
    )
    assert out.shape == (800, 1000, 4)
    left, top, right, bottom = _margins(out[..., 3])
    assert (top, bottom) == (80, 80)
    assert abs(left - right) <= 1 and left > 80


def test_bottom_alignment_puts_product_on_the_bottom_margin() -> None:
    layout = LayoutParams(size="600x600", padding="30px", align="bottom", background="transparent")
    out = compose(rgba_rect(box=(10, 10, 300, 60)), layout, NO_SHADOW)
    left, top, right, bottom = _margins(out[..., 3])
    assert bottom == 30 and (left, right) == (30, 30) and top > 30


def test_aspect_preset_shapes_the_canvas() -> None:
    out = compose(
        rgba_rect(), LayoutParams(aspect="4:5", padding="20px", background="transparent"), NO_SHADOW
    )
    height, width = out.shape[:2]
    assert abs(width / height - 0.8) < 0.01
    assert min(_margins(out[..., 3])) >= 20


def test_no_crop_keeps_the_whole_frame() -> None:
    out = compose(rgba_rect(), LayoutParams(crop=False, padding=0, background="transparent"), NO_SHADOW)
    assert out.shape == (300, 400, 4)
    assert _bbox(out[..., 3]) == (37, 50, 137, 250)


def test_opaque_background_colour_gives_rgb() -> None:
    out = compose(rgba_rect(), LayoutParams(background="#336699"), NO_SHADOW)
    assert out.shape[2] == 3
    assert tuple(out[0, 0]) == (0x33, 0x66, 0x99)
    assert tuple(out[out.shape[0] // 2, out.shape[1] // 2]) == (10, 120, 200)


def test_translucent_background_gives_rgba() -> None:
    out = compose(rgba_rect(), LayoutParams(background="FF000080"), NO_SHADOW)
    assert out.shape[2] == 4
    assert tuple(out[0, 0]) == (255, 0, 0, 128)


def test_background_image_is_cover_fitted() -> None:
    background = np.zeros((50, 300, 3), np.uint8)
    background[:, :150] = (0, 255, 0)
    background[:, 150:] = (0, 0, 255)
    out = compose(rgba_rect(), LayoutParams(padding="20px"), NO_SHADOW, background_image=background)
    assert out.shape == (240, 140, 3)
    assert tuple(out[0, 0]) == (0, 255, 0) and tuple(out[0, -1]) == (0, 0, 255)


@pytest.mark.parametrize("size", ["400x400", "150x900"])
def test_downscaled_and_upscaled_object_keeps_padding(size: str) -> None:
    out = compose(rgba_rect(), LayoutParams(size=size, padding="12px", background="transparent"), NO_SHADOW)
    assert min(_margins(out[..., 3])) == 12


@pytest.mark.parametrize("seed", range(6))
def test_random_layouts_keep_the_promised_geometry(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(40, 400, 2))
    x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
    box = (x0, y0, int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1)))
    size = f"{rng.integers(50, 900)}x{rng.integers(50, 900)}"
    pad = int(rng.integers(0, 20))
    for shadow in ("none", "drop", "natural"):
        layout = LayoutParams(size=size, padding=f"{pad}px", background="transparent")
        out = compose(rgba_rect(size=(h, w), box=box), layout, ShadowParams(mode=shadow))
        assert out.shape[:2] == tuple(int(v) for v in size.split("x"))[::-1]
        if shadow == "none":
            assert min(_margins(out[..., 3])) == pad


def test_strong_shrinks_average_fine_detail_and_mild_ones_interpolate() -> None:
    """A one-pixel checkerboard shrunk to 0.6 must come out an even grey (area averaging; bilinear aliases it into
    stripes); shrinks down to MILD_SHRINK take OpenCV's much faster bilinear path."""
    assert shrink_interpolation(0.9) == shrink_interpolation(MILD_SHRINK) == cv2.INTER_LINEAR
    assert shrink_interpolation(0.6) == cv2.INTER_AREA
    checker = (np.indices((200, 200)).sum(axis=0) % 2 * 255).astype(np.uint8)
    photo = np.dstack([checker, checker, checker, np.full_like(checker, 255)])
    out = compose(photo, LayoutParams(size="120x120", padding="0px", background="FFFFFF"), NO_SHADOW)
    assert out.shape == (120, 120, 3)
    assert np.ptp(out[2:-2, 2:-2]) <= 16, "area averaging leaves an even grey (bilinear: stripes of 0-255)"
