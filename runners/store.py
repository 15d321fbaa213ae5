"""BiRefNet versions in the BentoML model store, and the promoted-version pointer.

BentoML labels are immutable, so "which version is served" cannot live on the model itself. It lives in
one small JSON file next to the store (`<BENTOML_HOME>/cutout/pointer.json`): the current tag plus the
history of earlier promotions, written atomically under a file lock. Promote pushes, rollback pops.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import bentoml
from bentoml.exceptions import NotFound
from pydantic import BaseModel, Field

from runners.files import write_atomically

MODEL_NAME = "birefnet"
ONNX_FILE = "model.onnx"


class StoreError(RuntimeError):
    """A model-store operation that cannot be done, with a message meant for the operator."""


class ModelMetadata(BaseModel):
    """What the runner needs to know to feed a stored ONNX model and read its output."""

    variant: str = "unknown"
    input_size: int = Field(1024, ge=32, le=4096)
    input_name: str = "input"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    output_index: int = -1
    dynamic_batch: bool = False
    source: str = ""
    sha256: str = ""
    parent: str | None = None
    export_max_abs_diff: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    # Checkpoints only: the patch order the source weights were trained in (old ones are stored converted to new),
    # and how that was decided (--patch-order, or auto with its evidence). None for ONNX files imported as they are.
    patch_order: Literal["old", "new"] | None = None
    patch_order_check: dict[str, Any] = Field(default_factory=dict)


def store_home() -> Path:
    """The BentoML home folder in use (BENTOML_HOME or ~/bentoml)."""
    return Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))


def _pointer_path() -> Path:
    return store_home() / "cutout" / "pointer.json"


@contextmanager
def _locked_pointer() -> Iterator[dict]:
    """Read-modify-write of the pointer file under an exclusive lock; written atomically on exit."""
    path = _pointer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _read_pointer()
        yield state
        write_atomically(path, json.dumps(state, indent=2).encode())


def _read_pointer() -> dict:
    path = _pointer_path()
    if not path.exists():
        return {"current": None, "history": []}
    return json.loads(path.read_text())


def pointer_mtime() -> float:
    """Modification time of the pointer file (0 when absent), so a runner can notice a promotion cheaply."""
    try:
        return _pointer_path().stat().st_mtime
    except FileNotFoundError:
        return 0.0


def normalize_tag(tag: str) -> str:
    """Accept `birefnet:v`, or a bare version `v`, and return the full tag that exists in the store."""
    full = tag if ":" in tag else f"{MODEL_NAME}:{tag}"
    try:
        model = bentoml.models.get(full)
    except NotFound as exc:
        raise StoreError(f"no model {full!r} in the store at {store_home()}; see `cutout models list`") from exc
    if model.tag.name != MODEL_NAME:
        raise StoreError(f"{full!r} is not a {MODEL_NAME} model")
    return str(model.tag)


def register(files: Mapping[str, Path], metadata: ModelMetadata, labels: Mapping[str, str] | None = None) -> str:
    """Save files (name in the model folder -> local path) as a new store version; returns its tag."""
    if ONNX_FILE not in files:
        raise StoreError(f"a servable version needs {ONNX_FILE}")
    with bentoml.models.create(
        MODEL_NAME,
        metadata=metadata.model_dump(mode="json", exclude_none=True),
        labels={"variant": metadata.variant, **(labels or {})},
    ) as model:
        for name, source in files.items():
            shutil.copyfile(source, model.path_of(name))
    return str(model.tag)


def versions() -> list[bentoml.Model]:
    """Every stored version, oldest first."""
    try:
        stored = bentoml.models.list(MODEL_NAME)
    except NotFound:
        return []
    return sorted(stored, key=lambda model: model.info.creation_time)


def metadata_of(tag: str) -> ModelMetadata:
    """The recorded metadata of a stored version."""
    return ModelMetadata.model_validate(bentoml.models.get(normalize_tag(tag)).info.metadata)


def file_of(tag: str, name: str = ONNX_FILE) -> Path:
    """Path of a file inside a stored version."""
    path = Path(bentoml.models.get(normalize_tag(tag)).path_of(name))
    if not path.exists():
        raise StoreError(f"{tag} has no {name}")
    return path


def current_tag() -> str | None:
    """The promoted version, or None when nothing was promoted or it was deleted from the store."""
    current = _read_pointer()["current"]
    if current is None:
        return None
    try:
        return normalize_tag(current)
    except StoreError:
        return None


def history() -> list[str]:
    """Earlier promoted versions, most recent last."""
    return list(_read_pointer()["history"])


def promote(tag: str) -> str:
    """Make `tag` the served version; the previous one is remembered for rollback."""
    full = normalize_tag(tag)
    with _locked_pointer() as state:
        if state["current"] != full:
            if state["current"] is not None:
                state["history"].append(state["current"])
            state["current"] = full
    return full


def rollback() -> str:
    """Return to the previously promoted version that still exists; the current one is dropped from the pointer."""
    with _locked_pointer() as state:
        while state["history"]:
            candidate = state["history"].pop()
            try:
                state["current"] = normalize_tag(candidate)
            except StoreError:
                continue
            return state["current"]
    raise StoreError("nothing to roll back to: no earlier promoted version is in the store")


def serving_tag(pinned: str | None = None) -> str:
    """The tag to serve: an explicit pin (`--arg model=` or CUTOUT_MODEL_TAG), else the promoted version."""
    if pinned:
        return normalize_tag(pinned)
    current = current_tag()
    if current is None:
        raise StoreError(
            f"no promoted {MODEL_NAME} model in the store at {store_home()}. "
            "Import one with `cutout models import PATH_OR_URL --promote` (see README: Importing BiRefNet weights)."
        )
    return current
