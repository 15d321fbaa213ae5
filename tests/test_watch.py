"""`cutout batch IN OUT --watch`: the booth's folder, each photo processed exactly once as it completes, through
restarts and kills, with bad files recorded and clean stops."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from tests.server import BIN, tiny_model_home
from tests.tiny_model import product_photo


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watch-store")
    return tiny_model_home(root, 64)


def jpeg(seed: int) -> bytes:
    x0 = 20 + seed % 40
    data = io.BytesIO()
    Image.fromarray(product_photo(240, 180, box=(x0, 30, x0 + 100, 120))).save(data, format="JPEG", quality=90)
    return data.getvalue()


def start_watch(home: Path, source: Path, target: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "cutout"), "batch", str(source), str(target), "--preset", "transparent",
                             "--watch", "--poll", "0.1", "--settle", "0.6"],
                            env={**os.environ, "BENTOML_HOME": str(home), "CUTOUT_ORT_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def entries(target: Path) -> list[dict]:
    path = target / "manifest.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    return out, err


def test_each_photo_is_processed_once_when_complete(home: Path, tmp_path: Path) -> None:
    source, target = tmp_path / "booth", tmp_path / "shop"
    source.mkdir()
    (source / "early.jpg").write_bytes(jpeg(0))  # there before the watch starts
    watch = start_watch(home, source, target)
    try:
        wait_for(lambda: any(entry["input"] == "early.jpg" for entry in entries(target)))
        (source / "copied.jpg").write_bytes(jpeg(1))
        staging = source / ".incoming"
        staging.mkdir()
        (staging / "renamed.jpg").write_bytes(jpeg(2))
        os.rename(staging / "renamed.jpg", source / "renamed.jpg")
        slow = jpeg(3)
        with open(source / "slow.jpg", "wb") as handle:  # written in chunks over about two settle periods
            for start in range(0, len(slow), len(slow) // 8):
                handle.write(slow[start:start + len(slow) // 8])
                handle.flush()
                time.sleep(0.15)
                assert not (target / "slow.png").exists(), "taken before it was complete"
        (source / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
        (source / "sub").mkdir()
        (source / "sub" / "nested.jpg").write_bytes(jpeg(4))
        expected = {"early.jpg", "copied.jpg", "renamed.jpg", "slow.jpg", "broken.jpg", "sub/nested.jpg"}
        wait_for(lambda: {entry["input"] for entry in entries(target)} >= expected)
        time.sleep(1.5)  # several more polls: nothing is taken twice
    finally:
        out, _ = stop(watch)
    counted = Counter(entry["input"] for entry in entries(target))
    assert counted == Counter(expected), "each photo exactly once"
    errors = [entry for entry in entries(target) if entry["status"] == "error"]
    assert [entry["input"] for entry in errors] == ["broken.jpg"], "a bad file is recorded and the watch goes on"
    for name in ("early", "copied", "renamed", "slow", "sub/nested"):
        with Image.open(target / f"{name}.png") as result:
            assert result.size == (240, 180) and result.mode == "RGBA"
    assert "ok    slow.jpg -> slow.png" in out and not list(target.rglob("*.part"))


def test_a_killed_watch_restarts_without_losing_or_repeating_anything(home: Path, tmp_path: Path) -> None:
    source, target = tmp_path / "booth", tmp_path / "shop"
    source.mkdir()
    for index in range(100):
        (source / f"SKU-{index:03d}.jpg").write_bytes(jpeg(index))
    first = start_watch(home, source, target)
    wait_for(lambda: len(entries(target)) >= 5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert len(list(target.glob("*.png"))) < 100, "killed halfway"
    for index in range(100, 105):  # arrive while nothing watches
        (source / f"SKU-{index:03d}.jpg").write_bytes(jpeg(index))
    second = start_watch(home, source, target)
    try:
        wait_for(lambda: len({entry["input"] for entry in entries(target) if entry["status"] == "ok"}) == 105)
    finally:
        stop(second)
    ok = Counter(entry["input"] for entry in entries(target) if entry["status"] == "ok")
    assert len(ok) == 105 and set(ok.values()) == {1}, "every photo once in the manifest"
    assert len(list(target.glob("*.png"))) == 105 and not list(target.rglob("*.part"))


def test_sigterm_stops_promptly_and_leaves_no_process(home: Path, tmp_path: Path) -> None:
    (tmp_path / "booth").mkdir()
    watch = start_watch(home, tmp_path / "booth", tmp_path / "shop")
    wait_for(lambda: (tmp_path / "shop").is_dir())
    time.sleep(1.0)
    started = time.monotonic()
    out, _ = stop(watch)
    assert time.monotonic() - started < 10 and out.startswith("watching ") and "done in" in out
    with pytest.raises(ProcessLookupError):
        os.killpg(watch.pid, 0)


def test_the_output_folder_must_not_be_the_input(tmp_path: Path) -> None:
    (tmp_path / "booth").mkdir()
    done = subprocess.run([str(BIN / "cutout"), "batch", str(tmp_path / "booth"), str(tmp_path / "booth"),
                           "--watch"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "must not be the input" in done.stderr
