"""Product-like training photos made from real cut-outs: a real object (a photo and its mask) stood on a generated
studio sweep with contact and cast shadows, floor dust and sometimes a glossy-floor reflection (scenes.synthetic's
own studio), often made near-white for white-on-white shots. The truth is the cut-out's mask, exactly.

Real objects bring what generated ones lack (printed labels, logos, fabric, real shading); the studio is the
booth's. Cut-outs whose mask the teacher was unsure of are skipped.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from postprocess.confidence import cutout_confidence
from training.dataset import DatasetIndex, Item, read_index, write_index
from training.images import load_image, load_mask, save_mask, save_rgb
from scenes.synthetic import stage
from training.teacher import MIN_CONFIDENCE

WHITE_CHANCE = 0.3  # share of composites whose object is made near-white, on a white sweep


def cutouts(root: Path) -> list[Item]:
    """The items of a dataset folder whose mask is confident and neither tiny nor the whole frame."""
    chosen = []
    for item in read_index(root).items:
        mask = load_mask(root / item.mask)
        if cutout_confidence(mask) >= MIN_CONFIDENCE and 0.02 < float((mask > 0.5).mean()) < 0.9:
            chosen.append(item)
    return chosen


def _whitened(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The object as a white product: desaturated and lifted towards white, keeping its shading and print."""
    grey = rgb.mean(axis=2, keepdims=True)
    mixed = grey + rng.uniform(0.1, 0.35) * (rgb - grey)
    return 1.0 - (1.0 - mixed) * rng.uniform(0.12, 0.35)


def studio_composite(rgb: np.ndarray, alpha: np.ndarray, size: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The object (RGB uint8 and alpha of its photo) stood on a size x size studio sweep: the photo and its alpha."""
    ys, xs = np.nonzero(alpha > 0.02)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop_rgb = rgb[top:bottom, left:right].astype(np.float32) / 255.0
    crop_alpha = alpha[top:bottom, left:right].astype(np.float32)
    white = rng.random() < WHITE_CHANCE
    if white:
        crop_rgb = _whitened(crop_rgb, rng)
    scale = rng.uniform(0.45, 0.85) * size / max(crop_alpha.shape)
    width = max(2, round(crop_alpha.shape[1] * scale))
    height = max(2, round(crop_alpha.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop_rgb = cv2.resize(crop_rgb, (width, height), interpolation=interpolation)
    crop_alpha = np.clip(cv2.resize(crop_alpha, (width, height), interpolation=interpolation), 0.0, 1.0)
    floor = int(size * rng.uniform(0.78, 0.9))
    x0 = int(np.clip(size * rng.uniform(0.45, 0.55) - width / 2, 0, size - width))
    y0 = max(0, floor - height)
    height = min(height, size - y0)
    alpha_full = np.zeros((size, size), np.float32)
    premul = np.zeros((size, size, 3), np.float32)
    alpha_full[y0:y0 + height, x0:x0 + width] = crop_alpha[:height]
    premul[y0:y0 + height, x0:x0 + width] = crop_rgb[:height] * crop_alpha[:height, :, None]
    reflection = np.random.default_rng(rng.integers(1 << 63)) if rng.random() < 0.3 else None
    image, _clutter = stage(premul, alpha_full, min(floor, y0 + height), "white" if white else "matte", rng,
                            reflection)
    return image, alpha_full


def write_composites(roots: list[Path], out: Path, count: int, size: int, seed: int = 0) -> DatasetIndex:
    """COUNT studio composites of the confident cut-outs found in the dataset folders ROOTS, into OUT: a folder is
    picked uniformly, then one of its cut-outs (so a small set of products is not drowned by a large one)."""
    sources = [(root, found) for root in roots if (found := cutouts(root))]
    if not sources:
        raise ValueError(f"no confident cut-outs in {', '.join(map(str, roots))}")
    rng = np.random.default_rng(seed)
    items = []
    for index in tqdm(range(count), desc=f"composites -> {out.name}", unit="photo"):
        root, found = sources[int(rng.integers(len(sources)))]
        item = found[int(rng.integers(len(found)))]
        image, alpha = studio_composite(load_image(root / item.image).rgb, load_mask(root / item.mask), size, rng)
        name = f"c{seed}-{index:05d}"
        save_rgb(out / "images" / f"{name}.jpg", image)
        save_mask(out / "masks" / f"{name}.png", alpha)
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", item.product, f"composite-{item.category}"))
    index = DatasetIndex(items, source={"composites": {"count": count, "size": size, "seed": seed,
                                                       "cut_from": [str(root) for root in roots]}})
    write_index(out, index)
    return index
