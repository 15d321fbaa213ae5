"""A training dataset of generated studio scenes with exact masks (the data of the bundled default model)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from scenes.synthetic import Scene, make_scene
from training.dataset import DatasetIndex, Item, write_index
from training.images import save_mask, save_rgb
from training.photo_eval import SOURCES, TRUTH_DIR

SEED_STRIDE = 1_000_003


def rendered_scenes(count: int, size: int, seed: int) -> Iterator[tuple[str, int, Scene]]:
    """(name, scene seed, scene) for count scenes of size x size; seeds never overlap across `seed`s."""
    for index in tqdm(range(count), desc="scenes", unit="scene"):
        scene_seed = seed * SEED_STRIDE + index
        yield f"s{seed}-{index:05d}", scene_seed, make_scene(scene_seed, size, reflection=True)


def write_scene_dataset(root: Path, count: int, size: int, seed: int = 0) -> DatasetIndex:
    """Render count scenes of size x size into root as a dataset folder."""
    items = []
    for name, scene_seed, scene in rendered_scenes(count, size, seed):
        save_rgb(root / "images" / f"{name}.jpg", scene.image, quality=95)
        save_mask(root / "masks" / f"{name}.png", scene.alpha)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", f"scene-{scene_seed}", scene.kind))
    index = DatasetIndex(items, source={"synthetic": {"count": count, "size": size, "seed": seed}})
    write_index(root, index)
    return index


def write_scene_photos(root: Path, count: int, size: int, seed: int = 0) -> None:
    """The same scenes laid out for `cutout eval`: the photos, their exact masks in gt/ and a SOURCES.tsv that names
    each scene's kind, so real-photo and generated test sets are scored by one command."""
    kinds = []
    for name, _, scene in rendered_scenes(count, size, seed):
        save_rgb(root / f"{name}.jpg", scene.image, quality=95)
        save_mask(root / TRUTH_DIR / f"{name}.png", scene.alpha)
        kinds.append({"file": f"{name}.jpg", "kind": f"generated {scene.kind}"})
    with open(root / SOURCES, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["file", "kind"], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(kinds)
