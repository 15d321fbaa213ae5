"""Uploads must be files: BentoML fetches a file field given as a URL string (`-F image=https://...`) on the
server's behalf. That is a server-side request forgery risk, so such values are refused with a 400."""

from __future__ import annotations

from _bentoml_impl.serde import MultipartSerde
from pydantic import ValidationError
from starlette.datastructures import UploadFile


async def file_only(value: str | UploadFile) -> UploadFile:
    """Accept an uploaded file; a text value in a file field is a validation error, never a download."""
    if isinstance(value, UploadFile):
        return value
    raise ValidationError.from_exception_data("Input", [{
        "type": "value_error",
        "loc": ("image",),
        "input": "<text>",
        "ctx": {"error": ValueError("send the image as an uploaded file (curl -F image=@photo.jpg); "
                                    "URLs are not fetched")},
    }])


def refuse_url_uploads() -> None:
    """Install the file-only rule for every multipart file field of every service in this process."""
    MultipartSerde.ensure_file = staticmethod(file_only)
