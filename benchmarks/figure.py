"""`make readme-figure`: the README's before/after picture, made by the served pipeline from generated studio scenes,
so it shows what the promoted model and the current post-processing do (no photograph of unclear licence)."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from api.local import local_renderer
from api.processor import Rendered
from api.recipe import Recipe, load_preset
from scenes.synthetic import make_scene

SCENES = ((910011, "metallic"), (910012, "white"))  # seeds outside every training and held-out range
SIDE = 360


def before_after(seed: int, kind: str, render: Callable[[bytes, Recipe], Rendered],
                 size: int = 1024) -> np.ndarray:
    """One row: the raw studio shot and the shop-hero result, each SIDE x SIDE."""
    scene = make_scene(seed, size, kind=kind, reflection=True)
    photo = io.BytesIO()
    Image.fromarray(scene.image).save(photo, "JPEG", quality=92)
    rendered = render(photo.getvalue(), load_preset("shop-hero"))
    with Image.open(io.BytesIO(rendered.body)) as result:
        after = np.asarray(result.convert("RGB"))
    tiles = [cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for image in (scene.image, after)]
    return np.hstack([tiles[0], np.full((SIDE, 12, 3), 255, np.uint8), tiles[1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/before-after.jpg"))
    parser.add_argument("--model", help="store tag (default: the promoted version)")
    args = parser.parse_args()
    render = local_renderer(args.model)
    rows = [before_after(seed, kind, render) for seed, kind in SCENES]
    gap = np.full((12, rows[0].shape[1], 3), 255, np.uint8)
    figure = np.vstack([rows[0], gap, rows[1]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), figure[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(args.out)


if __name__ == "__main__":
    main()
