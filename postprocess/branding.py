"""Branding bar (semi-transparent band with text and optional logo) and its named templates."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

from postprocess.blend import from_layer, over, over_at, solid, tinted, to_layer
from postprocess.params import BrandingParams, parse_color, parse_length

FONTS_DIR = Path(__file__).parent / "fonts"
TEMPLATES_DIR = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
AUTO_FONT_SHARE = 0.5
LOGO_SHARE = 0.7


def template_names(directory: Path = TEMPLATES_DIR) -> list[str]:
    """Names of the stored templates."""
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_template(name: str, directory: Path = TEMPLATES_DIR) -> BrandingParams:
    """Branding parameters stored under name; KeyError listing the known names otherwise."""
    known = template_names(directory)
    if name not in known:
        raise KeyError(f"unknown branding template {name!r}; known templates: {', '.join(known)}")
    data = yaml.safe_load((directory / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    return BrandingParams.model_validate_json(json.dumps(data))


def save_template(name: str, branding: BrandingParams, directory: Path = TEMPLATES_DIR) -> Path:
    """Store branding parameters under name (lowercase letters, digits, '-' and '_'; logo as base64)."""
    if not _NAME.match(name):
        raise ValueError(f"template name {name!r} must match {_NAME.pattern}")
    path = directory / f"{name}.yaml"
    data = branding.model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    return path


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A shipped font by file name."""
    path = FONTS_DIR / name
    if not path.is_file():
        shipped = sorted(p.name for p in FONTS_DIR.iterdir() if p.suffix in {".ttf", ".otf"})
        raise ValueError(f"font {name!r} is not shipped; available: {', '.join(shipped)}")
    return ImageFont.truetype(str(path), size)


def _length_px(value: float | str, reference: int) -> int:
    """A ratio-or-pixels length in pixels relative to reference."""
    amount, pixels = parse_length(value)
    return int(amount) if pixels else round(amount * reference)


def _logo(data: bytes, max_w: int, max_h: int) -> np.ndarray:
    """Decode a logo and scale it to fit (max_w, max_h) as a premultiplied layer."""
    logo = Image.open(io.BytesIO(data)).convert("RGBA")
    logo.thumbnail((max(1, max_w), max(1, max_h)), Image.Resampling.LANCZOS)
    return to_layer(np.asarray(logo))


def _text_mask(
    text: str, font: ImageFont.FreeTypeFont, width: int, height: int, x: int, anchor: str
) -> np.ndarray:
    """Anti-aliased text coverage (float32 HxW) drawn at x on the bar's vertical centre."""
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).text((x, height / 2), text, font=font, fill=255, anchor=anchor)
    return np.asarray(canvas, np.float32) / 255.0


def bar_layer(width: int, branding: BrandingParams, image_height: int) -> np.ndarray:
    """The bar as a premultiplied layer of (bar height, width)."""
    height = max(1, min(image_height, _length_px(branding.bar_height, image_height)))
    margin = _length_px(branding.margin, width)
    layer = solid(height, width, parse_color(branding.bar_color))
    left = margin
    if branding.logo is not None:
        logo = _logo(branding.logo, width - 2 * margin, round(height * LOGO_SHARE))
        lh, lw = logo.shape[:2]
        top = (height - lh) // 2
        over_at(logo, layer, left, top)
        left += lw + margin
    if branding.text:
        size = branding.font_size or max(4, round(height * AUTO_FONT_SHARE))
        font = _font(branding.font, size)
        room = width - left - margin
        while size > 4 and font.getlength(branding.text) > room:
            size = max(4, int(size * 0.9))
            font = _font(branding.font, size)
        anchor, x = {
            "left": ("lm", left),
            "center": ("mm", left + room // 2),
            "right": ("rm", width - margin),
        }[branding.align]
        coverage = _text_mask(branding.text, font, width, height, x, anchor)
        layer = over(tinted(coverage, parse_color(branding.text_color)), layer)
    return layer


def render_branding(image: np.ndarray, branding: BrandingParams) -> np.ndarray:
    """The image with the branding bar composited at its top or bottom (RGB or RGBA kept)."""
    height, width = image.shape[:2]
    bar = bar_layer(width, branding, height)
    rows = slice(0, bar.shape[0]) if branding.position == "top" else slice(height - bar.shape[0], height)
    result = image.copy()
    result[rows] = from_layer(over(bar, to_layer(image[rows])), keep_alpha=image.shape[2] == 4)
    return result
