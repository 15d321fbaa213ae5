"""Short load, fault and live-promotion tests (the long run is `make loadtest`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import psutil
import pytest

from tests.load import run_load, studio_jpeg
from tests.server import Server, cutout_cli, start_server
from tests.tiny_model import build_tiny_birefnet


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("load")
    home = root / "bentoml"
    cutout_cli("models", "import", str(build_tiny_birefnet(root / "m.onnx", size=256, busy_layers=4)),
               "--variant", "first", env={**os.environ, "BENTOML_HOME": str(home)})
    running = start_server(home, root / "server.log")
    yield running
    running.stop()


def runner_pid(server: Server) -> int:
    for child in psutil.Process(server.process.pid).children(recursive=True):
        if "birefnet_runner" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("no runner process")


def test_sustained_load_has_no_errors_and_flat_memory(server: Server) -> None:
    payload = studio_jpeg(800, 800)
    run_load(server, payload, clients=4, duration_s=5)
    report = run_load(server, payload, clients=6, duration_s=25)
    assert report.failures == [], report.summary()
    assert report.requests >= 20, report.summary()
    settled = report.rss_samples_mb[len(report.rss_samples_mb) // 3:]
    assert max(settled) - settled[0] < 150, f"memory keeps growing: {report.summary()}"


def test_killing_the_runner_fails_cleanly_and_recovers(server: Server) -> None:
    killed: list[int] = []

    def kill_once(elapsed: float) -> None:
        if elapsed > 3 and not killed:
            killed.append(runner_pid(server))
            os.kill(killed[0], signal.SIGKILL)

    report = run_load(server, studio_jpeg(800, 800), clients=4, duration_s=20, on_tick=kill_once, timeout_s=60)
    assert killed, "the runner was killed mid-load"
    unclean = [failure for failure in report.failures if not failure.startswith("5")]
    assert unclean == [], f"failures must be 5xx with a JSON error, not hangs or resets: {report.summary()}"
    assert max(report.latencies_s) < 60, "no request hung"
    after = run_load(server, studio_jpeg(400, 400), clients=2, duration_s=4)
    assert after.failures == [] and after.requests > 0, f"the service recovered: {after.summary()}"
    assert runner_pid(server) != killed[0]


def test_promote_and_rollback_during_load_fail_no_request(server: Server, tmp_path_factory) -> None:
    second = build_tiny_birefnet(tmp_path_factory.mktemp("second") / "second.onnx", size=256, busy_layers=4)
    switched: list[str] = []

    def switch(elapsed: float) -> None:
        if elapsed > 2 and not switched:
            switched.append(cutout_cli("models", "import", str(second), "--promote", env=server.env))
        elif elapsed > 8 and len(switched) == 1:
            switched.append(cutout_cli("models", "rollback", env=server.env))

    report = run_load(server, studio_jpeg(600, 600), clients=4, duration_s=14, on_tick=switch)
    assert len(switched) == 2
    assert report.failures == [], report.summary()
