"""Crash-safe file writes, shared by the batch outputs, the promotion pointer, training runs and the model cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_umask()  # read once, at import: setting the mask from worker threads would race


def write_atomically(path: Path, body: bytes) -> None:
    """Write to a temporary file beside PATH, fsync, then rename: PATH is either absent or complete. It gets the
    permissions of any new file (mkstemp's temporary file is private to its owner)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, NEW_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
