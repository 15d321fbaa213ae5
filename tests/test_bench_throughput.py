"""The benchmark's throughput rounds: every concurrency level twice, in ABBA order, pooled per level."""

from __future__ import annotations

import pytest

from benchmarks import served
from benchmarks.served import Throughput


def test_pooled_sums_work_and_time_and_keeps_the_worst_memory() -> None:
    rounds = [Throughput(8, 24, 70.0, 20.0, 2600.0, 0), Throughput(8, 23, 66.0, 22.0, 2700.0, 1)]
    assert served.pooled(rounds) == Throughput(8, 47, 136.0, 21.0, 2700.0, 1)


def test_levels_are_measured_in_abba_order_and_pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def one_round(server: object, payload: bytes, preset: str, clients: int, per_client: int) -> Throughput:
        calls.append(clients)
        return Throughput(clients, clients * per_client, float(len(calls)), 1.0, 100.0 * len(calls), 0)

    monkeypatch.setattr(served, "throughput", one_round)
    levels = served.throughput_levels(None, b"", "shop-hero", [1, 4, 8], 3)
    assert calls == [1, 4, 8, 8, 4, 1]
    assert [(level.clients, level.requests, level.seconds, level.peak_rss_mb) for level in levels] == [
        (1, 6, 1.0 + 6.0, 600.0), (4, 24, 2.0 + 5.0, 500.0), (8, 48, 3.0 + 4.0, 400.0)]
