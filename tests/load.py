"""Load generator: concurrent clients posting a studio photo for a bounded time, on loopback only.

`python -m tests.load --duration 180 --clients 8` (what `make loadtest` runs) starts its own server on a temporary
model store with a generated 1024px test model, or, with `--store`, serves the promoted model of $BENTOML_HOME.
It prints throughput, latency percentiles, error counts and the server's peak memory.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

from tests.server import Server, cutout_cli, start_server
from tests.tiny_model import build_tiny_birefnet, product_photo

MAX_DURATION_S = 900


@dataclass
class LoadReport:
    """What the clients saw, and what the server's processes used."""

    statuses: Counter = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    rss_samples_mb: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")

    def summary(self) -> str:
        rss = self.rss_samples_mb
        quarters = ", ".join(f"{rss[min(len(rss) - 1, len(rss) * q // 4)]:.0f}" for q in (1, 2, 3, 4))
        memory = (f"server RSS before {rss[0]:.0f} MB, at 1/4, 1/2, 3/4, end of the run {quarters} MB, "
                  f"peak {max(rss):.0f} MB" if rss else "server RSS not sampled")
        return (
            f"{self.requests} requests in {self.elapsed_s:.1f} s = {self.requests / self.elapsed_s:.2f} req/s; "
            f"statuses {dict(self.statuses)}; latency p50 {self.percentile(50):.3f} s, p90 {self.percentile(90):.3f} s, "
            f"p99 {self.percentile(99):.3f} s; {memory}"
        )


def server_rss_mb(server: Server) -> float:
    """Resident memory of the server and all its worker processes."""
    root = psutil.Process(server.process.pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def studio_jpeg(width: int = 1600, height: int = 1600) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(product_photo(width, height)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def run_load(server: Server, payload: bytes, clients: int, duration_s: float, route: str = "/process",
             headers: dict[str, str] | None = None, on_tick: Callable[[float], None] | None = None,
             timeout_s: float = 120) -> LoadReport:
    """`clients` threads post `payload` back to back until `duration_s` has passed (hard-capped)."""
    duration_s = min(duration_s, MAX_DURATION_S)
    report = LoadReport()
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def client() -> None:
        with httpx.Client(timeout=timeout_s) as session:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = session.post(f"{server.url}{route}", headers=headers,
                                            files={"image": ("load.jpg", payload, "image/jpeg")})
                    outcome: int | str = response.status_code
                    if response.status_code != 200 and "error" not in response.json():
                        outcome = f"{response.status_code} without a JSON error"
                except (httpx.HTTPError, ValueError) as exc:
                    outcome = type(exc).__name__
                with lock:
                    report.statuses[outcome] += 1
                    report.latencies_s.append(time.monotonic() - started)
                    if outcome != 200:
                        report.failures.append(str(outcome))

    start = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        report.rss_samples_mb.append(server_rss_mb(server))
        if on_tick:
            on_tick(time.monotonic() - start)
        time.sleep(1.0)
    report.elapsed_s = time.monotonic() - start
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (at most 900)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--route", default="/process")
    parser.add_argument("--store", action="store_true", help="serve the promoted model of $BENTOML_HOME")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cutout-load-") as temp:
        root = Path(temp)
        extra_env = {"CUTOUT_ORT_THREADS": "0"}
        if args.store:
            home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
        else:
            home = root / "bentoml"
            model = build_tiny_birefnet(root / "load-test-model.onnx", size=1024, busy_layers=2)
            cutout_cli("models", "import", str(model), "--variant", "load-test",
                       env={**os.environ, "BENTOML_HOME": str(home)})
        server = start_server(home, root / "server.log", extra_env)
        try:
            print(f"load: {args.clients} clients for {args.duration:.0f} s on {args.route} "
                  f"({'store model' if args.store else 'generated 1024px test model'})", flush=True)
            report = run_load(server, studio_jpeg(), args.clients, args.duration, args.route)
        finally:
            server.stop()
    print(report.summary())


if __name__ == "__main__":
    main()
