"""What to make of one photo: mask, layout, shadow, branding and output encoding in one validated object.
Named recipes are the presets (presets.yaml) shared by the API, the PhotoRoom endpoints and `cutout batch`."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from api.codecs import OutputFormat
from postprocess.params import BrandingParams, LayoutParams, MaskParams, ShadowParams

PRESETS_FILE = Path(__file__).with_name("presets.yaml")
# The model's mask only resized: no refinement step (`mask=raw`), to see what the model itself made.
RAW_MASK = MaskParams(refine=False, clean=False, decontaminate=False, white_on_white=False, align=False)


class Recipe(BaseModel):
    """One processing recipe. `layout=None` means a plain cut-out at the input's resolution;
    `channels="alpha"` returns only the mask, as a greyscale image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mask: MaskParams = MaskParams()
    layout: LayoutParams | None = LayoutParams()
    shadow: ShadowParams = ShadowParams(mode="none")
    branding: BrandingParams | None = None
    channels: Literal["rgba", "alpha"] = "rgba"
    format: OutputFormat = "png"
    quality: Annotated[int, Field(ge=1, le=100)] = 90
    dpi: Annotated[int | None, Field(ge=1, le=2400)] = None


@cache
def presets() -> dict[str, Recipe]:
    """Every preset by name, validated once."""
    raw = yaml.safe_load(PRESETS_FILE.read_text())
    return {name: Recipe.model_validate(body) for name, body in raw.items()}


def load_preset(name: str) -> Recipe:
    """A preset by name; KeyError with the known names otherwise."""
    try:
        return presets()[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(sorted(presets()))}") from None


def given(**fields: object) -> dict[str, object]:
    """The fields a client actually sent (None means 'not given')."""
    return {name: value for name, value in fields.items() if value is not None}


def customised(base: Recipe, layout: dict[str, object] | None = None, shadow: dict[str, object] | None = None,
               branding: dict[str, object] | None = None, **top: object) -> Recipe:
    """`base` with the given fields replaced; every value is validated again (ValidationError names the field)."""
    data = base.model_dump()
    if layout:
        data["layout"] = {**(data["layout"] or {}), **layout}
    if shadow:
        data["shadow"] = {**data["shadow"], **shadow}
    if branding:
        data["branding"] = {**(data["branding"] or {}), **branding}
    return Recipe.model_validate({**data, **top})
