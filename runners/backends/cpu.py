"""What the CPU offers for reduced-precision inference, read from /proc/cpuinfo (Linux; empty elsewhere)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@cache
def cpu_flags() -> frozenset[str]:
    """The feature flags of the first CPU."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_native_bf16() -> bool:
    """bf16 dot products in hardware (AVX512-BF16 or AMX): bf16 inference is then about twice as fast as fp32."""
    return bool(cpu_flags() & BF16_FLAGS)
