"""`cutout batch`: resumable folder processing, in-process and against a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from commands.folder import Outcome, run_batch
from tests.server import BIN, start_server, tiny_model_home
from tests.tiny_model import product_photo


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch-store")
    return tiny_model_home(root, 64)


def make_photos(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(7)
    paths = []
    for index in range(count):
        x0, y0 = rng.integers(20, 80, 2)
        image = product_photo(240, 180, box=(int(x0), int(y0), int(x0) + 100, int(y0) + 80))
        path = folder / f"shoot-{index // 50}" / f"SKU-{index:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths


def batch_command(source: Path, target: Path, *extra: str) -> list[str]:
    return [str(BIN / "cutout"), "batch", str(source), str(target), "--preset", "marketplace", *extra]


def manifest_entries(target: Path) -> list[dict]:
    lines = (target / "manifest.jsonl").read_text().splitlines() if (target / "manifest.jsonl").exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def test_killed_batch_resumes_and_finishes(home: Path, tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "in", 200)
    target = tmp_path / "out"
    env = {**os.environ, "BENTOML_HOME": str(home), "CUTOUT_ORT_THREADS": "1"}
    first = subprocess.Popen(batch_command(tmp_path / "in", target, "--concurrency", "4"), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(manifest_entries(target)) < 60 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = len(list(target.rglob("*.jpg")))
    assert 0 < done_before < 200, "killed halfway"

    second = subprocess.run(batch_command(tmp_path / "in", target), env=env, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "already done" in second.stdout
    outputs = sorted(target.rglob("*.jpg"))
    assert len(outputs) == 200 and not list(target.rglob("*.part")), "every output, no temporary files left"
    for output in outputs:
        with Image.open(output) as image:
            image.load()
            assert image.size == (1600, 1600)
    finished = {entry["input"] for entry in manifest_entries(target) if entry["status"] == "ok"}
    assert finished == {str(photo.relative_to(tmp_path / "in")) for photo in photos}, "the manifest is complete"


def test_a_broken_file_is_recorded_and_the_run_goes_on(home: Path, tmp_path: Path) -> None:
    make_photos(tmp_path / "in", 3)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    env = {**os.environ, "BENTOML_HOME": str(home)}
    done = subprocess.run(batch_command(tmp_path / "in", tmp_path / "out"), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert "3 processed" in done.stdout and "1 failed" in done.stdout
    errors = [entry for entry in manifest_entries(tmp_path / "out") if entry["status"] == "error"]
    assert [entry["input"] for entry in errors] == ["broken.jpg"] and "not a supported image" in errors[0]["error"]


def test_batch_through_a_running_server(home: Path, tmp_path: Path) -> None:
    make_photos(tmp_path / "in", 6)
    server = start_server(home, tmp_path / "server.log")
    try:
        done = subprocess.run(batch_command(tmp_path / "in", tmp_path / "out", "--server", server.url),
                              env=dict(os.environ), capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    entries = manifest_entries(tmp_path / "out")
    assert done.returncode == 0, [entry.get("error") for entry in entries]
    assert len(entries) == 6 and all(entry["model"].startswith("birefnet:") for entry in entries)
    assert all(0.9 <= entry["confidence"] <= 1.0 for entry in entries), "the service's header reaches the manifest"


def test_doubtful_results_are_also_written_for_review(home: Path, tmp_path: Path) -> None:
    make_photos(tmp_path / "in", 3)
    for name in ("empty-1.jpg", "shoot-0/empty-2.jpg"):
        Image.new("RGB", (240, 180), (250, 250, 250)).save(tmp_path / "in" / name)
    env = {**os.environ, "BENTOML_HOME": str(home)}
    done = subprocess.run(batch_command(tmp_path / "in", tmp_path / "out", "--review-below", "0.5"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "5 processed" in done.stdout and "2 to review" in done.stdout
    review = sorted(str(path.relative_to(tmp_path / "out" / "review")) for path in (tmp_path / "out").rglob("*.jpg")
                    if "review" in path.parts)
    assert review == ["empty-1.jpg", "shoot-0/empty-2.jpg"], "only the cut-outs the model was unsure of"
    entries = {entry["input"]: entry for entry in manifest_entries(tmp_path / "out")}
    assert entries["empty-1.jpg"]["review"] and entries["empty-1.jpg"]["confidence"] == 0.0
    assert not entries["shoot-0/SKU-0000.jpg"]["review"] and entries["shoot-0/SKU-0000.jpg"]["confidence"] > 0.9


def test_unknown_preset_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    done = subprocess.run([str(BIN / "cutout"), "batch", str(tmp_path / "in"), str(tmp_path / "out"), "--preset",
                           "nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "known presets" in done.stderr


def test_an_unexpected_error_on_one_photo_is_recorded_not_lost(tmp_path: Path) -> None:
    """A bug that raises on one photo (not an ApiError) must neither vanish nor stop the run: the photo is recorded
    as failed with the exception, every other photo is written."""
    photos = make_photos(tmp_path / "in", 12)
    poisoned = photos[5].read_bytes()

    def process(data: bytes) -> Outcome:
        if data == poisoned:
            raise ValueError("a bug on this photo")
        return Outcome(b"output", "test")

    counts = run_batch(tmp_path / "in", tmp_path / "out", "marketplace", process, concurrency=2)
    assert counts["ok"] == 11 and counts["failed"] == 1
    errors = [entry for entry in manifest_entries(tmp_path / "out") if entry["status"] == "error"]
    assert [entry["input"] for entry in errors] == ["shoot-0/SKU-0005.jpg"]
    assert "ValueError: a bug on this photo" in errors[0]["error"]
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 11


def test_outputs_are_readable_like_any_new_file(tmp_path: Path) -> None:
    """Outputs get the permissions the umask gives new files (the shop's web server, another user, reads them), not
    the owner-only mode of the temporary file they are written to."""
    make_photos(tmp_path / "in", 2)
    run_batch(tmp_path / "in", tmp_path / "out", "marketplace", lambda data: Outcome(b"output", "test"), concurrency=1)
    outputs = list((tmp_path / "out").rglob("*.jpg"))
    assert len(outputs) == 2
    mask = os.umask(0o022)
    os.umask(mask)
    assert {output.stat().st_mode & 0o777 for output in outputs} == {0o666 & ~mask}
