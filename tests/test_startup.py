"""A bad configuration stops `bentoml serve` at once: exit code 2, one line naming the setting and its fix, and no
process left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from api.startup import ConfigError, check_configuration
from tests.server import BIN, REPO, glibc_default_env, tiny_model_home

BAD = {
    "auth on without keys": ({"CUTOUT_AUTH": "on"}, "CUTOUT_AUTH=on but no API keys are configured"),
    "missing keys file": ({"CUTOUT_AUTH": "on", "CUTOUT_API_KEYS_FILE": "/no/such/keys"}, "CUTOUT_API_KEYS_FILE"),
    "malformed keys file": ({"CUTOUT_AUTH": "on", "CUTOUT_API_KEYS_FILE": "{keys}"}, "expected 'NAME sha256:"),
    "not a number": ({"CUTOUT_MAX_BATCH_SIZE": "eight"}, "CUTOUT_MAX_BATCH_SIZE (or --arg max_batch_size)"),
    "out of range": ({"CUTOUT_API_THREADS": "0"}, "CUTOUT_API_THREADS (or --arg api_threads) = '0'"),
    "unknown choice": ({"CUTOUT_BACKEND": "tensorflow"}, "CUTOUT_BACKEND"),
    "typo in a name": ({"CUTOUT_MAX_UPLOAD_MEGABYTES": "10"}, "did you mean CUTOUT_MAX_UPLOAD_MB?"),
    "bad thread count": ({"CUTOUT_THREADS": "all"}, "CUTOUT_THREADS='all'"),
    "unknown device": ({"CUTOUT_DEVICE": "gpu"}, "CUTOUT_DEVICE"),
    "url fetching without hosts": ({"CUTOUT_ALLOW_IMAGE_URLS": "on"}, "CUTOUT_IMAGE_URL_HOSTS"),
    "pinned tag not in the store": ({"CUTOUT_MODEL_TAG": "birefnet:nosuchversion"}, "CUTOUT_MODEL_TAG"),
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup")
    home = tiny_model_home(root, 64)
    (root / "keys.txt").write_text("shop not-a-hash\n")
    return home


def serve(home: Path, settings: dict[str, str], target: str = "service:CutoutService") -> subprocess.CompletedProcess:
    env = {**glibc_default_env(), "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "CUTOUT_AUTH": "off",
           **settings}
    return subprocess.run([str(BIN / "bentoml"), "serve", target, "--port", "0"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, start_new_session=True)


def leftovers(home: Path) -> list[psutil.Process]:
    """Processes still running with this BentoML home."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("BENTOML_HOME") == str(home):
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_setting_stops_the_start_in_one_line(home: Path, case: str) -> None:
    settings, expected = BAD[case]
    settings = {name: value.format(keys=home.parent / "keys.txt") for name, value in settings.items()}
    done = serve(home, settings)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutout: cannot start: ") and expected in lines[0], lines
    assert not leftovers(home), "no worker left running"


def test_an_empty_store_stops_the_start_with_what_to_import(tmp_path: Path) -> None:
    done = serve(tmp_path / "empty-home", {})
    assert done.returncode == 2 and "cutout models import" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["CUTOUT_THREADS", "CUTOUT_ORT_THREADS"])
def test_an_empty_thread_count_means_all_cores(home: Path, name: str, use_home: Callable[[Path], None],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    use_home(home)
    monkeypatch.setenv("CUTOUT_AUTH", "off")
    monkeypatch.setenv(name, "")
    check_configuration()
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigError, match=name):
        check_configuration()
