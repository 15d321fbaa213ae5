"""On-disk cache that makes loading a model fast after the first time.

Each model file gets a folder named after its content. The folder holds OpenVINO's compiled blobs and the accuracy
guard's fp32 reference logits. Only the most recently used KEEP_MODELS folders are kept. A cache that cannot be
written is logged and skipped: loading still works, it is only slower.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
from functools import cache
from pathlib import Path

import numpy as np

from runners.files import write_atomically

CACHE_ENV = "CUTOUT_CACHE_DIR"
KEEP_MODELS = 4
logger = logging.getLogger("cutout.backends")


def cache_home() -> Path:
    """CUTOUT_CACHE_DIR, else $XDG_CACHE_HOME/cutout, else ~/.cache/cutout."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cutout"


@cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, computed once per process for each version of it (name, size, modification time)."""
    facts = path.stat()
    return _file_digest(str(path.resolve()), facts.st_size, facts.st_mtime_ns)


def _last_used(folder: Path) -> float:
    """When a model folder was last used (0 when another process has just removed it)."""
    try:
        return folder.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _prune(models: Path, keep: int) -> None:
    """Remove all but the `keep` most recently used model folders."""
    folders = sorted((entry for entry in models.iterdir() if entry.is_dir()), key=_last_used, reverse=True)
    for stale in folders[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


def model_digest(model_path: Path) -> str:
    """SHA-256 of a model's content: the file's, or for an OpenVINO IR (.xml) that of its graph and its weights
    (.bin), which the graph does not name."""
    weights = model_path.with_suffix(".bin")
    if model_path.suffix != ".xml" or not weights.exists():
        return file_digest(model_path)
    return hashlib.sha256(f"{file_digest(model_path)} {file_digest(weights)}".encode()).hexdigest()


def model_cache(model_path: Path) -> Path | None:
    """The cache folder of this model (by its content, model_digest). The folder is created and marked as just used,
    and older model folders are pruned. None when the cache cannot be written."""
    models = cache_home() / "models"
    folder = models / model_digest(model_path)[:32]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
        _prune(models, KEEP_MODELS)
    except OSError as exc:
        logger.warning("no model cache at %s (%s): every load compiles and checks the model afresh", models, exc)
        return None
    return folder


def load_array(path: Path) -> np.ndarray | None:
    """A cached array, or None when it is absent or unreadable."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


def save_array(path: Path, array: np.ndarray) -> None:
    """Write the array atomically (a reader sees all of it or none), logging instead of failing."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as exc:
        logger.warning("could not cache %s: %s", path, exc)
