"""Parameter validation: clear pydantic errors for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from postprocess.params import BrandingParams, LayoutParams, MaskParams, ShadowParams, parse_color


@pytest.mark.parametrize("bad", ["FFF", "GG0000", "#12345", "red", "FFFFFF0"])
def test_bad_hex_colour_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError, match="RRGGBB"):
        LayoutParams(background=bad)
    with pytest.raises(ValidationError, match="RRGGBB"):
        BrandingParams(bar_color=bad)


def test_colour_forms() -> None:
    assert parse_color("#FF8000") == (255, 128, 0, 255)
    assert parse_color("ff800080") == (255, 128, 0, 128)
    assert parse_color("transparent") == (0, 0, 0, 0)


def test_padding_forms() -> None:
    assert LayoutParams(padding="10%").padding == pytest.approx(0.1)
    assert LayoutParams(padding=0.05).padding == pytest.approx(0.05)
    assert LayoutParams(padding="40px").padding == "40px"
    with pytest.raises(ValidationError, match="px"):
        LayoutParams(padding=40)
    with pytest.raises(ValidationError):
        LayoutParams(padding="50%")


def test_size_and_aspect() -> None:
    assert LayoutParams(size="2000x1500").size == "2000x1500"
    with pytest.raises(ValidationError, match="WIDTHxHEIGHT"):
        LayoutParams(size="2000")
    with pytest.raises(ValidationError, match="W:H"):
        LayoutParams(aspect="square")
    with pytest.raises(ValidationError, match="not both"):
        LayoutParams(size="100x100", aspect="1:1")


def test_bounds_and_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ShadowParams(opacity=1.5)
    with pytest.raises(ValidationError):
        ShadowParams(mode="soft")
    with pytest.raises(ValidationError):
        MaskParams(guide_radius=0)
    with pytest.raises(ValidationError, match="extra"):
        MaskParams(refine_edges=True)


def test_defaults_are_shop_ready() -> None:
    layout, shadow, mask = LayoutParams(), ShadowParams(), MaskParams()
    assert layout.background == "FFFFFF" and layout.crop and 0 < layout.padding < 0.45
    assert shadow.mode == "drop"
    assert mask.refine and mask.clean and mask.decontaminate and mask.white_on_white


def test_branding_logo_accepts_base64_in_json() -> None:
    params = BrandingParams.model_validate_json('{"text": "x", "logo": "iVBORw0KGgo="}')
    assert params.logo == b"\x89PNG\r\n\x1a\n"
