"""Production hardening through a real server with API keys on: hostile uploads, auth on every route,
body limit, request ids and JSON access logs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pytest
from PIL import Image

from api.health import READY_PROBE_S, runner_ready
from tests.hostile import corpus
from tests.server import Server, cutout_cli, launch_server, start_server
from tests.tiny_model import build_tiny_birefnet

KEY = "ck_test_key_for_hardening"
PUBLIC = {"/livez", "/readyz", "/metrics"}
CORPUS = corpus()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("hardening")
    home = root / "bentoml"
    keys_file = root / "keys.txt"
    keys_file.write_text(cutout_cli("keys", "hash", KEY, "--name", "tests", env=dict(os.environ)))
    cutout_cli("models", "import", str(build_tiny_birefnet(root / "m.onnx", size=128)),
               env={**os.environ, "BENTOML_HOME": str(home)})
    running = start_server(home, root / "server.log", {
        "CUTOUT_AUTH": "on", "CUTOUT_API_KEYS_FILE": str(keys_file), "CUTOUT_MAX_UPLOAD_MB": "2",
        "CUTOUT_MAX_MEGAPIXELS": "50", "CUTOUT_MAX_CONCURRENCY": "2",
    })
    yield running
    running.stop()


def upload(server: Server, payload: bytes, route: str = "/remove-background", **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}{route}", files={"image": ("upload.jpg", payload, "image/jpeg")},
                      headers={"x-api-key": KEY, **headers}, timeout=60)


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_upload_gets_a_clean_answer(server: Server, name: str) -> None:
    payload, acceptable = CORPUS[name]
    response = upload(server, payload)
    assert response.status_code in acceptable, f"{name}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert response.json()["error"], "a JSON body that says what is wrong"
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, "the server keeps serving"


def test_server_survives_the_whole_corpus_and_still_works(server: Server) -> None:
    good, _ = CORPUS["cmyk jpeg"]
    assert upload(server, good).status_code == 200


@pytest.mark.parametrize("route,method", [
    ("/remove-background", "POST"), ("/process", "POST"), ("/render-template", "POST"), ("/process-full", "POST"),
    ("/health", "GET"), ("/docs.json", "GET"), ("/", "GET"),
    ("/livez", "GET"), ("/readyz", "GET"), ("/metrics", "GET"),
])
def test_every_route_needs_a_key_except_probes_and_metrics(server: Server, route: str, method: str) -> None:
    files = {"image": ("a.jpg", CORPUS["cmyk jpeg"][0], "image/jpeg")} if method == "POST" else None
    anonymous = httpx.request(method, f"{server.url}{route}", files=files, timeout=60)
    wrong = httpx.request(method, f"{server.url}{route}", files=files, headers={"x-api-key": "nope"}, timeout=60)
    keyed = httpx.request(method, f"{server.url}{route}", files=files, headers={"x-api-key": KEY}, timeout=60)
    if route in PUBLIC:
        assert anonymous.status_code == 200
    else:
        assert anonymous.status_code == 401 and "missing API key" in anonymous.json()["error"]
        assert wrong.status_code == 401 and "invalid API key" in wrong.json()["error"]
        assert anonymous.headers["www-authenticate"] == "Bearer"
    assert keyed.status_code == 200, keyed.text[:300]


def test_bearer_token_from_the_bentoml_client(server: Server, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(CORPUS["exif-rotated jpeg"][0])
    with bentoml.SyncHTTPClient(server.url, token=KEY, timeout=60) as client:
        assert Path(client.remove_background(image=photo)).stat().st_size > 0
    with pytest.raises(bentoml.exceptions.BentoMLException):
        with bentoml.SyncHTTPClient(server.url, token="wrong", timeout=60) as client:
            client.remove_background(image=photo)


def test_oversized_body_is_refused_before_it_is_read(server: Server) -> None:
    response = upload(server, b"\xff\xd8" + os.urandom(3_000_000))
    assert response.status_code == 413 and "limit is 2 MB" in response.json()["error"]


def test_request_id_is_echoed_and_logged_as_json(server: Server) -> None:
    response = upload(server, CORPUS["cmyk jpeg"][0], **{"X-Request-ID": "order-4711.photo-3"})
    assert response.headers["x-request-id"] == "order-4711.photo-3"
    assert upload(server, b"", **{"X-Request-ID": "bad id with spaces"}).headers["x-request-id"] != "bad id with spaces"
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith('{"ts"')]
    mine = [line for line in lines if line["request_id"] == "order-4711.photo-3"]
    assert mine, "the request is in the JSON access log"
    entry = mine[-1]
    assert entry["route"] == "/remove-background" and entry["status"] == 200
    assert entry["model"].startswith("birefnet:") and entry["stages_ms"]["model"] >= 0
    assert entry["request_bytes"] > 0 and entry["response_bytes"] > 0
    assert KEY not in server.log.read_text(), "keys never reach the logs"


def test_a_url_in_the_file_field_is_refused_not_fetched(server: Server) -> None:
    response = httpx.post(f"{server.url}/remove-background", data={"image": "https://example.com/photo.jpg"},
                          files={"unused": ("x", b"x")}, headers={"x-api-key": KEY}, timeout=30)
    assert response.status_code == 400
    assert "URLs are not fetched" in response.json()["detail"][0]["msg"]


def test_more_concurrent_requests_than_allowed_get_429(server: Server) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), np.uint8)).save(buffer, "JPEG")
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: upload(server, buffer.getvalue(), "/process"), range(8)))
    statuses = sorted(response.status_code for response in responses)
    assert 200 in statuses and 429 in statuses, statuses
    assert all(response.json()["error"] for response in responses if response.status_code == 429)


def test_readyz_answers_at_once_while_the_runner_loads(tmp_path: Path) -> None:
    """While the runner still loads (here: a warm-up of several seconds), /readyz is a prompt 503, then 200. BentoML's
    own runner probe gave up after 5 s by raising, and BentoML then held the request for the whole request timeout
    (300 s) before answering 500."""
    home = tmp_path / "bentoml"
    slow = build_tiny_birefnet(tmp_path / "slow.onnx", size=2048, busy_layers=40)
    cutout_cli("models", "import", str(slow), env={**os.environ, "BENTOML_HOME": str(home)})
    server = launch_server(home, tmp_path / "server.log")
    statuses = []
    deadline = time.monotonic() + 180
    try:
        while 200 not in statuses and server.process.poll() is None and time.monotonic() < deadline:
            try:
                statuses.append(httpx.get(f"{server.url}/readyz", timeout=READY_PROBE_S + 3).status_code)
            except httpx.ConnectError:
                time.sleep(0.2)
    finally:
        server.stop()
    assert statuses[-1] == 200, server.log.read_text()[-3000:]
    assert 503 in statuses and set(statuses) == {503, 200}, statuses


def test_runner_readiness_check_never_raises(tmp_path: Path) -> None:
    """BentoML's real client to a runner socket that accepts no connection yet, or to no socket at all: not ready,
    within the time asked, and no exception (an exception would hold the /readyz request)."""
    from _bentoml_impl.client import RemoteProxy

    waiting = socket.socket(socket.AF_UNIX)
    waiting.bind(str(tmp_path / "loading.sock"))
    waiting.listen(8)

    async def ready(path: Path) -> bool:
        runner = RemoteProxy(f"file://{path}")
        try:
            return await runner_ready(runner, 1.0)
        finally:
            await runner.close()

    for path in (tmp_path / "loading.sock", tmp_path / "absent.sock"):
        started = time.monotonic()
        assert asyncio.run(ready(path)) is False
        assert time.monotonic() - started < 3
    waiting.close()
