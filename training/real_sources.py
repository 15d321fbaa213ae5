"""Real photographs to train on, from the public repositories named in training/data/sources.yaml.

Each source is read from a local copy of its repository (any git directory holding the recorded commit: a clone,
or a mirror) with git itself, so every file is the one the manifest names, at that commit. It becomes a dataset
folder (images/, masks/, index.json) as the rest of training uses; sources without human masks get them from the
training-time teacher (training/teacher.py) before training. Evaluation sources are refused.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import subprocess
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from training.dataset import DatasetIndex, Item, write_index
from training.images import save_mask, save_rgb

MANIFEST = Path(__file__).with_name("data") / "sources.yaml"
# Kept for evaluation only (issue: real photos): never a training source.
EVALUATION_REPOS = frozenset({
    "opencart/opencart", "saleor/saleor", "solidusio/solidus", "tennine2077/dis-sam",
    "nazaninfarzady/deeplearning_ebay", "ophoperhpo/image-background-remove-tool", "danielgatis/rembg",
})
EVALUATION_NAMES = ("ecssd", "saleor", "solidus", "opencart")
MAX_SIDE = 1024  # photos are stored at most this large (the model trains at 512)


class RealSource(BaseModel):
    """One manifest entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str
    commit: str
    images: str
    masks: Literal["ccp-mat", "teacher"]
    mask_path: str | None = None
    ids: str | None = None
    category: str
    limit: int | None = None
    licence: str
    licence_evidence: str
    what: str


class SourceError(ValueError):
    """A source that cannot be read as the manifest says."""


@cache
def manifest() -> dict[str, RealSource]:
    """Every source of training/data/sources.yaml."""
    return load_manifest(MANIFEST)


def load_manifest(path: Path) -> dict[str, RealSource]:
    """The sources a manifest file names, checked against the evaluation-only list."""
    sources = {name: RealSource.model_validate(body) for name, body in yaml.safe_load(path.read_text()).items()}
    for name, source in sources.items():
        repo = source.repo.lower()
        if repo in EVALUATION_REPOS or any(word in repo for word in EVALUATION_NAMES):
            raise SourceError(f"source {name}: {source.repo} is kept for evaluation and must not be trained on")
    return sources


def _git(mirror: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(mirror), *args], capture_output=True)
    if done.returncode:
        raise SourceError(f"git {' '.join(args[:2])} in {mirror}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _paths(source: RealSource, mirror: Path) -> list[tuple[str, str, str | None]]:
    """(item id, image path, mask path or None) for every file the source names, in a stable order."""
    if source.ids:
        first, last = (int(part) for part in source.ids.split("-"))
        width = len(source.ids.split("-")[0])
        ids = [f"{number:0{width}d}" for number in range(first, last + 1)]
        return [(i, source.images.format(id=i), source.mask_path.format(id=i) if source.mask_path else None)
                for i in ids]
    listed = _git(mirror, "ls-tree", "-r", "--name-only", source.commit).decode().splitlines()
    chosen = sorted(path for path in listed if fnmatch.fnmatch(path, source.images))
    if source.limit is not None:
        chosen = sorted(chosen, key=lambda path: hashlib.sha256(path.encode()).hexdigest())[: source.limit]
    return [(hashlib.sha256(path.encode()).hexdigest()[:12], path, None) for path in sorted(chosen)]


def _ccp_mask(data: bytes) -> np.ndarray:
    """The foreground of a CCP pixel-level annotation: every labelled pixel (label 0 is 'null')."""
    from scipy.io import loadmat

    return (loadmat(io.BytesIO(data))["groundtruth"] != 0).astype(np.float32)


def _rgb(data: bytes, path: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path} is not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def extract_source(name: str, source: RealSource, mirror: Path, out: Path) -> DatasetIndex:
    """Write SOURCE (read from the repository copy MIRROR) into the dataset folder OUT, its items named after NAME;
    masks of teacher sources are left to training/teacher.py."""
    _git(mirror, "cat-file", "-e", f"{source.commit}^{{commit}}")
    items = []
    for item_id, image_path, mask_path in tqdm(_paths(source, mirror), desc=name, unit="photo"):
        image = _rgb(_git(mirror, "show", f"{source.commit}:{image_path}"), image_path)
        scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        stem = f"{name}-{item_id}"
        save_rgb(out / "images" / f"{stem}.jpg", image)
        if mask_path is not None:
            mask = _ccp_mask(_git(mirror, "show", f"{source.commit}:{mask_path}"))
            if mask.shape != image.shape[:2]:
                mask = cv2.resize(mask, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            save_mask(out / "masks" / f"{stem}.png", mask)
        items.append(Item(stem, f"images/{stem}.jpg", f"masks/{stem}.png", stem, source.category))
    index = DatasetIndex(items, source={name: {**source.model_dump(), "mirror": str(mirror)}})
    write_index(out, index)
    return index
