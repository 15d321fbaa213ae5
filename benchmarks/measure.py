"""Timing, memory and machine facts, and running one measurement in a fresh Python process."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from runners.backends.cpu import cpu_flags

RESULT_PREFIX = "BENCH-RESULT "
REPO = Path(__file__).resolve().parent.parent


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` shows them."""
    return "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def machine() -> str:
    """CPU model, cores and the flags that matter for reduced precision."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    flags = sorted(cpu_flags() & {"avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "avx2"})
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(flags) or 'none of avx2/avx512/amx'}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started (VmHWM, MB; unlike ru_maxrss it is not inherited
    from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def repeat(action: Callable[[], object], runs: int) -> list[float]:
    """Seconds per call of action, runs times (after the caller's own warm-up)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def emit(result: dict) -> None:
    """Hand a worker's result to the parent process (the last such line of its stdout)."""
    print(RESULT_PREFIX + json.dumps({**result, "peak_rss_mb": peak_rss_mb()}), flush=True)


def in_subprocess(kind: str, spec: dict, timeout_s: float = 1800, env: dict[str, str] | None = None) -> dict:
    """Run `python -m benchmarks.worker KIND SPEC` (its own memory, its own threads) and return what it emitted."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.worker", kind, json.dumps(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})})
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(lines[-1][len(RESULT_PREFIX):])
