"""Zip archives for the batch task: read photos out of an upload safely, pack results with a manifest."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

from api.codecs import FILE_SUFFIXES, IMAGE_SUFFIXES
from api.errors import ApiError, internal_error
from api.processor import Rendered


def safe_name(name: str) -> str | None:
    """A relative path inside the archive, or None for folders, hidden files, macOS litter and escapes."""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts or name.endswith("/") or any(part == ".." or part.startswith((".", "__MACOSX")) for part in parts):
        return None
    return str(PurePosixPath(*parts))


def read_photos(data: bytes, max_files: int, max_file_bytes: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of every image in a zip, in archive order; limits are checked before inflating."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ApiError(422, f"the archive is not a readable zip file: {exc}") from exc
    members = [(name, info) for info in archive.infolist()
               if (name := safe_name(info.filename)) and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES]
    if len(members) > max_files:
        raise ApiError(413, f"the archive holds {len(members)} images; the limit is {max_files} per batch")
    photos = []
    for name, info in members:
        if info.file_size > max_file_bytes:
            raise ApiError(413, f"{name} inflates to {info.file_size / 1e6:.1f} MB; the limit is "
                                f"{max_file_bytes / 1e6:.0f} MB per image")
        try:
            photos.append((name, archive.read(info)))
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise ApiError(422, f"{name} cannot be read from the archive: {exc}") from exc
    if not photos:
        raise ApiError(400, "the archive holds no JPEG, PNG or WebP images")
    return photos


def output_name(name: str, fmt: str) -> str:
    """The result's name inside the output archive: same path, the output format's suffix."""
    return str(PurePosixPath(name).with_suffix(FILE_SUFFIXES[fmt]))


def render_member(render: Callable[[bytes], Rendered], name: str, data: bytes,
                  fmt: str) -> tuple[dict, bytes | None]:
    """One archive member through `render`: its manifest entry (with the model tag and the cut-out's confidence)
    and result, None when it failed. Any failure, expected or a bug, is that photo's error: the other photos'
    results are kept."""
    try:
        rendered = render(data)
    except ApiError as exc:
        return {"input": name, "status": "error", "error": exc.message}, None
    except Exception as exc:  # noqa: BLE001 (a bug on one photo must not lose the rest of the archive)
        return {"input": name, "status": "error", "error": internal_error(exc)}, None
    return {"input": name, "status": "ok", "output": output_name(name, fmt), "model": rendered.model_tag,
            "confidence": rendered.confidence}, rendered.body


def pack_results(results: list[tuple[str, bytes]], manifest: list[dict]) -> bytes:
    """A zip (stored: images are compressed already) of results plus manifest.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, body in results:
            archive.writestr(name, body)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return buffer.getvalue()
