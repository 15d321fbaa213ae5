"""Bytes <-> pixels at the HTTP edge: safe decoding of uploads (by content, with limits) and encoding of results."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from api.errors import ApiError

ACCEPTED_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp"}
OutputFormat = Literal["png", "jpeg", "webp"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
FILE_SUFFIXES: dict[str, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
JPEG_END = b"\xff\xd9"
OPENCV_REDUCED = {1: 0, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                  8: cv2.IMREAD_REDUCED_GRAYSCALE_8}  # the scale bits only: IMREAD_COLOR_RGB gives the colour

Image.MAX_IMAGE_PIXELS = None  # the pixel limit is enforced by decode_image itself, before any pixel is read


@dataclass(frozen=True)
class DecodedImage:
    """An upload as RGB pixels (transparent areas flattened on white) plus its own alpha, if it had one."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    source_format: str
    source_size: tuple[int, int]
    frames: int


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ApiError(400, "the image file is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ApiError(415, "the file is not a supported image; send JPEG, PNG or WebP") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(422, f"the image header cannot be read: {exc}") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ApiError(415, f"{image.format} images are not supported; send JPEG, PNG or WebP")
    return image


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode -> (RGB uint8, alpha float32 or None); 16-bit grey is scaled, not clipped."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = (np.asarray(image, dtype=np.float32) / 257.0).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(grey, "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB")), None
    rgba = np.asarray(image.convert("RGBA"))
    if rgba[..., 3].min() == 255:
        return np.ascontiguousarray(rgba[..., :3]), None
    return flatten(rgba), rgba[..., 3].astype(np.float32) / 255.0


def _draft_scale(image: Image.Image, min_side: int | None) -> int:
    """Pillow's DCT-domain reduction (1, 2, 4 or 8) for a JPEG that needs only `min_side` pixels; 1 otherwise."""
    if not min_side or image.format not in ("JPEG", "MPO"):
        return 1
    width = image.size[0]
    drafted = image.draft("RGB", (min_side, min_side))
    return round(width / drafted[1][2]) if drafted else 1


def _opencv_jpeg(data: bytes, image: Image.Image, scale: int) -> np.ndarray | None:
    """A complete RGB JPEG decoded by OpenCV's libjpeg-turbo: the same pixels as Pillow (same DCT scaling, EXIF
    orientation applied) in about a third of the time. None for anything else, which Pillow decodes: other colour
    modes, MPO, and files not ending in an EOI marker (truncated ones, for which Pillow reports the error)."""
    if image.format != "JPEG" or image.mode != "RGB" or not data.endswith(JPEG_END):
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), OPENCV_REDUCED[scale] | cv2.IMREAD_COLOR_RGB)


def decode_image(data: bytes, max_pixels: int, min_side: int | None = None) -> DecodedImage:
    """Decode an upload by its content; JPEGs are decoded at reduced scale when only `min_side` pixels are needed."""
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ApiError(413, f"the image has {width}x{height} pixels; the limit is {max_pixels / 1e6:.0f} megapixels")
    frames = getattr(image, "n_frames", 1)
    source_format = ACCEPTED_FORMATS[image.format]
    rgb, alpha = _opencv_jpeg(data, image, _draft_scale(image, min_side)), None
    if rgb is None:
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb, alpha = _pixels(image)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ApiError(422, f"the image is corrupt or truncated: {exc}") from exc
    return DecodedImage(
        rgb=rgb,
        alpha=alpha,
        source_format=source_format,
        source_size=(width, height),
        frames=frames,
    )


def flatten(pixels: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """RGBA -> RGB over a solid colour (for formats without alpha)."""
    weight = pixels[..., 3:4].astype(np.float32) / 255.0
    solid = np.asarray(background, np.float32)
    return (pixels[..., :3] * weight + solid * (1.0 - weight)).round().astype(np.uint8)


def encode_image(pixels: np.ndarray, fmt: OutputFormat, quality: int = 90, dpi: int | None = None) -> bytes:
    """Grey (HxW), RGB or RGBA uint8 -> file bytes; JPEG has no alpha, so RGBA is flattened on white for it."""
    if fmt == "jpeg" and pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = flatten(pixels)
    image = Image.fromarray(pixels, {2: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[-1] if pixels.ndim == 3 else 2])
    options: dict = {"dpi": (dpi, dpi)} if dpi else {}
    if fmt == "png":
        options["compress_level"] = 3
    elif fmt == "jpeg":
        options.update(quality=quality, optimize=False, subsampling=0 if quality >= 90 else 2)
    else:
        options.update(quality=quality, method=4)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()
