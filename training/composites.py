"""Product-like training photos made from real cut-outs: a real object (a photo and its mask) stood on a generated
studio sweep with contact and cast shadows, floor dust and sometimes a glossy-floor reflection (scenes.synthetic's
own studio), often made near-white for white-on-white shots; or pasted on a real photo that has no subject of its
own (a shelf, an aisle), as products photographed in a room. The truth is the cut-out's mask, exactly.

Real objects bring what generated ones lack (printed labels, logos, fabric, real shading). Cut-outs whose mask the
teacher was unsure of are skipped.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scenes.synthetic import camera_noise, stage
from training.dataset import DatasetIndex, Item, read_index, write_index
from training.images import load_image, load_mask, save_mask, save_rgb
from training.teacher import clear_subject

WHITE_CHANCE = 0.3  # share of composites whose object is made near-white, on a white sweep


def cutouts(root: Path) -> list[Item]:
    """The items of a dataset folder whose mask is confident and neither tiny nor the whole frame."""
    chosen = []
    for item in read_index(root).items:
        mask = load_mask(root / item.mask)
        if clear_subject(mask) and 0.02 < float((mask > 0.5).mean()) < 0.9:
            chosen.append(item)
    return chosen


def _whitened(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The object as a white product: desaturated and lifted towards white, keeping its shading and print."""
    grey = rgb.mean(axis=2, keepdims=True)
    mixed = grey + rng.uniform(0.1, 0.35) * (rgb - grey)
    return 1.0 - (1.0 - mixed) * rng.uniform(0.12, 0.35)


def _start(position: float, extent: int, size: int) -> int:
    """Where an object EXTENT pixels long starts for POSITION: inside the frame, unless it is larger than the frame."""
    start = round(position)
    return start if extent > size else int(np.clip(start, 0, size - extent))


def _placed(rgb: np.ndarray, alpha: np.ndarray, size: int, scale: float, centre_x: float, bottom: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """The object cropped to its mask, scaled so its longer side is SCALE of the frame and placed with its centre
    at CENTRE_X and its lowest row at BOTTOM (shares of the side): premultiplied RGB in [0, 1] and alpha. With SCALE
    above 1 the frame cuts the object, as in a packshot that fills the picture."""
    ys, xs = np.nonzero(alpha > 0.02)
    top, low, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop_rgb, crop_alpha = rgb[top:low, left:right], alpha[top:low, left:right].astype(np.float32)
    factor = scale * size / max(crop_alpha.shape)
    width, height = max(2, round(crop_alpha.shape[1] * factor)), max(2, round(crop_alpha.shape[0] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    crop_rgb = cv2.resize(crop_rgb, (width, height), interpolation=interpolation)
    crop_alpha = np.clip(cv2.resize(crop_alpha, (width, height), interpolation=interpolation), 0.0, 1.0)
    x0, y0 = _start(size * centre_x - width / 2, width, size), _start(size * bottom - height, height, size)
    frame = (slice(max(0, y0), min(size, y0 + height)), slice(max(0, x0), min(size, x0 + width)))
    inside = (slice(frame[0].start - y0, frame[0].stop - y0), slice(frame[1].start - x0, frame[1].stop - x0))
    alpha_full = np.zeros((size, size), np.float32)
    premul = np.zeros((size, size, 3), np.float32)
    alpha_full[frame] = crop_alpha[inside]
    premul[frame] = crop_rgb[inside] * crop_alpha[inside][..., None]
    return premul, alpha_full


def studio_composite(rgb: np.ndarray, alpha: np.ndarray, size: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The object (RGB uint8 and alpha of its photo) stood on a size x size studio sweep: the photo and its alpha."""
    colour = rgb.astype(np.float32) / 255.0
    white = rng.random() < WHITE_CHANCE
    if white:
        colour = _whitened(colour, rng)
    floor = rng.uniform(0.78, 0.9)
    premul, placed = _placed(colour, alpha, size, rng.uniform(0.45, 1.2), rng.uniform(0.45, 0.55), floor)
    reflection = np.random.default_rng(rng.integers(1 << 63)) if rng.random() < 0.3 else None
    bottom = int(np.nonzero(placed.max(axis=1) > 0.02)[0].max()) + 1
    image, _clutter = stage(premul, placed, bottom, "white" if white else "matte", rng, reflection)
    return image, placed


def room_composite(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray, size: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The object pasted anywhere on a crop of a real photo with no clear subject of its own (a shelf, an aisle):
    product photos taken in a room rather than the studio. The photo and its alpha."""
    height, width = background.shape[:2]
    side = int(min(height, width) * rng.uniform(0.6, 1.0))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    scene = cv2.resize(background[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
    scene = scene.astype(np.float32) / 255.0
    if rng.random() < 0.5:  # a shallow depth of field
        scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(1.0, 4.0) * size / 512)
    premul, placed = _placed(rgb.astype(np.float32) / 255.0, alpha, size, rng.uniform(0.35, 1.15),
                             rng.uniform(0.3, 0.7), rng.uniform(0.55, 1.05))
    return camera_noise(premul + (1.0 - placed[..., None]) * scene, rng), placed


def subjectless_photos(root: Path) -> list[Path]:
    """The photos of a dataset folder that were rejected for showing no clear subject: real backgrounds."""
    return [path for entry in read_index(root).rejected
            if (path := root / "images" / f"{entry['id']}.jpg").is_file()]


def cutout_sources(roots: list[Path]) -> list[tuple[Path, list[Item]]]:
    """Each dataset folder of ROOTS with its usable cut-outs (`cutouts`); folders without any are left out."""
    sources = [(root, found) for root in roots if (found := cutouts(root))]
    if not sources:
        raise ValueError(f"no confident cut-outs in {', '.join(map(str, roots))}")
    return sources


def write_composites(sources: list[tuple[Path, list[Item]]], out: Path, count: int, size: int,
                     seed: int = 0, backgrounds: list[Path] | None = None) -> DatasetIndex:
    """COUNT composites of the cut-outs of SOURCES (`cutout_sources`), into OUT: on generated studio sweeps, or
    pasted on the BACKGROUNDS photos when given. A folder is picked uniformly, then one of its cut-outs (so a small
    set of products is not drowned by a large one)."""
    if backgrounds is not None and not backgrounds:
        raise ValueError("no background photos to paste the cut-outs on")
    rng = np.random.default_rng(seed)
    items = []
    for index in tqdm(range(count), desc=f"composites -> {out.name}", unit="photo"):
        root, found = sources[int(rng.integers(len(sources)))]
        item = found[int(rng.integers(len(found)))]
        rgb, mask = load_image(root / item.image).rgb, load_mask(root / item.mask)
        if backgrounds:
            background = load_image(backgrounds[int(rng.integers(len(backgrounds)))]).rgb
            image, alpha = room_composite(rgb, mask, background, size, rng)
        else:
            image, alpha = studio_composite(rgb, mask, size, rng)
        name = f"c{seed}-{index:05d}"
        save_rgb(out / "images" / f"{name}.jpg", image)
        save_mask(out / "masks" / f"{name}.png", alpha)
        setting = "room" if backgrounds else "composite"
        items.append(Item(name, f"images/{name}.jpg", f"masks/{name}.png", item.product, f"{setting}-{item.category}"))
    index = DatasetIndex(items, source={"composites": {"count": count, "size": size, "seed": seed,
                                                       "cut_from": [str(root) for root, _ in sources],
                                                       "backgrounds": len(backgrounds or [])}})
    write_index(out, index)
    return index
