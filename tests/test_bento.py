"""The bento: `bentoml build` of this project, then serving the built bento (not the checkout) answers /process and
refuses a bad configuration as the checkout does."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import httpx
from PIL import Image

from tests.server import BIN, REPO, cutout_cli, start_server
from tests.test_startup import leftovers, serve
from tests.tiny_model import build_tiny_birefnet, product_photo


def test_built_bento_serves_process(tmp_path: Path) -> None:
    home = tmp_path / "bentoml"
    env = {**os.environ, "BENTOML_HOME": str(home)}
    cutout_cli("models", "import", str(build_tiny_birefnet(tmp_path / "m.onnx", size=64)), env=env)
    built = subprocess.run([str(BIN / "bentoml"), "build", "--output", "tag"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert tag.startswith("cutout:")
    bento_src = home / "bentos" / "cutout" / tag.split(":")[1] / "src"
    assert (bento_src / "api" / "presets.yaml").exists() and (bento_src / "postprocess" / "fonts").is_dir()

    server = start_server(home, tmp_path / "server.log", target=tag)
    try:
        photo = io.BytesIO()
        Image.fromarray(product_photo()).save(photo, format="JPEG")
        response = httpx.post(f"{server.url}/process", files={"image": ("in.jpg", photo.getvalue())},
                              data={"size": "200x200", "shadow": "true"}, timeout=60)
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (200, 200)

    refused = serve(home, {"CUTOUT_AUTH": "on"}, target=tag)
    assert refused.returncode == 2 and (refused.stdout + refused.stderr).strip().splitlines() == [
        "cutout: cannot start: CUTOUT_AUTH=on but no API keys are configured: set CUTOUT_API_KEYS or "
        "CUTOUT_API_KEYS_FILE (`cutout keys new`), or CUTOUT_AUTH=off for local development"]
    assert not leftovers(home), "the built bento leaves no worker behind either"
