"""PhotoRoom requests as our recipes: /v1/segment's size rule and /v2/edit's positioning, with PhotoRoom's
defaults and placement arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from api.errors import ApiError
from api.photoroom.fields import Fields, Length, invalid
from api.recipe import Recipe, customised, load_preset
from postprocess.layout import subject_box
from postprocess.params import MAX_SIDE, TRANSPARENT, parse_size

PRESET = "photoroom"  # the base recipe of both endpoints (api/presets.yaml): PhotoRoom's defaults
SEGMENT_FIELDS = frozenset({"image_file", "format", "channels", "bg_color", "size", "crop", "despill"})
EDIT_FIELDS = frozenset({
    "imageFile", "imageUrl", "removeBackground", "background.color", "padding", "margin", "outputSize", "maxWidth",
    "maxHeight", "scaling", "horizontalAlignment", "verticalAlignment", "referenceBox",
    "ignorePaddingAndSnapOnCroppedSides", "shadow.mode", "export.format", "export.dpi", "preserveMetadata",
})
SEGMENT_BUDGETS = {"preview": 250_000, "medium": 1_500_000, "hd": 4_000_000, "full": 36_000_000}  # pixels
SEGMENT_FORMATS = {"png": "png", "jpg": "jpeg", "webp": "webp"}
EXPORT_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}
EXPORT_QUALITY = {"png": 90, "jpeg": 80, "webp": 90}  # PhotoRoom exports JPEG at quality 80 and WebP at 90
OUTPUT_SIZES = ("originalImage", "croppedSubject")
METADATA_MODES = ("xmp", "exifSubset", "exifSubsetWithXmpCompatibility")  # we write none: only 'never' is honoured
_HARD = {"mode": "drop", "opacity": 0.5, "blur": 0.008, "contact_opacity": 0.6, "contact_blur": 0.004}
SHADOWS: dict[str, dict[str, object]] = {
    "ai.soft": {"mode": "drop"},
    "ai.preset-soft": {"mode": "drop"},
    "ai.hard": _HARD,
    "ai.preset-hard": _HARD,
    "ai.floating": {"mode": "drop", "opacity": 0.25, "blur": 0.05, "offset": 0.08, "contact_opacity": 0.0},
    "ai.auto-with-overrides": {"mode": "natural"},
}


@dataclass(frozen=True)
class SegmentSize:
    """/v1/segment's `size` and `crop`: the whole photo or the subject's box, shrunk to fit a pixel budget."""

    budget: int
    crop: bool
    background: str | None

    def layout(self, alpha: np.ndarray) -> dict[str, object] | None:
        """Our layout for this cut-out; None when the plain cut-out at full resolution is the answer."""
        x0, y0, x1, y1 = subject_box(alpha, self.crop)
        width, height = x1 - x0, y1 - y0
        scale = min(1.0, math.sqrt(self.budget / (width * height)))
        if scale == 1.0 and not self.crop and self.background is None:
            return None
        return {"size": f"{max(1, math.floor(width * scale))}x{max(1, math.floor(height * scale))}",
                "padding": "0px", "aspect": None, "align": "center", "crop": self.crop,
                "background": self.background or TRANSPARENT}


@dataclass(frozen=True)
class Positioning:
    """/v2/edit's outputSize, maxWidth/maxHeight, padding, margin, alignment and referenceBox."""

    output: str
    max_size: tuple[int | None, int | None]
    padding: Length
    margin: Length
    align: str
    crop: bool
    background: str

    def canvas(self, frame: tuple[int, int], subject: tuple[int, int]) -> tuple[int, int]:
        """The output size: 'WxH', or the photo's or the subject's size shrunk to maxWidth/maxHeight."""
        if self.output not in OUTPUT_SIZES:
            return parse_size(self.output)
        width, height = frame if self.output == "originalImage" else subject
        max_width, max_height = self.max_size
        scale = min(1.0, (max_width or width) / width, (max_height or height) / height)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def inset(self, side: int) -> float:
        """Margin plus padding at each end of a side, in pixels (padding is a share of the side minus margins)."""
        margin = self.margin.of(side)
        return margin + self.padding.of(side - 2 * margin)

    def layout(self, alpha: np.ndarray) -> dict[str, object]:
        """Our layout reproducing PhotoRoom's placement: the reference box fitted into the output minus insets."""
        frame = (alpha.shape[1], alpha.shape[0])
        x0, y0, x1, y1 = subject_box(alpha, True)
        subject = (x1 - x0, y1 - y0)
        box_w, box_h = subject if self.crop else frame
        width, height = self.canvas(frame, subject)
        inset_x, inset_y = self.inset(width), self.inset(height)
        scale = min((width - 2 * inset_x) / box_w, (height - 2 * inset_y) / box_h)
        if scale <= 0:
            raise invalid("padding and margin leave no room for the subject")
        # Our layout pads all sides alike. A centred subject only needs a pad that gives the same scale; a subject
        # standing on the bottom inset needs that inset as the pad, so the insets must be equal.
        if self.align == "center":
            pad = max(0, math.floor(min(width - scale * box_w, height - scale * box_h) / 2))
        elif abs(inset_x - inset_y) < 0.5:
            pad = round(inset_y)
        else:
            raise ApiError(400, f"verticalAlignment=bottom needs the same inset on all sides, but a {width}x{height} "
                                "output gets different ones: give padding and margin in px, or a square outputSize",
                           type="unsupported_parameter")
        return {"size": f"{width}x{height}", "padding": f"{pad}px", "aspect": None, "align": self.align,
                "crop": self.crop, "background": self.background}


@dataclass(frozen=True)
class SegmentJob:
    """A validated /v1/segment request."""

    recipe: Recipe
    size: SegmentSize


@dataclass(frozen=True)
class EditJob:
    """A validated /v2/edit request."""

    recipe: Recipe
    positioning: Positioning


def segment_job(fields: Fields) -> SegmentJob:
    """/v1/segment's parameters as a recipe and a size rule (defaults: png, rgba, full, no crop)."""
    alpha_only = fields.choice("channels", {"rgba": False, "alpha": True}, False)
    background = fields.color("bg_color")
    if alpha_only and background is not None:
        raise invalid("bg_color cannot be combined with channels=alpha (the mask has no background)")
    fields.flag("despill", {"false": False}, False)  # validated only: green-screen despill is not offered
    size = SegmentSize(fields.choice("size", SEGMENT_BUDGETS, SEGMENT_BUDGETS["full"]),
                       fields.flag("crop", {"true": True, "false": False}, False), background)
    recipe = customised(load_preset(PRESET), format=fields.choice("format", SEGMENT_FORMATS, "png"),
                        channels="alpha" if alpha_only else "rgba")
    return SegmentJob(recipe, size)


def edit_job(fields: Fields) -> EditJob:
    """/v2/edit's parameters as a recipe and a positioning (PhotoRoom's defaults: transparent, fit, no padding)."""
    # Validated only: each takes the one value this service honours.
    fields.flag("removeBackground", {"true": True}, True)
    fields.flag("ignorePaddingAndSnapOnCroppedSides", {"false": False}, False)
    fields.choice("scaling", {"fit": "fit"}, "fit", ("fill",))
    fields.choice("horizontalAlignment", {"center": "center"}, "center", ("left", "right"))
    fields.choice("preserveMetadata", {"never": "never"}, "never", METADATA_MODES)
    output = fields.text("outputSize") or "auto"
    if output == "auto":
        output = "originalImage"
    elif output not in OUTPUT_SIZES:
        try:
            parse_size(output)
        except ValueError as exc:
            raise invalid(f"outputSize must be 'WIDTHxHEIGHT', 'originalImage', 'croppedSubject' or 'auto': "
                          f"{exc}") from None
    max_size = (fields.number("maxWidth", 1, MAX_SIDE), fields.number("maxHeight", 1, MAX_SIDE))
    if output not in OUTPUT_SIZES and max_size != (None, None):
        raise invalid("maxWidth and maxHeight can only be given with outputSize originalImage or croppedSubject")
    positioning = Positioning(
        output=output,
        max_size=max_size,
        padding=fields.length("padding"),
        margin=fields.length("margin"),
        align=fields.choice("verticalAlignment", {"center": "center", "bottom": "bottom"}, "center", ("top",)),
        crop=fields.choice("referenceBox", {"subjectBox": True, "originalImage": False}, True),
        background=fields.color("background.color") or TRANSPARENT,
    )
    export = fields.choice("export.format", EXPORT_FORMATS, "png")
    recipe = customised(
        load_preset(PRESET), layout={"size": None if output in OUTPUT_SIZES else output},
        shadow=fields.choice("shadow.mode", SHADOWS, None),
        format=export, quality=EXPORT_QUALITY[export], dpi=fields.number("export.dpi", 72, 1200),
    )
    return EditJob(recipe, positioning)
