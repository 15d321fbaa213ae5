"""The part of a photo worth refining: the subject's neighbourhood, at the scale the output needs.

The guided refine leaves alpha exactly zero wherever the model's mask is clearly background, so refining only a
window around the rest gives the same cut-out (up to the window edges' rounding to whole photo pixels) for a
fraction of the work. When a fixed output size shrinks the subject, the window is refined near that output scale
instead of the photo's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from postprocess.cleanup import remove_islands
from postprocess.layout import bounds, plan, shrink_interpolation
from postprocess.params import LayoutParams, MaskParams, ShadowParams
from postprocess.refine import UNSURE

MARGIN_SHARE = 0.1  # of the subject's longer side, each way: backdrop for the white-on-white border model
MIN_MARGIN = 8  # mask pixels: beyond the filters' reach (guide radius, alignment shift, white-on-white band)
SCALE_HEADROOM = 1.1  # refine a little above the output scale, so placing the refined subject still shrinks it

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Window:
    """A region (x0, y0, x1, y1) of the mask and the same region of the photo, refined at `scale` (<= 1)."""

    mask_box: Box
    box: Box
    scale: float = 1.0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the region at the working scale."""
        x0, y0, x1, y1 = self.box
        return (max(1, round((x1 - x0) * self.scale)), max(1, round((y1 - y0) * self.scale)))

    def crop(self, plane: np.ndarray) -> np.ndarray:
        """The region of a photo-sized image or plane at the working scale (area-averaged when shrunk)."""
        x0, y0, x1, y1 = self.box
        region = plane[y0:y1, x0:x1]
        if self.scale == 1.0:
            return region
        return cv2.resize(region, self.size, interpolation=shrink_interpolation(self.scale))

    def crop_mask(self, mask: np.ndarray) -> np.ndarray:
        """The region of the model's mask."""
        x0, y0, x1, y1 = self.mask_box
        return mask[y0:y1, x0:x1]

    def paste(self, rgba: np.ndarray, width: int, height: int) -> np.ndarray:
        """A refined region back in a transparent frame of the photo's size (only for windows at scale 1)."""
        if self.scale != 1.0:
            raise ValueError("only a window refined at the photo's scale can be pasted back")
        x0, y0, x1, y1 = self.box
        if (x0, y0, x1, y1) == (0, 0, width, height):
            return rgba
        frame = np.zeros((height, width, rgba.shape[2]), rgba.dtype)
        frame[y0:y1, x0:x1] = rgba
        return frame


def _to_photo(mask_box: Box, mask_shape: tuple[int, int], width: int, height: int) -> Box:
    """A mask-pixel box as the nearest photo-pixel box (edges within half a photo pixel)."""
    fx, fy = width / mask_shape[1], height / mask_shape[0]
    x0, y0, x1, y1 = mask_box
    return (round(x0 * fx), round(y0 * fy), min(width, round(x1 * fx)), min(height, round(y1 * fy)))


def _working_scale(subject: Box, layout: LayoutParams | None) -> float:
    """The scale a fixed output size puts the subject at (with headroom), at most 1; 1 without a fixed size."""
    if layout is None or layout.size is None:
        return 1.0
    return min(1.0, min(plan(subject, layout).scale) * SCALE_HEADROOM)


def subject_window(mask: np.ndarray, width: int, height: int, mask_params: MaskParams,
                   layout: LayoutParams | None, shadow: ShadowParams) -> Window:
    """Where and at what scale to refine a width x height photo whose model mask is `mask`.

    The whole photo when alpha outside the subject is not exactly zero (no guided refine) or is still needed: the
    natural shadow reads the floor around the subject, and an uncropped layout shows the whole frame.
    """
    if mask_params.clean:  # the islands the refine will drop must not widen the window or shrink the scale
        mask = remove_islands(mask, mask_params.island_ratio, mask_params.thin_ratio)
    found = bounds(mask > UNSURE)
    whole = (0, 0, mask.shape[1], mask.shape[0])
    keep_whole = (found is None or not mask_params.refine or shadow.mode == "natural"
                  or (layout is not None and not layout.crop))
    subject = _to_photo(found or whole, mask.shape, width, height)
    scale = _working_scale(subject, layout)
    if keep_whole:
        return Window(whole, (0, 0, width, height), scale)
    x0, y0, x1, y1 = found
    margin = max(MIN_MARGIN, round(MARGIN_SHARE * max(x1 - x0, y1 - y0)))
    mask_box = (max(0, x0 - margin), max(0, y0 - margin),
                min(mask.shape[1], x1 + margin), min(mask.shape[0], y1 + margin))
    return Window(mask_box, _to_photo(mask_box, mask.shape, width, height), scale)
