"""Run a real `bentoml serve` of this project in a subprocess, against its own BentoML home."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.allocator import ENVIRONMENT

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cutout_cli(*args: str, env: dict[str, str]) -> str:
    """Run the `cutout` console script; its stdout, or AssertionError with its stderr."""
    done = subprocess.run([str(BIN / "cutout"), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tiny_model_home(root: Path, size: int = 64) -> Path:
    """A BentoML home under ROOT whose store serves the tests' tiny model (tests.tiny_model) at SIZE."""
    from tests.tiny_model import build_tiny_birefnet

    cutout_cli("models", "import", str(build_tiny_birefnet(root / "m.onnx", size=size)),
               env={**os.environ, "BENTOML_HOME": str(root / "bentoml")})
    return root / "bentoml"


@dataclass
class Server:
    """A running service: its URL, environment (BENTOML_HOME) and log file."""

    url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def glibc_default_env() -> dict[str, str]:
    """This process's environment without the allocator settings it may have picked up (api.allocator), so that a
    process started with it begins from glibc's defaults, as on a fresh machine."""
    return {name: value for name, value in os.environ.items() if name not in ENVIRONMENT}


def launch_server(home: Path, log: Path, extra_env: dict[str, str] | None = None,
                  target: str = "service:CutoutService") -> Server:
    """Start `bentoml serve TARGET` (this checkout's service, or a built bento's tag) without waiting for it; it
    starts from glibc's allocator defaults (glibc_default_env)."""
    port = free_port()
    env = {**glibc_default_env(), "BENTOML_HOME": str(home), "CUTOUT_ORT_THREADS": "1", "BENTOML_DO_NOT_TRACK": "true",
           "CUTOUT_AUTH": "off",
           **(extra_env or {})}
    handle = open(log, "wb")
    process = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", target, "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Server(f"http://127.0.0.1:{port}", env, log, process)


def start_server(home: Path, log: Path, extra_env: dict[str, str] | None = None, timeout_s: float = 180,
                 target: str = "service:CutoutService") -> Server:
    """launch_server, then wait until /readyz answers 200."""
    server = launch_server(home, log, extra_env, target)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout_s}s:\n{log.read_text()[-3000:]}")
