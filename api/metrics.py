"""Per-stage timing histograms exported on /metrics next to BentoML's own metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import bentoml

_stage_seconds = bentoml.metrics.Histogram(
    name="cutout_stage_seconds",
    documentation="Seconds spent per request in each processing stage",
    labelnames=["stage", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


@contextmanager
def timed(stage: str, endpoint: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a block: observe it in the histogram and record it in `timings` (for response headers and logs)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        timings[stage] = timings.get(stage, 0.0) + elapsed
        _stage_seconds.labels(stage=stage, endpoint=endpoint).observe(elapsed)
