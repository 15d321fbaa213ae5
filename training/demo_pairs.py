"""Generated photo pairs for trying and testing the pipeline: synthetic studio originals and PhotoRoom-like
processed versions (cut out, re-scaled, re-centred, on white, with shadows and branding bars) whose file names
drifted apart, plus unpaired files on both sides. The exact masks are known from the scene seeds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from postprocess.params import LayoutParams, ShadowParams
from postprocess.pipeline import compose, load_template, render_template
from training.images import save_rgb
from scenes.synthetic import KINDS, make_scene

BRANDS = ("sony", "canon", "nikon", "fuji", "leica", "sigma", "tamron", "rode")
TEMPLATES = ("shop-default", "sale-banner", "light-top", None)
SHADOWS = ("drop", "natural", "none")
TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class DemoPair:
    """Where one generated pair went and how to regenerate its exact mask."""

    original: str
    processed: str | None
    seed: int
    kind: str
    size: int


def _sku(rng: np.random.Generator, index: int) -> str:
    """A shop-style article code such as 'Canon-EF2470-3'."""
    brand = str(rng.choice(BRANDS)).capitalize()
    letters = "".join(rng.choice(list("ABCDEFRXZ"), size=int(rng.integers(1, 3))))
    return f"{brand}-{letters}{100 + 37 * index + int(rng.integers(0, 30))}-{int(rng.integers(1, 4))}"


def _drifted(sku: str, rng: np.random.Generator, index: int) -> str:
    """The processed file's name: case, separators and suffixes changed, sometimes renamed completely."""
    style = int(rng.integers(0, 5))
    if style == 0:
        return sku.lower().replace("-", "_") + "_edit.jpg"
    if style == 1:
        return sku.upper() + "-final.png"
    if style == 2:
        return sku.rsplit("-", 1)[0].lower() + " (photoroom).jpg"
    if style == 3:
        return sku.replace("-", "") + "_v2.jpg"
    return f"export_{9000 + index}.jpg"


def _processed(image: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A PhotoRoom-like catalogue image of the scene: new canvas, scale, offset, shadow, maybe a bar."""
    rgba = np.dstack([image, np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])
    side = int(image.shape[0] * rng.uniform(0.7, 1.5))
    layout = LayoutParams(size=f"{side}x{int(side * rng.choice([1.0, 1.25]))}", padding=float(rng.uniform(0.1, 0.18)),
                          align=str(rng.choice(["center", "bottom"])))
    shadow = ShadowParams(mode=str(rng.choice(SHADOWS)), opacity=float(rng.uniform(0.2, 0.45)))
    result = compose(rgba, layout, shadow)
    template = TEMPLATES[int(rng.integers(0, len(TEMPLATES)))]
    return render_template(result, load_template(template)) if template else result


def write_demo_pairs(out: Path, count: int, size: int = 512, seed: int = 0, extra: int = 2,
                     kinds: tuple[str, ...] = KINDS) -> list[DemoPair]:
    """Write out/originals/<kind>/*.jpg and out/processed/*, plus `extra` unpaired files on each side; the scenes
    cycle through `kinds`."""
    rng = np.random.default_rng(seed)
    pairs = []
    for index in range(count + 2 * extra):
        scene_seed = seed * 100_003 + index
        scene = make_scene(scene_seed, size, kinds[index % len(kinds)])
        sku = _sku(rng, index)
        processed_only = index >= count + extra
        original = None if processed_only else f"{scene.kind}/{sku}.jpg"
        if original:
            save_rgb(out / "originals" / original, scene.image, quality=int(rng.integers(88, 96)))
        processed = None if count <= index < count + extra else _drifted(sku, rng, index)
        if processed:
            save_rgb(out / "processed" / processed, _processed(scene.image, scene.alpha, rng), quality=90)
        if original:
            pairs.append(DemoPair(original, processed, scene_seed, scene.kind, size))
    (out / TRUTH_FILE).write_text(json.dumps([asdict(p) for p in pairs], indent=2))
    return pairs


def read_truth(out: Path) -> list[DemoPair]:
    """The pairs recorded by write_demo_pairs."""
    return [DemoPair(**item) for item in json.loads((out / TRUTH_FILE).read_text())]


def truth_alpha(pair: DemoPair) -> np.ndarray:
    """The exact alpha of a generated original."""
    return make_scene(pair.seed, pair.size, pair.kind).alpha
