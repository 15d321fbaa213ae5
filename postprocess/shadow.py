"""Shadow opacity maps on the output canvas: synthetic dual-layer or the photo's own."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from postprocess.background import estimate_backdrop
from postprocess.layout import Placement, bounds, warp
from postprocess.params import ShadowParams
from postprocess.refine import sample_tile
from postprocess.resample import resize, shrink

NATURAL_SIDE = 512
SHADOW_SIDE = 384
CONTACT_SQUASH = 0.04
DEBRIS_SIZE = 0.015
VISIBLE = 0.5 / 255.0  # opacity below this rounds to nothing in an 8-bit layer


@dataclass(frozen=True)
class Shade:
    """Shadow opacity (float32 HxW) over the canvas region whose top-left corner is (x, y)."""

    opacity: np.ndarray
    x: int
    y: int


def blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (no-op below a tenth of a pixel), run only on the box that the non-zero pixels reach: a shadow
    covers a small part of the canvas. The whole plane's blur to float rounding: OpenCV's float kernel reaches 4
    sigma, and the box's margin beyond that is zero, so its border reflection reads zeros as the whole plane would."""
    if sigma < 0.1:
        return plane
    found = bounds(plane != 0)
    if found is None:
        return plane
    reach = math.ceil(4 * sigma) + 1
    height, width = plane.shape
    x0, y0 = max(0, found[0] - reach), max(0, found[1] - reach)
    x1, y1 = min(width, found[2] + reach), min(height, found[3] + reach)
    out = np.zeros_like(plane)
    out[y0:y1, x0:x1] = cv2.GaussianBlur(plane[y0:y1, x0:x1], (0, 0), sigma)
    return out


def _floor_projection(alpha: np.ndarray, rect: tuple[int, int, int, int], squash: float) -> np.ndarray:
    """The silhouette squashed vertically onto its own base line (half above, half below)."""
    left, top, tw, th = rect
    height, _width = alpha.shape
    flat_h = max(1, round(th * squash))
    flat = cv2.resize(alpha[top : top + th, left : left + tw], (tw, flat_h), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(alpha)
    base = top + th
    y0 = base - flat_h // 2
    y1 = min(height, y0 + flat_h)
    out[y0:y1, left : left + tw] = flat[: y1 - y0]
    return out


def _shift(plane: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate a plane by (dx, dy) pixels with zero fill."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    return cv2.warpAffine(plane, matrix, (plane.shape[1], plane.shape[0]), flags=cv2.INTER_LINEAR)


def drop_shadow(alpha: np.ndarray, placement: Placement, params: ShadowParams) -> Shade | None:
    """Shadow opacity from the placed object's alpha (uint8, the target rectangle's size): a tight contact shadow at
    the base plus a wider, offset, blurred cast shadow.

    Computed with the object at most SHADOW_SIDE px tall (shadows are smooth), then upscaled where it is visible.
    """
    width, height = placement.canvas
    left, top, tw, th = placement.target
    scale = min(1.0, SHADOW_SIDE / max(tw, th))
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = min(sw - 1, int(left * scale)), min(sh - 1, int(top * scale))
    tw = max(1, min(sw - left, round(tw * scale)))
    th = max(1, min(sh - top, round(th * scale)))
    small = np.zeros((sh, sw), np.float32)
    small[top : top + th, left : left + tw] = resize(alpha, tw, th) * np.float32(1.0 / 255.0)
    rect = (left, top, tw, th)
    contact = blur(_floor_projection(small, rect, CONTACT_SQUASH), params.contact_blur * th)
    contact = np.clip(contact * 1.5, 0.0, 1.0) * params.contact_opacity
    angle = math.radians(params.direction)
    dx, dy = params.offset * th * math.cos(angle), params.offset * th * math.sin(angle)
    cast = blur(_shift(_floor_projection(small, rect, params.squash), dx, dy), params.blur * th)
    shade = 1.0 - (1.0 - contact) * (1.0 - cast * params.opacity)
    return visible_part(shade, width, height)


def visible_part(low: np.ndarray, width: int, height: int) -> Shade | None:
    """The low-res opacity map bilinearly upsampled to (width, height), as cv2.resize would (to the warp's 1/32 px
    sampling), but only over the rectangle where it can reach an 8-bit level (VISIBLE): a shadow covers a part of the
    canvas. None where nothing is visible."""
    found = bounds(low >= VISIBLE)
    if found is None:
        return None
    fx, fy = width / low.shape[1], height / low.shape[0]
    # canvas pixel p reads the cells around (p + 0.5) / f - 0.5: those next to a visible cell lie within a cell of it
    x0, x1 = max(0, math.floor((found[0] - 0.5) * fx - 0.5)), min(width, math.ceil((found[2] + 0.5) * fx + 0.5))
    y0, y1 = max(0, math.floor((found[1] - 0.5) * fy - 0.5)), min(height, math.ceil((found[3] + 0.5) * fy + 0.5))
    return Shade(sample_tile(low, slice(y0, y1), slice(x0, x1), width, height), x0, y0)


def photo_shadow(rgba: np.ndarray, strength: float) -> tuple[np.ndarray, float]:
    """The photo's floor shadow as opacity at reduced scale, from darkening below the object.

    Needs the original photo under fully transparent pixels (as `cutout` leaves it); other
    pixels get the shadow spread in from their neighbours. A horizontal opening drops dust
    and small parts on the floor (compact) while keeping shadows (wide and flat). Returns
    the map and its scale.
    """
    height, width = rgba.shape[:2]
    scale = min(1.0, NATURAL_SIDE / max(height, width))
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    small = shrink(rgba, w, h)
    a = small[..., 3].astype(np.float32) / 255.0
    free = (shrink((rgba[..., 3] > 0).astype(np.float32), w, h) <= 0.0).astype(np.float32)
    backdrop = estimate_backdrop(small[..., :3], a)
    ref = backdrop.at(w, h).mean(axis=2)
    lum = small[..., :3].astype(np.float32).mean(axis=2) / 255.0
    darkening = np.where(ref > 0.05, 1.0 - lum / np.maximum(ref, 0.05), 0.0)
    darkening = cv2.GaussianBlur(darkening.astype(np.float32), (0, 0), 1.0)
    debris = np.ones((1, 2 * max(1, round(DEBRIS_SIZE * max(w, h))) + 1), np.uint8)
    darkening = cv2.morphologyEx(darkening, cv2.MORPH_OPEN, debris)
    floor = 3.0 * backdrop.noise / max(float(np.median(ref)), 0.05)
    ramp = np.clip((darkening - floor) / floor, 0.0, 1.0)
    shade = np.clip(darkening, 0.0, 1.0) * ramp * _below_object(a)
    spread = blur(shade * free, 2.0) / np.maximum(blur(free, 2.0), 1e-3)
    shade = np.where(free > 0, shade, spread)
    return np.clip(shade * strength, 0.0, 1.0).astype(np.float32), scale


def _below_object(alpha: np.ndarray) -> np.ndarray:
    """Soft region from the object's lower half downwards, a half-width wider each side."""
    region = np.zeros_like(alpha)
    found = bounds(alpha > 0.5)
    if found is None:
        return region
    left, top, right, bottom = found[0], found[1], found[2] - 1, found[3] - 1
    half_w, h = (right - left) // 2, bottom - top
    region[top + h // 2 : bottom + h // 2 + 1, max(0, left - half_w) : right + half_w + 1] = 1.0
    return blur(region, max(1.0, 0.05 * h))


def shadow_map(
    rgba: np.ndarray, placed_alpha: np.ndarray, placement: Placement, params: ShadowParams
) -> Shade | None:
    """Shadow opacity on the canvas for the chosen mode (`placed_alpha`: the placed object's); None for no shadow."""
    if params.mode == "drop":
        return drop_shadow(placed_alpha, placement, params)
    if params.mode == "natural":
        shade, scale = photo_shadow(rgba, params.strength)
        return Shade(warp(shade, placement, scale), 0, 0)
    return None
