"""Where a backend runs: CUTOUT_DEVICE (auto, cpu, cuda, tensorrt), read and checked in one place."""

from __future__ import annotations

import os
from typing import Literal

from runners.backends.base import BackendError

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
DEVICE_ENV = "CUTOUT_DEVICE"
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda", "tensorrt")


def wanted_device() -> Device:
    """The device asked for in CUTOUT_DEVICE ('auto' when unset); an unknown value is an error."""
    wanted = os.environ.get(DEVICE_ENV, "auto").strip().lower()
    if wanted not in DEVICES:
        raise BackendError(f"unknown {DEVICE_ENV}={wanted!r}; choose one of {', '.join(DEVICES)}")
    return wanted  # type: ignore[return-value]
