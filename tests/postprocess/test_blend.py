"""Premultiplied uint8 layers: the same composites as the float formulas, within rounding."""

from __future__ import annotations

import numpy as np

from postprocess.blend import from_layer, over, solid, tinted, to_layer


def _float_over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Straight RGBA uint8 'over' in float64: the reference."""
    ta, ba = top[..., 3:] / 255.0, bottom[..., 3:] / 255.0
    alpha = ta + ba * (1 - ta)
    colour = (top[..., :3] * ta + bottom[..., :3] * ba * (1 - ta)) / np.maximum(alpha, 1e-9)
    return np.concatenate([colour, alpha * 255], axis=2)


def test_over_matches_float_compositing_on_opaque_bottoms() -> None:
    rng = np.random.default_rng(0)
    top = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    bottom = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    bottom[..., 3] = 255
    out = from_layer(over(to_layer(top), to_layer(bottom)), keep_alpha=False)
    assert np.abs(out - _float_over(top, bottom)[..., :3]).max() <= 2


def test_translucent_result_keeps_alpha_and_composites_within_two_levels() -> None:
    rng = np.random.default_rng(1)
    top = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    bottom = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    out = from_layer(over(to_layer(top), to_layer(bottom)), keep_alpha=True).astype(float)
    reference = _float_over(top, bottom)
    assert np.abs(out[..., 3] - reference[..., 3]).max() <= 1
    on_grey = out[..., :3] * out[..., 3:] / 255 + 128 * (1 - out[..., 3:] / 255)
    expected = reference[..., :3] * reference[..., 3:] / 255 + 128 * (1 - reference[..., 3:] / 255)
    assert np.abs(on_grey - expected).max() <= 2


def test_solid_and_tinted_layers_are_premultiplied() -> None:
    assert solid(2, 3, (200, 100, 50, 128)).reshape(-1, 4).tolist() == [[100, 50, 25, 128]] * 6
    layer = tinted(np.array([[0.0, 0.5, 1.0]], np.float32), (255, 0, 0, 128))
    assert layer[0, :, 3].tolist() == [0, 64, 128] and layer[0, :, 0].tolist() == [0, 64, 128]
    assert from_layer(layer, keep_alpha=True)[0, 2].tolist() == [255, 0, 0, 128]


def test_layers_round_trip_every_colour_and_alpha_within_rounding() -> None:
    """Premultiplying and back, over every (colour, alpha) pair: exact where alpha is opaque, zero where it is
    clear, and within the 8-bit premultiplied step (255 / a / 2 levels, rounded) in between."""
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256))
    image = np.stack([colour, 255 - colour, colour // 2, alpha], axis=-1).astype(np.uint8)
    layer = to_layer(image)
    assert np.array_equal(layer[..., :3], np.floor(image[..., :3] * alpha[..., None] / 255 + 0.5).astype(np.uint8))
    back = from_layer(layer, keep_alpha=True).astype(int)
    assert np.array_equal(back[..., 3], alpha)
    assert np.array_equal(back[alpha == 255], image[alpha == 255]) and not back[alpha == 0].any()
    error = np.abs(back[..., :3] - image[..., :3]).max(axis=-1)
    assert (error[alpha > 0] <= np.ceil(255 / alpha[alpha > 0] / 2)).all()
