"""Decoding uploads by content (orientation, colour modes, limits, reduced-scale JPEG) and encoding results."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from api.codecs import decode_image, encode_image
from api.errors import ApiError
from tests.tiny_model import product_photo

LIMIT = 50_000_000


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_exif_orientation_is_applied() -> None:
    image = Image.fromarray(product_photo(300, 200, box=(0, 0, 50, 50)))
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was rotated: display needs a 90 degree clockwise turn
    decoded = decode_image(encoded(image, "JPEG", exif=exif, quality=95), LIMIT)
    assert decoded.rgb.shape == (300, 200, 3)
    assert decoded.rgb[10, 190, 0] < 200 and decoded.rgb[10, 10, 0] > 240, "the dark corner moved to the top right"


@pytest.mark.parametrize("mode", ["CMYK", "L", "RGB"])
def test_jpeg_colour_modes_become_rgb(mode: str) -> None:
    decoded = decode_image(encoded(Image.fromarray(product_photo()).convert(mode), "JPEG", quality=95), LIMIT)
    assert decoded.rgb.shape == (240, 320, 3) and decoded.rgb.dtype == np.uint8
    assert decoded.alpha is None
    assert decoded.rgb[5, 5].min() >= 235, "white stays white"


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (8, 1))
    decoded = decode_image(encoded(Image.fromarray(ramp), "PNG"), LIMIT)
    assert decoded.rgb[0, 0, 0] == 0 and decoded.rgb[0, -1, 0] == 255
    assert 120 <= decoded.rgb[0, 128, 0] <= 135


def test_palette_transparency_is_kept_as_alpha() -> None:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    image.paste(1, (10, 10, 30, 30))
    decoded = decode_image(encoded(image, "PNG", transparency=0), LIMIT)
    assert decoded.alpha is not None
    assert decoded.alpha[0, 0] == 0 and decoded.alpha[20, 20] == 1
    assert tuple(decoded.rgb[0, 0]) == (255, 255, 255), "transparent areas are flattened on white for the model"


def test_webp_is_accepted() -> None:
    decoded = decode_image(encoded(Image.fromarray(product_photo()), "WEBP", quality=90), LIMIT)
    assert decoded.source_format == "webp" and decoded.rgb.shape == (240, 320, 3)


def test_large_jpeg_decodes_at_reduced_scale_when_asked() -> None:
    data = encoded(Image.fromarray(product_photo(2000, 1600)), "JPEG", quality=90)
    assert decode_image(data, LIMIT).rgb.shape == (1600, 2000, 3)
    reduced = decode_image(data, LIMIT, min_side=400)
    assert reduced.rgb.shape == (400, 500, 3), "DCT scaling to 1/4, still covering 400 px"
    assert reduced.source_size == (2000, 1600)


def test_pixel_limit_is_checked_before_decoding() -> None:
    bomb = encoded(Image.new("L", (6000, 6000)), "PNG")
    with pytest.raises(ApiError) as caught:
        decode_image(bomb, 10_000_000)
    assert caught.value.status == 413 and "megapixels" in caught.value.message


def test_gif_is_refused_by_content() -> None:
    with pytest.raises(ApiError) as caught:
        decode_image(encoded(Image.new("RGB", (8, 8)), "GIF"), LIMIT)
    assert caught.value.status == 415


@pytest.mark.parametrize("fmt,pil", [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_encode_round_trip(fmt: str, pil: str) -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[5:15, 5:25, 3] = 255
    image = Image.open(io.BytesIO(encode_image(rgba, fmt, quality=95, dpi=300)))
    assert image.format == pil and image.size == (30, 20)
    if fmt == "jpeg":
        assert np.asarray(image)[0, 0].min() >= 245, "JPEG has no alpha: transparent areas become white"
    else:
        assert np.asarray(image.convert("RGBA"))[0, 0, 3] == 0
    if fmt != "webp":
        assert round(image.info["dpi"][0]) == 300, "print resolution is recorded"
