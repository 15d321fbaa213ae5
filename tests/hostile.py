"""A corpus of hostile and awkward uploads, generated on the fly (name -> bytes)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.tiny_model import product_photo


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 20000) -> bytes:
    """A real side x side greyscale PNG of zeros: a few hundred KB that would inflate to side^2 bytes."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def huge_metadata_png() -> bytes:
    """A small PNG carrying a compressed text chunk that inflates to 64 MB."""
    image = _save(Image.fromarray(product_photo(64, 64)), "PNG")
    text = b"Comment\0\0" + zlib.compress(b"A" * 64_000_000, 9)
    end = image.rindex(b"IEND") - 4
    return image[:end] + _png_chunk(b"zTXt", text) + image[end:]


def animated_webp() -> bytes:
    frames = [Image.fromarray(product_photo(120, 90)), Image.new("RGB", (120, 90), "blue")]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def animated_gif() -> bytes:
    frames = [Image.fromarray(product_photo(120, 90)), Image.new("RGB", (120, 90), "blue")]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(Image.fromarray(product_photo(160, 120)), "JPEG", exif=exif)


def corpus() -> dict[str, tuple[bytes, set[int]]]:
    """name -> (payload, acceptable statuses): awkward-but-valid images must work, broken ones get a 4xx."""
    photo = Image.fromarray(product_photo(160, 120))
    jpeg = _save(photo, "JPEG", quality=90)
    png = _save(photo, "PNG")
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return {
        "zero bytes": (b"", {400}),
        "truncated jpeg": (jpeg[: len(jpeg) // 3], {422}),
        "truncated png": (png[: len(png) // 2], {422}),
        "wrong magic": (b"\x89PNX\r\n\x1a\n" + png[8:], {415}),
        "text file named .jpg": (b"<html><script>alert(1)</script></html>", {415}),
        "jpeg with a zip appended (polyglot)": (jpeg + b"PK\x03\x04" + b"\0" * 200, {200}),
        "gif with a script (polyglot)": (b"GIF89a/*" + b"\0" * 32 + b"*/=alert(1);", {415}),
        "20000x20000 png bomb": (png_bomb(), {413}),
        "cmyk jpeg": (_save(photo.convert("CMYK"), "JPEG"), {200}),
        "16-bit png": (_save(Image.fromarray((np.asarray(photo.convert("L")).astype(np.uint16) * 257)), "PNG"),
                       {200}),
        "palette png with transparency": (_save(palette, "PNG", transparency=0), {200}),
        "exif-rotated jpeg": (exif_rotated_jpeg(), {200}),
        "animated gif": (animated_gif(), {415}),
        "animated webp (first frame)": (animated_webp(), {200}),
        "huge metadata png": (huge_metadata_png(), {200, 422}),
    }
