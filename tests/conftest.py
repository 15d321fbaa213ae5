"""Shared fixtures: every test runs against its own temporary BentoML home, never ~/bentoml."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("BENTOML_HOME", tempfile.mkdtemp(prefix="cutout-tests-bentoml-"))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
# Compiled models and guard references of the tests' own models stay out of the user's cache.
os.environ.setdefault("CUTOUT_CACHE_DIR", tempfile.mkdtemp(prefix="cutout-tests-cache-"))
# Tests compare served masks with fp32 numbers; tests/test_backends.py covers the bf16 choice and its guard.
os.environ.setdefault("CUTOUT_PRECISION", "fp32")

import pytest  # noqa: E402
from bentoml._internal.configuration.containers import BentoMLContainer  # noqa: E402
from bentoml._internal.models import ModelStore  # noqa: E402


@pytest.fixture
def use_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Points this process's BentoML (the variable and the store it has set up) at a home folder for one test."""
    def point(home: Path) -> None:
        monkeypatch.setenv("BENTOML_HOME", str(home))
        BentoMLContainer.bentoml_home.set(str(home))
        BentoMLContainer.model_store.set(ModelStore(str(home / "models")))

    yield point
    BentoMLContainer.bentoml_home.reset()
    BentoMLContainer.model_store.reset()


@pytest.fixture
def model_home(tmp_path: Path, use_home: Callable[[Path], None]) -> Path:
    """A fresh, empty BentoML home (model store and promotion pointer) for one test."""
    home = tmp_path / "bentoml"
    (home / "models").mkdir(parents=True)
    use_home(home)
    return home
