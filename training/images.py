"""Image files for training: decoded exactly as the service decodes uploads, listed by suffix, written back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from api.codecs import IMAGE_SUFFIXES, DecodedImage, decode_image
from api.errors import ApiError

NO_PIXEL_LIMIT = 1 << 40


def list_images(root: Path) -> list[Path]:
    """Every JPEG/PNG/WebP file below root (by suffix, case-insensitive; hidden files and folders skipped), sorted."""
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def load_image(path: Path, min_side: int | None = None) -> DecodedImage:
    """RGB (transparency flattened on white) plus alpha if any, EXIF-rotated like uploads; JPEGs may be decoded
    at reduced scale when only min_side pixels are needed."""
    try:
        return decode_image(path.read_bytes(), NO_PIXEL_LIMIT, min_side)
    except ApiError as exc:
        raise ValueError(f"{path}: {exc.message}") from exc


def save_rgb(path: Path, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write RGB uint8 as JPEG or PNG (by suffix), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), options):
        raise OSError(f"cannot write {path}")
    return path


def save_mask(path: Path, alpha: np.ndarray) -> Path:
    """Write a float alpha in [0, 1] as an 8-bit grey PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)):
        raise OSError(f"cannot write {path}")
    return path


def load_mask(path: Path) -> np.ndarray:
    """An 8-bit grey PNG as float32 alpha in [0, 1]."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{path} is not a readable mask image")
    return mask.astype(np.float32) / 255.0
