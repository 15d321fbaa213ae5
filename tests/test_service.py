"""The HTTP API through a real `bentoml serve`: every endpoint, both client styles, errors, batching, promotion."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bentoml
import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from api.allocator import ENVIRONMENT

from tests.server import Server, cutout_cli, start_server
from tests.tiny_model import build_tiny_birefnet, product_photo

PHOTO_SIZE = (640, 480)
PRODUCT_BOX = (200, 120, 440, 360)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("service")
    home = root / "bentoml"
    env = {**os.environ, "BENTOML_HOME": str(home)}
    cutout_cli("models", "import", str(build_tiny_birefnet(root / "studio.onnx", size=256, busy_layers=8)),
               "--variant", "studio", env=env)
    running = start_server(home, root / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "in.jpg"
    Image.fromarray(product_photo(*PHOTO_SIZE, box=PRODUCT_BOX)).save(path, quality=95)
    return path


def post(server: Server, route: str, photo: Path, **fields: str) -> httpx.Response:
    """A curl-style multipart request: `-F image=@photo -F key=value ...`."""
    with open(photo, "rb") as handle:
        return httpx.post(f"{server.url}{route}", files={"image": (photo.name, handle, "image/jpeg")}, data=fields,
                          timeout=60)


def decode(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def test_remove_background_with_bentoml_client(server: Server, photo: Path) -> None:
    with bentoml.SyncHTTPClient(server.url, timeout=60) as client:
        result = client.remove_background(image=photo)
    cutout = Image.open(result)
    assert cutout.format == "PNG" and cutout.mode == "RGBA"
    assert cutout.size == PHOTO_SIZE, "full input resolution"
    alpha = np.asarray(cutout)[..., 3]
    assert alpha[240, 320] == 255, "the product is opaque"
    assert alpha[10, 10] == 0 and alpha[470, 630] == 0, "the studio background is transparent"
    assert not np.asarray(cutout)[..., :3][alpha == 0].any(), "no background colour hides under alpha 0"


def test_every_cutout_route_carries_the_confidence(server: Server, photo: Path, tmp_path: Path) -> None:
    for route, fields in (("/remove-background", {}), ("/remove-background", {"mask": "raw"}),
                          ("/process", {"preset": "shop-hero"}), ("/process-full", {"size": "300x300"})):
        response = post(server, route, photo, **fields)
        assert response.status_code == 200, response.text
        assert 0.9 <= float(response.headers["x-cutout-confidence"]) <= 1.0, (route, "a clean rectangle is sure")
    blank = tmp_path / "blank.jpg"
    Image.new("RGB", PHOTO_SIZE, (250, 250, 250)).save(blank)
    assert float(post(server, "/remove-background", blank).headers["x-cutout-confidence"]) == 0.0, "nothing cut out"
    branded = post(server, "/render-template", photo, text="Camera Store")
    assert "x-cutout-confidence" not in branded.headers, "no model ran, so there is no cut-out to be sure of"


def test_other_endpoints_with_bentoml_client(server: Server, photo: Path) -> None:
    with bentoml.SyncHTTPClient(server.url, timeout=60) as client:
        processed = Image.open(client.process(image=photo, background="000000", size="300x300", format="jpeg"))
        branded = Image.open(client.render_template(image=photo, text="Camera Store", position="top"))
        full = Image.open(client.process_full(image=photo, size="320x320", text="Camera Store"))
    assert processed.format == "JPEG" and processed.size == (300, 300)
    assert np.asarray(processed)[2, 2].max() <= 10, "black background as asked"
    assert branded.size == PHOTO_SIZE and full.size == (320, 320)


def test_process_curl_style_on_white_with_shadow(server: Server, photo: Path) -> None:
    response = post(server, "/process", photo, background="FFFFFF", shadow="true")
    result = decode(response)
    assert result.format == "PNG"
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert (pixels[2, 2] == 255).all(), "clean white background"
    height, width = pixels.shape[:2]
    assert np.abs(pixels[height // 2, width // 2] - (150, 30, 30)).max() <= 12, "the product, centred"
    assert response.headers["X-Model-Tag"].startswith("birefnet:")
    assert "model;dur=" in response.headers["Server-Timing"]


@pytest.mark.parametrize("fmt,pil_format", [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_process_output_size_and_format(server: Server, photo: Path, fmt: str, pil_format: str) -> None:
    result = decode(post(server, "/process", photo, size="300x200", format=fmt, background="00FF00"))
    assert result.format == pil_format
    assert result.size == (300, 200)
    assert np.abs(np.asarray(result.convert("RGB"))[1, 1].astype(int) - (0, 255, 0)).max() <= 10


def test_process_transparent_background_keeps_alpha(server: Server, photo: Path) -> None:
    result = decode(post(server, "/process", photo, background="transparent"))
    assert result.mode == "RGBA"
    assert np.asarray(result)[0, 0, 3] == 0


def test_render_template_draws_a_bar(server: Server, photo: Path) -> None:
    result = decode(post(server, "/render-template", photo, text="Camera Store", bar_color="0000FFFF",
                         position="top"))
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert result.size == PHOTO_SIZE
    assert np.abs(pixels[3, 3] - (0, 0, 255)).max() <= 10, "an opaque blue bar at the top"
    assert pixels[-3, 3].min() >= 240, "the bottom is untouched"


def test_process_full_runs_the_whole_pipeline(server: Server, photo: Path) -> None:
    result = decode(post(server, "/process-full", photo, text="Camera Store", size="400x400", position="bottom",
                         bar_color="000000FF"))
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert result.size == (400, 400)
    assert pixels[-2, 200].max() <= 10, "a black bar at the bottom"
    assert pixels[2, 2].min() >= 245, "white background above"


def test_health_reports_model_and_process(server: Server) -> None:
    body = httpx.get(f"{server.url}/health", timeout=30).json()
    assert body["status"] == "ok"
    assert body["model"]["tag"].startswith("birefnet:")
    assert body["model"]["metadata"]["variant"] == "studio"
    assert body["model"]["metadata"]["input_size"] == 256
    assert body["memory_rss_mb"] > 10 and body["uptime_s"] >= 0


def test_every_server_process_reuses_freed_memory(server: Server) -> None:
    """`bentoml serve` imports service.py (api.allocator) before it starts its workers, which inherit the settings."""
    assert "MALLOC_ARENA_MAX" not in psutil.Process(server.process.pid).environ(), "started from glibc's defaults"
    workers = psutil.Process(server.process.pid).children(recursive=True)
    kinds = {("birefnet_runner" if "birefnet_runner" in " ".join(w.cmdline()) else "api") for w in workers}
    assert kinds == {"api", "birefnet_runner"}
    for worker in workers:
        environment = worker.environ()
        assert {name: environment.get(name) for name in ENVIRONMENT} == ENVIRONMENT, worker.cmdline()


@pytest.mark.parametrize(
    "payload,status,words",
    [
        (b"", 400, "empty"),
        (b"hello, I am a text file", 415, "not a supported image"),
        (b"GIF89a" + b"\0" * 64, 415, "not a supported image"),
    ],
)
def test_bad_uploads_get_json_errors(server: Server, tmp_path: Path, payload: bytes, status: int, words: str) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(payload)
    response = post(server, "/remove-background", bad)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_truncated_jpeg_is_422(server: Server, photo: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(photo.read_bytes()[: 2000])
    response = post(server, "/process", truncated)
    assert response.status_code == 422
    assert "truncated" in response.json()["error"]


def test_bad_parameters_name_the_field(server: Server, photo: Path) -> None:
    response = post(server, "/process", photo, background="not-a-colour")
    assert response.status_code == 400
    body = response.json()
    assert body["details"][0]["field"] == "background" and "hex" in body["details"][0]["message"]
    response = post(server, "/process", photo, format="gif")
    assert response.status_code == 400 and "error" in response.json()
    response = post(server, "/render-template", photo, template="no-such-template")
    assert response.status_code == 404 and "no-such-template" in response.json()["error"]


def test_missing_image_is_400(server: Server) -> None:
    response = httpx.post(f"{server.url}/process", data={"background": "FFFFFF"}, timeout=30)
    assert response.status_code == 400 and "error" in response.json()


def test_metrics_show_stage_timings_and_batches(server: Server, photo: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post(server, "/remove-background", photo).status_code, range(32)))
    assert statuses == [200] * 32
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert 'cutout_stage_seconds_count{endpoint="remove-background",stage="model"}' in metrics
    batch_lines = [line for line in metrics.splitlines()
                   if line.startswith("bentoml_service_adaptive_batch_size_bucket") and 'method_name="segment"' in line]
    counts = {float(line.split('le="')[1].split('"')[0]): float(line.rsplit(" ", 1)[1]) for line in batch_lines}
    assert counts, "the runner's batch-size histogram is exported"
    assert counts[float("inf")] > counts[1.0], f"some batches held more than one image: {counts}"


def test_promote_and_rollback_switch_the_served_model(server: Server, photo: Path, tmp_path: Path) -> None:
    original = httpx.get(f"{server.url}/health", timeout=30).json()["model"]["tag"]
    inverted = build_tiny_birefnet(tmp_path / "inverted.onnx", size=256, invert=True)
    cutout_cli("models", "import", str(inverted), "--variant", "inverted", "--promote", env=server.env)

    def served_variant(expected: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            post(server, "/remove-background", photo)
            model = httpx.get(f"{server.url}/health", timeout=30).json()["model"]
            if model["metadata"]["variant"] == expected:
                return model["tag"]
            time.sleep(1)
        raise AssertionError(f"the service did not switch to {expected}")

    new_tag = served_variant("inverted")
    assert new_tag != original
    alpha = np.asarray(decode(post(server, "/remove-background", photo)))[..., 3]
    assert alpha[240, 320] == 0 and alpha[10, 10] == 255, "the inverted model is the one answering"
    cutout_cli("models", "rollback", env=server.env)
    assert served_variant("studio") == original


def test_presets_set_defaults_and_fields_override_them(server: Server, photo: Path) -> None:
    marketplace = decode(post(server, "/process", photo, preset="marketplace"))
    assert marketplace.format == "JPEG" and marketplace.size == (1600, 1600)
    overridden = decode(post(server, "/process", photo, preset="marketplace", size="500x400", format="png"))
    assert overridden.format == "PNG" and overridden.size == (500, 400)
    unknown = post(server, "/process", photo, preset="no-such-preset")
    assert unknown.status_code == 404 and "marketplace" in unknown.json()["error"], "the known presets are listed"


def test_upload_content_type_and_name_do_not_matter(server: Server, photo: Path) -> None:
    response = httpx.post(f"{server.url}/remove-background", timeout=60,
                          files={"image": ("photo", photo.read_bytes(), "application/octet-stream")})
    assert decode(response).size == PHOTO_SIZE


def test_batch_task_takes_a_zip_and_returns_results_with_a_manifest(server: Server, photo: Path) -> None:
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("shoot/a.jpg", photo.read_bytes())
        archive.writestr("shoot/b.jpg", photo.read_bytes())
        archive.writestr("broken.png", b"\x89PNG\r\n\x1a\n broken")
        archive.writestr("notes.txt", b"ignored")
        archive.writestr("../escape.jpg", photo.read_bytes())
    submitted = httpx.post(f"{server.url}/batch/submit", data={"preset": "marketplace"},
                           files={"archive": ("photos.zip", upload.getvalue(), "application/zip")}, timeout=60)
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["task_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/batch/status", params={"task_id": task_id}, timeout=30).json()["status"]
        if status != "in_progress":
            break
        time.sleep(0.5)
    assert status == "completed"
    result = httpx.get(f"{server.url}/batch/get", params={"task_id": task_id}, timeout=60)
    with zipfile.ZipFile(io.BytesIO(result.content)) as archive:
        manifest = {entry["input"]: entry for entry in json.loads(archive.read("manifest.json"))}
        assert set(manifest) == {"shoot/a.jpg", "shoot/b.jpg", "broken.png"}, "text files and escapes are skipped"
        assert manifest["broken.png"]["status"] == "error", manifest
        assert manifest["shoot/a.jpg"]["status"] == "ok", (manifest, archive.namelist())
        assert 0.9 <= manifest["shoot/a.jpg"]["confidence"] <= 1.0, manifest
        assert Image.open(io.BytesIO(archive.read("shoot/a.jpg"))).size == (1600, 1600)
