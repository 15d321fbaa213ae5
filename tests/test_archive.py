"""The batch task's archive handling: one photo's failure, expected or a bug, stays that photo's error."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from api.archive import pack_results, render_member
from api.errors import ApiError
from api.processor import Rendered


def render(data: bytes) -> Rendered:
    """A stand-in renderer: rejects one input as the API would, fails on another as a bug would."""
    if data == b"bad":
        raise ApiError(422, "the upload is not a readable image")
    if data == b"bug":
        raise ZeroDivisionError("division by zero")
    return Rendered(data.upper(), "image/png", "birefnet:v1", confidence=0.75)


def test_a_rendered_member_gets_its_output_name_model_and_confidence() -> None:
    entry, body = render_member(render, "shoot/a.jpg", b"ok", "png")
    assert entry == {"input": "shoot/a.jpg", "status": "ok", "output": "shoot/a.png", "model": "birefnet:v1",
                     "confidence": 0.75}
    assert body == b"OK"


@pytest.mark.parametrize(("data", "error"), [
    (b"bad", "the upload is not a readable image"),
    (b"bug", "internal error: ZeroDivisionError: division by zero"),
])
def test_a_failed_member_is_recorded_and_the_others_are_kept(data: bytes, error: str) -> None:
    done = [render_member(render, name, photo, "jpeg") for name, photo in (("a.jpg", b"ok"), ("b.jpg", data))]
    manifest = [entry for entry, _ in done]
    packed = pack_results([(entry["output"], body) for entry, body in done if body is not None], manifest)
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert archive.read("a.jpg") == b"OK"
        assert sorted(archive.namelist()) == ["a.jpg", "manifest.json"]
        assert json.loads(archive.read("manifest.json"))[1] == {"input": "b.jpg", "status": "error", "error": error}
