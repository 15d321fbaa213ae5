"""The PhotoRoom-compatible endpoints through a real `bentoml serve`, called the way PhotoRoom's documentation's curl
examples call them (only the host and the key change): /v1/segment and GET/POST /v2/edit, errors, keys, imageUrl."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from api.photoroom import image_url
from api.errors import ApiError
from tests.server import Server, cutout_cli, start_server
from tests.tiny_model import build_tiny_birefnet, product_photo

KEY = "ck_photoroom_test_key"
PHOTO_SIZE = (640, 480)
PRODUCT_BOX = (200, 120, 440, 360)  # a 240x240 product


def serve(root: Path, extra_env: dict[str, str] | None = None) -> Server:
    """A server with its own store holding the tiny model."""
    home = root / "bentoml"
    cutout_cli("models", "import", str(build_tiny_birefnet(root / "m.onnx", size=128)),
               env={**os.environ, "BENTOML_HOME": str(home)})
    return start_server(home, root / "server.log", extra_env)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Keys off and imageUrl off: the defaults of `make serve`."""
    running = serve(tmp_path_factory.mktemp("photoroom"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Keys on, and imageUrl on for an allow-list that names only loopback hosts (which must still be refused)."""
    running = serve(tmp_path_factory.mktemp("photoroom-keyed"), {
        "CUTOUT_AUTH": "on", "CUTOUT_API_KEYS": KEY,
        "CUTOUT_ALLOW_IMAGE_URLS": "on", "CUTOUT_IMAGE_URL_HOSTS": "127.0.0.1,localhost",
    })
    yield running
    running.stop()


@pytest.fixture(scope="module")
def photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(product_photo(*PHOTO_SIZE, box=PRODUCT_BOX)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def segment(server: Server, photo: bytes, headers: dict[str, str] | None = None, **form: str) -> httpx.Response:
    """curl --request POST --url $URL/v1/segment --header 'x-api-key: KEY' --form image_file=@photo.jpg --form ..."""
    return httpx.post(f"{server.url}/v1/segment", headers=headers or {"x-api-key": KEY},
                      files={"image_file": ("photo.jpg", photo, "image/jpeg")}, data=form, timeout=60)


def edit(server: Server, photo: bytes, headers: dict[str, str] | None = None, **form: str) -> httpx.Response:
    """curl --request POST --url $URL/v2/edit --header 'x-api-key: KEY' --form imageFile=@photo.jpg --form ..."""
    return httpx.post(f"{server.url}/v2/edit", headers=headers or {"x-api-key": KEY},
                      files={"imageFile": ("photo.jpg", photo, "image/jpeg")}, data=form, timeout=60)


def edit_get(server: Server, **params: str) -> httpx.Response:
    """curl --request GET --url '$URL/v2/edit?imageUrl=...&...' --header 'x-api-key: KEY'"""
    return httpx.get(f"{server.url}/v2/edit", params=params, headers={"x-api-key": KEY}, timeout=60)


def image(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def subject_box(result: Image.Image) -> tuple[int, int, int, int]:
    """The subject's box (x0, y0, x1, y1): any alpha, or any colour on a white background."""
    pixels = np.asarray(result)
    solid = pixels[..., 3] >= 2 if result.mode == "RGBA" else pixels[..., :3].min(axis=-1) < 245
    rows, columns = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def fitted(box: tuple[int, int], size: tuple[int, int], inset: tuple[float, float],
           bottom: bool = False) -> tuple[float, float, float, float]:
    """Where PhotoRoom's positioning puts a box: fitted into the output minus insets, centred or on the bottom."""
    (box_w, box_h), (width, height), (inset_x, inset_y) = box, size, inset
    scale = min((width - 2 * inset_x) / box_w, (height - 2 * inset_y) / box_h)
    left, top = (width - scale * box_w) / 2, (height - scale * box_h) / 2
    if bottom:
        top = height - inset_y - scale * box_h
    return left, top, left + scale * box_w, top + scale * box_h


def assert_near(found: tuple[float, ...], expected: tuple[float, ...], tolerance: float = 2.5) -> None:
    assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) <= tolerance, (found, expected)


def segment_error(response: httpx.Response, status: int, kind: str) -> str:
    """PhotoRoom's /v1 error shape; its message."""
    body = response.json()
    assert response.status_code == status and body.keys() == {"detail", "status_code", "type"}, response.text
    assert body["status_code"] == status and body["type"] == kind, body
    return body["detail"]


def edit_error(response: httpx.Response, status: int) -> str:
    """PhotoRoom's /v2 error shape; its message."""
    assert response.status_code == status, response.text
    assert response.json().keys() == {"error"} and response.json()["error"].keys() == {"message"}, response.text
    return response.json()["error"]["message"]


def test_segment_defaults_to_a_full_size_rgba_png(server: Server, photo: bytes) -> None:
    response = segment(server, photo)
    result = image(response)
    assert response.headers["content-type"] == "image/png" and result.mode == "RGBA" and result.size == PHOTO_SIZE
    pixels = np.asarray(result)
    assert pixels[240, 320, 3] == 255 and pixels[10, 10, 3] == 0
    assert pixels[10, 10, :3].max() == 0, "the removed background does not survive in invisible pixels"


def test_segment_and_edit_carry_photorooms_uncertainty_score(server: Server, photo: bytes) -> None:
    for response in (segment(server, photo), edit(server, photo, outputSize="400x400")):
        assert response.status_code == 200, response.text
        uncertainty = float(response.headers["x-uncertainty-score"])
        confidence = float(response.headers["x-cutout-confidence"])
        assert 0.0 <= uncertainty < 0.1, "the tiny model's clean rectangle is a sure cut-out"
        assert uncertainty == pytest.approx(1.0 - confidence, abs=1e-3)


@pytest.mark.parametrize("fmt,pil_format,mode", [("png", "PNG", "RGBA"), ("jpg", "JPEG", "RGB"),
                                                 ("webp", "WEBP", "RGBA")])
def test_segment_formats(server: Server, photo: bytes, fmt: str, pil_format: str, mode: str) -> None:
    result = image(segment(server, photo, format=fmt))
    assert result.format == pil_format and result.mode == mode and result.size == PHOTO_SIZE


def test_segment_alpha_channel_is_a_greyscale_mask(server: Server, photo: bytes) -> None:
    result = image(segment(server, photo, channels="alpha"))
    assert result.mode == "L" and result.size == PHOTO_SIZE
    assert np.asarray(result)[240, 320] == 255 and np.asarray(result)[10, 10] == 0


@pytest.mark.parametrize("color,rgb", [("#00FF00", (0, 255, 0)), ("red", (255, 0, 0)), ("0000FF", (0, 0, 255))])
def test_segment_bg_color(server: Server, photo: bytes, color: str, rgb: tuple[int, int, int]) -> None:
    result = image(segment(server, photo, bg_color=color))
    assert result.size == PHOTO_SIZE and "A" not in result.mode
    assert np.abs(np.asarray(result)[5, 5, :3].astype(int) - rgb).max() <= 2


def test_segment_crop_and_size(server: Server, photo: bytes) -> None:
    cropped = image(segment(server, photo, crop="true"))
    assert abs(cropped.size[0] - 240) <= 4 and abs(cropped.size[1] - 240) <= 4, cropped.size
    assert image(segment(server, photo, size="preview")).size == (577, 433), "0.25 megapixels, aspect kept"
    assert image(segment(server, photo, size="medium")).size == PHOTO_SIZE, "never enlarged"


def test_segment_answers_base64_json_to_json_clients(server: Server, photo: bytes) -> None:
    response = segment(server, photo, headers={"x-api-key": KEY, "Accept": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert Image.open(io.BytesIO(base64.b64decode(response.json()["base64img"]))).size == PHOTO_SIZE


def test_segment_errors_in_photoroom_shape(server: Server, photo: bytes) -> None:
    missing = httpx.post(f"{server.url}/v1/segment", files={"format": (None, "png")}, timeout=30)
    assert segment_error(missing, 400, "missing_image") == "Please provide an image."
    assert "despill" in segment_error(segment(server, photo, despill="true"), 400, "unsupported_parameter")
    assert "image_url" in segment_error(segment(server, photo, image_url="https://x.test/a.jpg"), 400,
                                        "unknown_parameter")
    assert "format" in segment_error(segment(server, photo, format="gif"), 400, "invalid_parameter")
    assert "channels=alpha" in segment_error(segment(server, photo, channels="alpha", bg_color="red"), 400,
                                             "invalid_parameter")
    segment_error(segment(server, b"not an image at all"), 415, "unsupported_image_format")


def test_edit_get_with_image_url_is_refused_by_default(server: Server) -> None:
    response = edit_get(server, imageUrl="https://example.com/photo.jpg", removeBackground="true",
                        **{"background.color": "FFFFFF"}, outputSize="1000x1000", padding="0.1")
    assert "imageUrl is disabled" in edit_error(response, 400)


@pytest.fixture(scope="module")
def subject(server: Server, photo: bytes) -> tuple[int, int]:
    """The size of the subject's box as the model cuts it out (its soft edge makes it a little over 240x240)."""
    return image(segment(server, photo, crop="true")).size


def test_edit_post_documented_example(server: Server, photo: bytes, subject: tuple[int, int]) -> None:
    response = edit(server, photo, **{"background.color": "FFFFFF", "export.format": "jpeg"}, padding="0.1",
                    outputSize="1000x1000")
    result = image(response)
    assert response.headers["content-type"] == "image/jpeg" and result.size == (1000, 1000)
    assert np.asarray(result)[3, 3].min() >= 250, "white background"
    # On white, the faintest few rows of the soft edge (alpha 2..40) are not told from the background: 6 px slack.
    assert_near(subject_box(result), fitted(subject, (1000, 1000), (100, 100)), 6)


def test_edit_defaults_fit_the_subject_into_the_original_size(server: Server, photo: bytes,
                                                             subject: tuple[int, int]) -> None:
    result = image(edit(server, photo))
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == PHOTO_SIZE
    assert np.asarray(result)[3, 3, 3] == 0, "transparent background"
    assert_near(subject_box(result), fitted(subject, PHOTO_SIZE, (0, 0)))


def test_edit_reference_box_original_image_keeps_the_position(server: Server, photo: bytes) -> None:
    kept = subject_box(image(edit(server, photo, referenceBox="originalImage")))
    assert_near(kept, subject_box(image(segment(server, photo))), 1)


@pytest.mark.parametrize("form,size,inset", [
    ({"outputSize": "1000x500", "padding": "0.1"}, (1000, 500), (100, 50)),  # 10% of each side
    ({"outputSize": "1000x1000", "margin": "10%", "padding": "40px"}, (1000, 1000), (140, 140)),
    ({"outputSize": "600x400", "margin": "0.1", "padding": "0.25"}, (600, 400), (60 + 120, 40 + 80)),
    ({"outputSize": "originalImage", "maxWidth": "320"}, (320, 240), (0, 0)),
])
def test_edit_output_size_padding_and_margin(server: Server, photo: bytes, subject: tuple[int, int],
                                             form: dict[str, str], size: tuple[int, int],
                                             inset: tuple[float, float]) -> None:
    result = image(edit(server, photo, **form))
    assert result.size == size
    assert_near(subject_box(result), fitted(subject, size, inset))


def test_edit_cropped_subject(server: Server, photo: bytes, subject: tuple[int, int]) -> None:
    result = image(edit(server, photo, outputSize="croppedSubject"))
    assert result.size == subject and subject_box(result) == (0, 0, *subject)
    assert "croppedSubject" in edit_error(edit(server, photo, outputSize="1000x1000", maxWidth="500"), 400)


def test_edit_bottom_alignment(server: Server, photo: bytes, subject: tuple[int, int]) -> None:
    result = image(edit(server, photo, outputSize="800x800", padding="0.1", verticalAlignment="bottom"))
    assert_near(subject_box(result), fitted(subject, (800, 800), (80, 80), bottom=True))
    uneven = edit(server, photo, outputSize="1000x500", padding="0.1", verticalAlignment="bottom")
    assert "verticalAlignment" in edit_error(uneven, 400)


def test_edit_shadow_modes(server: Server, photo: bytes) -> None:
    def band(mode: str | None) -> np.ndarray:
        form = {"background.color": "FFFFFF", "outputSize": "600x600", "padding": "0.2",
                **({"shadow.mode": mode} if mode else {})}
        return np.asarray(image(edit(server, photo, **form)).convert("L"))[484:520, 220:380].astype(float)

    plain = band(None)
    assert plain.min() >= 250, "no shadow unless asked"
    shades = {mode: band(mode) for mode in ("ai.soft", "ai.hard", "ai.floating")}
    for mode, shade in shades.items():
        assert shade.mean() < plain.mean() - 2, f"{mode} darkens the floor under the product"
    assert not np.allclose(shades["ai.soft"], shades["ai.hard"]) and not np.allclose(shades["ai.soft"],
                                                                                      shades["ai.floating"])
    assert image(edit(server, photo, **{"shadow.mode": "ai.auto-with-overrides"})).size == PHOTO_SIZE


@pytest.mark.parametrize("name,value", [
    ("background.prompt", "on a wooden table"), ("background.imageUrl", "https://example.com/bg.jpg"),
    ("lighting.mode", "ai.auto"), ("upscale.mode", "ai.fast"), ("expand.mode", "ai.auto"),
    ("textRemoval.mode", "ai.all"), ("shadow.intensityOverride", "0.5"), ("paddingTop", "0.2"),
    ("scaling", "fill"), ("horizontalAlignment", "left"), ("verticalAlignment", "top"),
    ("removeBackground", "false"), ("keepExistingAlphaChannel", "auto"), ("backgroundColour", "red"),
])
def test_edit_refuses_what_it_cannot_honour(server: Server, photo: bytes, name: str, value: str) -> None:
    assert name in edit_error(edit(server, photo, **{name: value}), 400)


def test_edit_errors_in_photoroom_shape(server: Server, photo: bytes) -> None:
    edit_error(edit(server, b"\x89PNG\r\n\x1a\n truncated"), 422)
    assert "padding" in edit_error(edit(server, photo, padding="0.6"), 400)
    assert "background.color" in edit_error(edit(server, photo, **{"background.color": "not-a-colour"}), 400)
    assert "export.dpi" in edit_error(edit(server, photo, **{"export.dpi": "20"}), 400)
    assert "imageFile" in edit_error(httpx.post(f"{server.url}/v2/edit", data={"padding": "0.1"}, timeout=30), 400)
    in_query = httpx.post(f"{server.url}/v2/edit?padding=0.1", files={"imageFile": ("p.jpg", photo)}, timeout=30)
    assert "query string" in edit_error(in_query, 400)


def test_edit_export_dpi_and_webp(server: Server, photo: bytes) -> None:
    result = image(edit(server, photo, **{"export.format": "webp", "export.dpi": "300"}))
    assert result.format == "WEBP"
    assert round(image(edit(server, photo, **{"export.dpi": "300"})).info["dpi"][0]) == 300


def test_bentoml_routes_are_not_shadowed(server: Server) -> None:
    for path in ("/", "/docs.json", "/metrics", "/readyz", "/livez", "/health"):
        assert httpx.get(f"{server.url}{path}", timeout=30).status_code == 200, path
    assert httpx.get(f"{server.url}/v1/segment", timeout=30).status_code == 405


def test_keys_are_required_and_x_api_key_works(keyed: Server, photo: bytes) -> None:
    for route, field in (("/v1/segment", "image_file"), ("/v2/edit", "imageFile")):
        files = {field: ("photo.jpg", photo, "image/jpeg")}
        assert httpx.post(f"{keyed.url}{route}", files=files, timeout=60).status_code == 401
        wrong = httpx.post(f"{keyed.url}{route}", files=files, headers={"x-api-key": "nope"}, timeout=60)
        assert wrong.status_code == 401
        assert httpx.post(f"{keyed.url}{route}", files=files, headers={"x-api-key": KEY}, timeout=60).status_code == 200


@pytest.mark.parametrize("url,reason", [
    ("http://127.0.0.1:9/photo.jpg", "not a public address"),
    ("http://localhost:9/photo.jpg", "not a public address"),
    ("http://images.example.com/photo.jpg", "allow-list"),
    ("file:///etc/passwd", "http or https"),
])
def test_image_url_refuses_private_hosts_even_when_allow_listed(keyed: Server, url: str, reason: str) -> None:
    assert reason in edit_error(edit_get(keyed, imageUrl=url), 400)


class ImageHost(BaseHTTPRequestHandler):
    """A local image host: /photo.jpg, /big.jpg (over the limit), /moved (a redirect)."""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/photo.jpg")
            self.end_headers()
            return
        if self.path not in ("/photo.jpg", "/big.jpg"):
            self.send_error(404)
            return
        body = b"x" * (2000 if self.path == "/big.jpg" else 500)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_fetch_image_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_url, "check_public", lambda *_: None)  # let the test reach loopback
    host = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    base = f"http://localhost:{host.server_port}"
    policy = image_url.UrlPolicy(enabled=True, hosts=frozenset({"localhost"}), max_bytes=1000)
    try:
        assert asyncio.run(image_url.fetch_image(f"{base}/photo.jpg", policy)) == b"x" * 500
        for path, status in (("/big.jpg", 413), ("/moved", 400), ("/missing", 400)):
            with pytest.raises(ApiError) as refused:
                asyncio.run(image_url.fetch_image(f"{base}{path}", policy))
            assert refused.value.status == status, path
    finally:
        host.shutdown()
