"""Premultiplied-alpha layers in uint8 and the 'over' operator, as OpenCV passes.

A layer is HxWx4 uint8 (r*a, g*a, b*a, a) / 255. Each operation is one or two saturating OpenCV passes instead of
float32 numpy arithmetic over every channel (5x slower on a 4 MP canvas). Opaque results match float32 within two
levels; the straight colour of nearly transparent pixels is coarse (8-bit premultiplied), which moves any composite
of them by at most two levels.
"""

from __future__ import annotations

import cv2
import numpy as np

INV_255 = 1.0 / 255.0


def alpha_plane(image: np.ndarray) -> np.ndarray:
    """The alpha channel of an HxWx4 array as a contiguous plane: one OpenCV pass, several times faster than
    numpy's strided image[..., 3] in comparisons, reductions and copies."""
    return cv2.extractChannel(image, 3)


def to_layer(image: np.ndarray) -> np.ndarray:
    """Turn straight RGB or RGBA uint8 into a premultiplied layer. OpenCV's premultiplying conversion rounds
    c * a / 255 exactly as a multiply by a merged alpha would, in a tenth of the time."""
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
    return cv2.cvtColor(image, cv2.COLOR_RGBA2mRGBA)


def solid(height: int, width: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A uniform premultiplied layer of one straight RGBA colour."""
    alpha = rgba[3]
    pixel = np.array([round(c * alpha / 255) for c in rgba[:3]] + [alpha], np.uint8)
    layer = np.empty((height, width, 4), np.uint8)
    layer.view(np.uint32)[...] = pixel.view(np.uint32)[0]  # one 32-bit fill: np.full broadcasts 40x slower
    return layer


def tinted(coverage: np.ndarray, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """A premultiplied layer of one colour whose opacity is coverage (float32 in [0, 1]) x the colour's alpha."""
    alpha = rgba[3]
    return cv2.merge([cv2.convertScaleAbs(coverage, alpha=c * alpha / 255) for c in rgba[:3]]
                     + [cv2.convertScaleAbs(coverage, alpha=alpha)])


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff 'over' of two premultiplied layers: top + bottom * (1 - top alpha)."""
    clear = cv2.bitwise_not(alpha_plane(top))  # 255 - alpha
    return cv2.add(top, cv2.multiply(bottom, cv2.merge([clear] * 4), scale=INV_255))


def over_at(top: np.ndarray, bottom: np.ndarray, x: int, y: int) -> np.ndarray:
    """'over' of a smaller layer onto the region of bottom whose top-left corner is (x, y), in place; returns bottom.
    Only that region is blended: an object or a shadow covers a part of the canvas."""
    region = bottom[y : y + top.shape[0], x : x + top.shape[1]]
    region[...] = over(top, region)
    return bottom


def from_layer(layer: np.ndarray, keep_alpha: bool) -> np.ndarray:
    """Straight RGBA uint8 from a premultiplied layer, or its RGB (the layer over black) if not keep_alpha."""
    if not keep_alpha:
        return cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(layer, cv2.COLOR_mRGBA2RGBA)  # c * 255 / a, halves rounded up; 0 where a is 0
