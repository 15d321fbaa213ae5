"""Through a real `bentoml serve` (tests/server.py): Server-Timing per stage, throughput by concurrency, memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.measure import median
from tests.load import server_rss_mb
from tests.server import Server, start_server

ROUTES = {"transparent": ("/remove-background", {})}
TIMEOUT_S = 600
# BentoML's adaptive batching learns the model's speed from the first batches after a start: 9 of one image, then
# one of 2 and one of 3 images, for which it holds a lone request back for seconds waiting for partners (4-5 s each
# on the 2-core dev machine). These client counts, one request each, go through that phase without the waits.
DISPATCHER_TRAINING = (1,) * 9 + (2, 3)


def route_of(preset: str) -> tuple[str, dict[str, str]]:
    """The endpoint and form fields that run a preset."""
    return ROUTES.get(preset, ("/process", {"preset": preset}))


def server_timing(header: str) -> dict[str, float]:
    """`decode;dur=12.3, model;dur=...` -> {stage: seconds}."""
    stages = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if duration:
            stages[name] = float(duration) / 1000
    return stages


@contextmanager
def serving(home: Path, log: Path, env: dict[str, str]) -> Iterator[Server]:
    """A server over the BentoML home, stopped on exit."""
    server = start_server(home, log, {"CUTOUT_ORT_THREADS": "", **env}, timeout_s=600)  # empty: all cores
    try:
        yield server
    finally:
        server.stop()


def post(client: httpx.Client, server: Server, payload: bytes, preset: str) -> httpx.Response:
    """One request for a preset; raises on a non-200 answer."""
    route, fields = route_of(preset)
    response = client.post(f"{server.url}{route}", data=fields, files={"image": ("photo.jpg", payload, "image/jpeg")})
    response.raise_for_status()
    return response


def train_dispatcher(server: Server, payload: bytes, preset: str) -> None:
    """Take the server through BentoML's batching training (DISPATCHER_TRAINING) so no measurement waits in it."""
    for clients in DISPATCHER_TRAINING:
        throughput(server, payload, preset, clients, 1)


def sequential(server: Server, payload: bytes, preset: str, runs: int) -> dict:
    """Median Server-Timing stages and client-side total over `runs` requests after one warm-up."""
    with httpx.Client(timeout=TIMEOUT_S) as client:
        post(client, server, payload, preset)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            response = post(client, server, payload, preset)
            total, timing = time.perf_counter() - start, server_timing(response.headers["server-timing"])
            samples.append({"client_total": total, **timing, "non_model": total - timing["model"]})
    return {"stages": {key: median([sample[key] for sample in samples]) for key in samples[0]},
            "bytes": len(response.content)}


@dataclass(frozen=True)
class Throughput:
    """What `clients` concurrent clients achieved."""

    clients: int
    requests: int
    seconds: float
    latency_p50_s: float
    peak_rss_mb: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def throughput(server: Server, payload: bytes, preset: str, clients: int, per_client: int) -> Throughput:
    """`clients` threads each send `per_client` requests back to back; server memory is sampled meanwhile."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=TIMEOUT_S) as session:
            for _ in range(per_client):
                start = time.perf_counter()
                try:
                    post(session, server, payload, preset)
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(type(exc).__name__)
                with lock:
                    latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    peak = server_rss_mb(server)
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, server_rss_mb(server))
        time.sleep(0.5)
    return Throughput(clients, len(latencies), time.perf_counter() - start, median(latencies), peak, len(errors))


def pooled(rounds: list[Throughput]) -> Throughput:
    """Several rounds at one concurrency level as one: requests and seconds summed, the rounds' median latencies
    averaged, the highest memory peak."""
    return Throughput(rounds[0].clients, sum(r.requests for r in rounds), sum(r.seconds for r in rounds),
                      sum(r.latency_p50_s for r in rounds) / len(rounds), max(r.peak_rss_mb for r in rounds),
                      sum(r.errors for r in rounds))


def throughput_levels(server: Server, payload: bytes, preset: str, levels: list[int],
                      per_client: int) -> list[Throughput]:
    """Every concurrency level measured in the given order and again in reverse (ABBA), each pooled over its two
    rounds: the shared machine's speed drifts over the minutes this takes, and this way the drift favours no level."""
    rounds = [throughput(server, payload, preset, clients, per_client) for clients in levels + levels[::-1]]
    return [pooled([r for r in rounds if r.clients == clients]) for clients in dict.fromkeys(levels)]


def soak(server: Server, payload: bytes, preset: str, total: int, clients: int, max_s: float) -> dict:
    """`total` requests from `clients` clients (stopping at max_s): server RSS after warm-up, then every tenth."""
    step = max(1, total // 10)
    samples = [(0, server_rss_mb(server))]
    sent = 0
    deadline = time.monotonic() + max_s
    errors = 0
    while sent < total and time.monotonic() < deadline:
        result = throughput(server, payload, preset, clients, max(1, step // clients))
        sent += result.requests
        errors += result.errors
        samples.append((sent, server_rss_mb(server)))
    return {"requests": sent, "errors": errors, "rss_mb": samples}
