"""Training data on disk (images/, masks/, index.json), its product-wise train/validation split, and the
PyTorch dataset that feeds the model exactly what the server feeds it (runners.preprocess.to_tensor)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from postprocess.resample import resize
from runners.birefnet import IMAGENET_MEAN, IMAGENET_STD
from runners.preprocess import to_tensor
from training.augment import AugmentConfig, augment
from training.fingerprint import fingerprint, similarity_matrix
from training.images import load_image, load_mask

INDEX_FILE = "index.json"
DUPLICATE_SIMILARITY = 0.97


@dataclass(frozen=True)
class Item:
    """One training image and its mask (paths relative to the dataset root), with what it shows."""

    id: str
    image: str
    mask: str
    product: str
    category: str = ""


@dataclass
class DatasetIndex:
    """The dataset's table of contents plus where it came from and what was left out."""

    items: list[Item]
    source: dict = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)


def write_index(root: Path, index: DatasetIndex) -> Path:
    """Write index.json into the dataset folder."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / INDEX_FILE
    path.write_text(json.dumps(asdict(index), indent=2))
    return path


def merge_indexes(root: Path, parts: list[str]) -> DatasetIndex:
    """One dataset over the dataset folders ROOT/PART: their items with paths relative to ROOT and ids prefixed by
    the part (products are kept, so a composite stays on the side of the photo it was cut from), sources side by
    side; written as ROOT's index.json."""
    items, sources = [], {}
    for part in parts:
        index = read_index(root / part)
        items += [Item(f"{part}/{item.id}", f"{part}/{item.image}", f"{part}/{item.mask}", item.product,
                       item.category or part) for item in index.items]
        sources[part] = index.source
    merged = DatasetIndex(items, source=sources)
    write_index(root, merged)
    return merged


def read_index(root: Path) -> DatasetIndex:
    """Read a dataset folder's index.json."""
    path = root / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder (no {INDEX_FILE}); make one with `cutout train prepare`")
    data = json.loads(path.read_text())
    return DatasetIndex([Item(**item) for item in data["items"]], data.get("source", {}), data.get("rejected", []))


def index_sha256(root: Path) -> str:
    """SHA-256 of index.json: identifies the data a model was trained on."""
    return hashlib.sha256((root / INDEX_FILE).read_bytes()).hexdigest()


def _groups(root: Path, items: list[Item]) -> list[list[int]]:
    """Items grouped by product, groups merged when any two of their images are near-duplicates."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, item in enumerate(items):
        parent[find(i)] = find(first.setdefault(item.product, i))
    prints = [fingerprint(load_image(root / item.image, 256).rgb) for item in tqdm(items, desc="near-duplicates", leave=False)]
    close = np.argwhere(np.triu(similarity_matrix(prints, prints) >= DUPLICATE_SIMILARITY, k=1))
    for i, j in close:
        parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def split(root: Path, items: list[Item], val_fraction: float, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Train/validation split by product: no product and no near-duplicate image is on both sides."""
    if len(items) < 2:
        raise ValueError(f"{root} holds {len(items)} item(s); a train/validation split needs at least 2")
    groups = _groups(root, items)

    def order(group: list[int]) -> str:
        return hashlib.sha256(f"{seed}:{min(items[i].id for i in group)}".encode()).hexdigest()

    val: list[int] = []
    target = max(1, round(val_fraction * len(items)))
    for group in sorted(groups, key=order):
        if len(val) >= target or len(val) + len(group) >= len(items):
            continue
        val.extend(group)
    chosen = set(val)
    return [item for i, item in enumerate(items) if i not in chosen], [items[i] for i in sorted(val)]


class SegmentationDataset(Dataset):
    """(normalised image [3,S,S], mask [1,S,S]) pairs at the model size, augmented when a config is given."""

    def __init__(self, root: Path, items: list[Item], size: int, augmentation: AugmentConfig | None = None,
                 seed: int = 0) -> None:
        self.root, self.items, self.size = root, items, size
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The item's RGB image and mask at the model size, resized as the server resizes."""
        item = self.items[index]
        image = load_image(self.root / item.image, self.size).rgb
        mask = load_mask(self.root / item.mask)
        return resize(image, self.size, self.size), resize(mask, self.size, self.size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.load(index)
        if self.augmentation is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            image, mask = augment(image, mask, rng, self.augmentation)
        batch = to_tensor([image], self.size, IMAGENET_MEAN, IMAGENET_STD)
        return torch.from_numpy(batch[0]), torch.from_numpy(np.clip(mask, 0.0, 1.0)[None].astype(np.float32))
