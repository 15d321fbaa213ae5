"""A training dataset of generated studio scenes with exact masks (the data of the bundled default model)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from training.dataset import DatasetIndex, Item, write_index
from training.images import save_mask, save_rgb
from scenes.synthetic import make_scene

SEED_STRIDE = 1_000_003


def write_scene_dataset(root: Path, count: int, size: int, seed: int = 0) -> DatasetIndex:
    """Render count scenes of size x size into root as a dataset folder; seeds never overlap across `seed`s."""
    items = []
    for index in tqdm(range(count), desc=f"scenes -> {root.name}", unit="scene"):
        scene_seed = seed * SEED_STRIDE + index
        scene = make_scene(scene_seed, size, reflection=True)
        name = f"s{seed}-{index:05d}"
        save_rgb(root / "images" / f"{name}.jpg", scene.image, quality=95)
        save_mask(root / "masks" / f"{name}.png", scene.alpha)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", f"scene-{scene_seed}", scene.kind))
    index = DatasetIndex(items, source={"synthetic": {"count": count, "size": size, "seed": seed}})
    write_index(root, index)
    return index
