"""The `cutout models` command line as an operator uses it (real subprocesses, own BentoML home)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.server import BIN, cutout_cli
from tests.tiny_model import build_tiny_birefnet


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "BENTOML_HOME": str(home)}


def test_ensure_without_any_model_stops_with_instructions(tmp_path: Path) -> None:
    env = {**env_for(tmp_path / "home"), "CUTOUT_DEFAULT_MODEL": str(tmp_path / "no-bundled-model.onnx")}
    done = subprocess.run([str(BIN / "cutout"), "models", "ensure"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "cutout models import" in done.stderr and "Traceback" not in done.stderr


def test_import_list_promote_rollback_current(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home")
    first = cutout_cli("models", "import", str(build_tiny_birefnet(tmp_path / "a.onnx")), env=env).split()[1]
    second = cutout_cli("models", "import", str(build_tiny_birefnet(tmp_path / "BiRefNet_lite.onnx")),
                        env=env).split()[1]
    listing = cutout_cli("models", "list", env=env).splitlines()
    assert [line[2:].split()[0] for line in listing] == [first, second]
    assert listing[0].startswith("*") and "lite" in listing[1], "the first import is current"
    assert cutout_cli("models", "ensure", env=env).strip() == f"serving {first}"
    cutout_cli("models", "promote", second, env=env)
    assert json.loads(cutout_cli("models", "current", env=env))["tag"] == second
    assert cutout_cli("models", "rollback", env=env).strip() == f"current: {first}"
    done = subprocess.run([str(BIN / "cutout"), "models", "rollback"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "nothing to roll back" in done.stderr


def test_import_offline_url_fails_clearly(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "cutout"), "models", "import", "https://127.0.0.1:9/BiRefNet.onnx"],
                          env=env_for(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot download" in done.stderr and "cutout models import /path/to/file" in done.stderr
