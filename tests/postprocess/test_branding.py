"""Branding bar, fonts and named templates."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from postprocess.branding import load_template as load_from
from postprocess.branding import save_template, template_names
from postprocess.params import BrandingParams
from postprocess.pipeline import load_template, render_template


def _white(h: int = 400, w: int = 600) -> np.ndarray:
    return np.full((h, w, 3), 255, np.uint8)


def test_opaque_bar_at_bottom_has_exact_colour_and_height() -> None:
    out = render_template(_white(), BrandingParams(bar_color="FF0000", bar_height="40px"))
    assert out.shape == (400, 600, 3)
    assert (out[360:] == (255, 0, 0)).all()
    assert (out[:360] == 255).all()


def test_translucent_bar_at_top_blends_with_image() -> None:
    out = render_template(_white(), BrandingParams(bar_color="000000B3", position="top", bar_height=0.1))
    expected = round(255 * (1 - 0xB3 / 255))
    assert np.abs(out[:40].astype(int) - expected).max() <= 1
    assert (out[40:] == 255).all()


def test_text_is_drawn_in_text_colour() -> None:
    params = BrandingParams(text="Camera Store", bar_color="000000", text_color="00FF00", bar_height="60px")
    out = render_template(_white(), params)
    bar = out[340:].reshape(-1, 3)
    green = (bar[:, 1] > 200) & (bar[:, 0] < 50)
    assert green.sum() > 200
    assert (out[340:, :5] == 0).all(), "margins of the bar stay bar colour"


def test_logo_is_composited_in_the_bar() -> None:
    logo = Image.new("RGBA", (100, 100), (0, 0, 255, 255))
    data = io.BytesIO()
    logo.save(data, format="PNG")
    out = render_template(
        _white(), BrandingParams(bar_color="000000", bar_height="50px", logo=data.getvalue())
    )
    blue = (out[350:, :, 2] > 200) & (out[350:, :, 0] < 50)
    assert blue.sum() > 300
    assert np.flatnonzero(blue.any(axis=0)).max() < 100, "logo sits at the left"


def test_rgba_stays_rgba_and_bar_is_opaque_over_transparency() -> None:
    image = np.zeros((100, 100, 4), np.uint8)
    out = render_template(image, BrandingParams(bar_color="00000080", bar_height="10px"))
    assert out.shape == (100, 100, 4)
    assert (out[90:, :, 3] == 128).all() and (out[:90, :, 3] == 0).all()


def test_template_loads_by_name() -> None:
    params = load_template("shop-default")
    assert isinstance(params, BrandingParams) and params.text
    assert "shop-default" in template_names()


def test_unknown_template_lists_known_names() -> None:
    with pytest.raises(KeyError, match="shop-default"):
        load_template("no-such-template")


def test_template_round_trip(tmp_path) -> None:
    params = BrandingParams(text="SALE", bar_color="C8102EE6", position="top", logo=b"\x89PNG\r\n\x1a\n")
    save_template("my-sale", params, tmp_path)
    assert load_from("my-sale", tmp_path) == params
    with pytest.raises(ValueError):
        save_template("../escape", params, tmp_path)
