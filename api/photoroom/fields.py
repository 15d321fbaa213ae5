"""PhotoRoom request parameters by name: reading, validating and refusing them with errors that name them."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from PIL import ImageColor

from api.errors import ApiError
from postprocess.params import MAX_SIDE, TRANSPARENT

T = TypeVar("T")
Value = str | bytes  # a text field, or the bytes of an uploaded file
# PhotoRoom parameters (or dot-notation groups) this service does not offer, with the feature they belong to.
UNSUPPORTED = {
    "background.prompt": "AI backgrounds", "background.negativePrompt": "AI backgrounds",
    "background.expandPrompt": "AI backgrounds", "background.seed": "AI backgrounds",
    "background.guidance": "AI backgrounds", "background.imageUrl": "background images",
    "background.imageFile": "background images", "background.scaling": "background images",
    "background.blur": "background blur", "lighting": "AI relighting", "shadow": "AI shadow overrides",
    "upscale": "AI upscale", "expand": "AI expand", "uncrop": "AI uncrop", "textRemoval": "AI text removal",
    "beautify": "AI beautifier", "outline": "subject outlines", "editWithAI": "edit with AI",
    "describeAnyChange": "edit with AI", "flatLay": "flat lay", "ghostMannequin": "ghost mannequin",
    "virtualModel": "virtual model", "imageFromPrompt": "image generation",
    "segmentation": "text-guided segmentation", "layers": "layers", "templateId": "templates",
    "keepExistingAlphaChannel": "existing alpha channels", "paddingLeft": "per-side padding",
    "paddingRight": "per-side padding", "paddingTop": "per-side padding", "paddingBottom": "per-side padding",
    "marginLeft": "per-side margins", "marginRight": "per-side margins", "marginTop": "per-side margins",
    "marginBottom": "per-side margins",
}
BOOLEAN = ("true", "false")
_LENGTH = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>%|px)?$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def invalid(message: str) -> ApiError:
    """A 400 for a wrong parameter value."""
    return ApiError(400, message, type="invalid_parameter")


def unsupported(name: str) -> ApiError:
    """A 400 for a parameter this service does not take: a PhotoRoom feature it lacks, or an unknown name."""
    feature = next((label for prefix, label in UNSUPPORTED.items()
                    if name == prefix or name.startswith(prefix + ".")), None)
    if feature is None:
        return ApiError(400, f"unknown parameter: {name}", type="unknown_parameter")
    return ApiError(400, f"{name} is not supported by this service ({feature})", type="unsupported_parameter")


def pick(name: str, value: str, options: Mapping[str, T], known: Iterable[str]) -> T:
    """The option named `value`; a PhotoRoom value in `known` that has no option here is unsupported."""
    if value in options:
        return options[value]
    supported = ", ".join(options)
    if value in known:
        raise ApiError(400, f"{name}={value} is not supported by this service (supported: {supported})",
                       type="unsupported_parameter")
    raise invalid(f"{name} must be one of: {supported} (got {value!r})")


@dataclass(frozen=True)
class Length:
    """PhotoRoom's padding or margin: a share of the output side (0.1 or '10%') or pixels ('100px')."""

    amount: float
    pixels: bool = False

    def of(self, side: float) -> float:
        """The length in pixels along a side of `side` pixels."""
        return self.amount if self.pixels else self.amount * side


class Fields:
    """One request's parameters by PhotoRoom name, read with errors that name the parameter."""

    def __init__(self, items: Iterable[tuple[str, Value]]) -> None:
        self.values: dict[str, Value] = {}
        for name, value in items:
            if name in self.values:
                raise invalid(f"{name} is given more than once")
            self.values[name] = value

    def refuse_unknown(self, supported: frozenset[str]) -> None:
        """400 for the first parameter that is not in `supported`."""
        for name in self.values:
            if name not in supported:
                raise unsupported(name)

    def file(self, name: str) -> bytes | None:
        """An uploaded file's bytes; a text value here is refused (URLs are never fetched from file fields)."""
        value = self.values.get(name)
        if isinstance(value, str):
            raise invalid(f"{name} must be an uploaded file (multipart, e.g. curl --form {name}=@photo.jpg)")
        return value

    def text(self, name: str) -> str | None:
        """A text value, stripped; None when absent or empty."""
        value = self.values.get(name)
        if isinstance(value, bytes):
            raise invalid(f"{name} must be a text field, not a file")
        return (value or "").strip() or None

    def choice(self, name: str, options: Mapping[str, T], default: T, known: Iterable[str] = ()) -> T:
        """One of `options` by its PhotoRoom name, or `default` when absent."""
        value = self.text(name)
        return default if value is None else pick(name, value, options, known)

    def flag(self, name: str, options: Mapping[str, bool], default: bool) -> bool:
        """A PhotoRoom boolean ('true'/'false', any case), restricted to the values in `options`."""
        value = self.text(name)
        return default if value is None else pick(name, value.lower(), options, BOOLEAN)

    def length(self, name: str) -> Length:
        """A padding or margin: 0..0.49, '0%'..'49%' or 'Npx'; zero when absent."""
        value = self.text(name)
        if value is None:
            return Length(0.0)
        match = _LENGTH.match(value)
        if match is None:
            raise invalid(f"{name} must be a ratio (0.1), a percentage ('10%') or pixels ('100px'), got {value!r}")
        amount = float(match["num"])
        if match["unit"] == "px":
            if amount > MAX_SIDE:
                raise invalid(f"{name} must be at most {MAX_SIDE}px, got {value!r}")
            return Length(amount, pixels=True)
        ratio = amount / 100 if match["unit"] == "%" else amount
        if ratio > 0.49:
            raise invalid(f"{name} must be between 0 and 0.49 (0% and 49%), got {value!r}")
        return Length(ratio)

    def number(self, name: str, low: int, high: int) -> int | None:
        """A whole number within [low, high], or None when absent."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not low <= number <= high:
            raise invalid(f"{name} must be a number from {low} to {high}, got {value!r}")
        return round(number)

    def color(self, name: str) -> str | None:
        """A colour as hex (with or without '#', 3/4/6/8 digits) or a CSS name, as our 'RRGGBBAA'."""
        value = self.text(name)
        if value is None or value.lower() == TRANSPARENT:
            return None if value is None else TRANSPARENT
        try:
            rgba = ImageColor.getcolor("#" + value.lstrip("#") if _HEX_COLOR.match(value) else value, "RGBA")
        except ValueError:
            raise invalid(f"{name} must be a hex colour (FF0000, FF0000EE) or a colour name (red), "
                          f"got {value!r}") from None
        return "".join(f"{channel:02X}" for channel in rgba)
