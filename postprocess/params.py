"""Validated parameters for cut-out, layout, shadow and branding (pydantic v2)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_HEX = re.compile(r"^#?(?P<hex>[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_SIZE = re.compile(r"^\s*(?P<w>\d+)\s*[xX]\s*(?P<h>\d+)\s*$")
_ASPECT = re.compile(r"^\s*(?P<w>\d+)\s*:\s*(?P<h>\d+)\s*$")
_LENGTH = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>%|px)?\s*$")
TRANSPARENT = "transparent"
MAX_SIDE = 16384


def parse_color(value: str) -> tuple[int, int, int, int]:
    """Turn 'RRGGBB', 'RRGGBBAA' (optional '#') or 'transparent' into an RGBA tuple."""
    if value.strip().lower() == TRANSPARENT:
        return (0, 0, 0, 0)
    match = _HEX.match(value.strip())
    if match is None:
        raise ValueError(
            f"colour {value!r} is not hex 'RRGGBB' or 'RRGGBBAA' (optional '#') or 'transparent'"
        )
    digits = match["hex"] + ("FF" if len(match["hex"]) == 6 else "")
    r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
    return (r, g, b, a)


def _color(value: object) -> str:
    """Validate a colour string and return it unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"colour must be a string like 'FFFFFF' or '000000B3', got {value!r}")
    parse_color(value)
    return value.strip()


def parse_size(value: str) -> tuple[int, int]:
    """Turn 'WxH' into (width, height)."""
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"size {value!r} is not 'WIDTHxHEIGHT', e.g. '2000x2000'")
    w, h = int(match["w"]), int(match["h"])
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise ValueError(f"size {value!r}: each side must be within 1..{MAX_SIDE} px")
    return (w, h)


def _size(value: object) -> str | None:
    """Validate an optional 'WxH' size string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"size must be a string 'WIDTHxHEIGHT', got {value!r}")
    parse_size(value)
    return value.strip()


def parse_aspect(value: str) -> float:
    """Turn 'W:H' (e.g. '1:1', '4:5') into width/height."""
    match = _ASPECT.match(value)
    if match is None or int(match["w"]) == 0 or int(match["h"]) == 0:
        raise ValueError(f"aspect {value!r} is not 'W:H' with positive integers, e.g. '1:1', '4:5'")
    return int(match["w"]) / int(match["h"])


def _aspect(value: object) -> str | None:
    """Validate an optional 'W:H' aspect string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"aspect must be a string 'W:H', got {value!r}")
    parse_aspect(value)
    return value.strip()


def parse_length(value: float | str) -> tuple[float, bool]:
    """Split a validated length into (amount, is_pixels); ratios are fractions, not percent."""
    if isinstance(value, str) and value.endswith("px"):
        return (float(value[:-2]), True)
    return (float(value), False)


def _length(max_ratio: float):
    """Build a validator accepting a ratio (0.1, '10%') or pixels ('40px')."""

    def validate(value: object) -> float | str:
        hint = f"use a ratio in [0, {max_ratio}] (e.g. 0.1 or '10%') or pixels like '40px'"
        if isinstance(value, bool):
            raise ValueError(f"length {value!r} is not a number; {hint}")
        if isinstance(value, (int, float)):
            if not 0 <= value <= max_ratio:
                raise ValueError(f"length {value!r} is not a ratio; {hint}")
            return float(value)
        if not isinstance(value, str) or (match := _LENGTH.match(value)) is None:
            raise ValueError(f"length {value!r} is not understood; {hint}")
        amount = float(match["num"])
        if match["unit"] == "px":
            if amount != int(amount) or amount > MAX_SIDE:
                raise ValueError(f"length {value!r}: pixels must be a whole number <= {MAX_SIDE}")
            return f"{int(amount)}px"
        ratio = amount / 100 if match["unit"] == "%" else amount
        if not 0 <= ratio <= max_ratio:
            raise ValueError(f"length {value!r} is out of range; {hint}")
        return ratio

    return BeforeValidator(validate)


Color = Annotated[str, BeforeValidator(_color)]


class _Params(BaseModel):
    """Common config: reject unknown fields so typos surface as errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MaskParams(_Params):
    """How the model's low-res soft mask becomes a full-resolution alpha and colour."""

    refine: bool = True
    clean: bool = True
    decontaminate: bool = True
    white_on_white: bool = True
    align: bool = Field(True, description="undo a global offset between the model's mask and the photo")
    guide_radius: int = Field(3, ge=1, le=32, description="guided filter radius in mask pixels")
    guide_eps: float = Field(1e-3, gt=0, le=1, description="guided filter regularisation")
    confidence_power: float = Field(
        4.0, ge=0.5, le=32, description="how strongly confident mask areas override the guided result"
    )
    sharpen: float = Field(
        2.0, ge=1, le=8, description="max steepening of the guided edge ramp where the model is decided"
    )
    island_ratio: float = Field(
        0.01, ge=0, le=0.5, description="drop blobs lighter than this share of the largest blob"
    )
    thin_ratio: float = Field(
        0.25, gt=0, le=1, description="keep blobs at least this long relative to the largest blob"
    )
    hole_ratio: float = Field(
        0.002, ge=0, le=0.5, description="fill enclosed holes smaller than this share of the object"
    )
    erode_ratio: float = Field(
        0.0, ge=0, le=0.02, description="edge choke radius as a share of sqrt(object area)"
    )
    white_level: float = Field(
        0.8, ge=0, le=1, description="backdrops brighter than this count as studio white"
    )
    white_radius: int = Field(2, ge=1, le=32, description="white-on-white window radius in mask pixels")
    white_gain: float = Field(
        8.0, ge=1, le=64, description="contrast gain for near-white objects before snapping edges"
    )
    foreground_iterations: int = Field(
        2, ge=1, le=20, description="solver sweeps per fine level of the foreground estimation"
    )


class LayoutParams(_Params):
    """Where the cut-out goes on the output canvas.

    padding: a ratio of the output canvas's shorter side (0.1 or '10%') or exact pixels ('40px').
    size: 'WxH' output size (object scaled to fit inside the padding) or None to keep the crop
    scale; aspect: 'W:H' grows the canvas to that shape when size is None.
    """

    background: Color = "FFFFFF"
    padding: Annotated[float | str, _length(0.45)] = 0.1
    size: Annotated[str | None, BeforeValidator(_size)] = None
    aspect: Annotated[str | None, BeforeValidator(_aspect)] = None
    align: Literal["center", "bottom"] = "center"
    crop: bool = True

    @model_validator(mode="after")
    def _size_or_aspect(self) -> LayoutParams:
        """Refuse size together with aspect: the size already fixes the shape."""
        if self.size is not None and self.aspect is not None:
            raise ValueError("give either size ('WxH') or aspect ('W:H'), not both")
        return self


class ShadowParams(_Params):
    """Shadow under the product: ratios are relative to the placed object's height."""

    mode: Literal["none", "drop", "natural"] = "drop"
    opacity: float = Field(0.35, ge=0, le=1, description="cast shadow opacity")
    blur: float = Field(0.04, ge=0, le=0.5, description="cast shadow blur sigma / object height")
    offset: float = Field(0.03, ge=0, le=0.5, description="cast shadow shift / object height")
    direction: float = Field(90.0, ge=0, le=360, description="shift direction, degrees clockwise from +x")
    squash: float = Field(0.12, ge=0.01, le=1, description="cast shadow height / object height")
    contact_opacity: float = Field(0.45, ge=0, le=1, description="contact shadow opacity")
    contact_blur: float = Field(0.012, ge=0, le=0.1, description="contact shadow blur / object height")
    color: Color = "000000"
    strength: float = Field(1.0, ge=0, le=2, description="natural mode: scale of the photo's shadow")


class BrandingParams(_Params):
    """A semi-transparent bar with text and an optional logo over the image's top or bottom."""

    model_config = ConfigDict(extra="forbid", frozen=True, val_json_bytes="base64", ser_json_bytes="base64")

    text: str = Field("", max_length=200)
    font: str = Field("DejaVuSans.ttf", pattern=r"^[A-Za-z0-9_.-]+\.(ttf|otf)$")
    font_size: int | None = Field(None, ge=4, le=2000, description="pixels; None fits the bar")
    text_color: Color = "FFFFFF"
    bar_color: Color = "000000B3"
    position: Literal["top", "bottom"] = "bottom"
    bar_height: Annotated[float | str, _length(0.5)] = 0.08
    align: Literal["left", "center", "right"] = "center"
    margin: Annotated[float | str, _length(0.45)] = 0.02
    logo: bytes | None = Field(None, description="encoded PNG/JPEG image, placed at the bar's left")
