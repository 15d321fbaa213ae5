"""Quality benchmark of the cut-out steps on synthetic studio scenes with exact truth.

Run: python -m postprocess.quality [--out DIR] [--n N] [--size PX]
Prints IoU, boundary F, alpha MAE and fringe error per step and per category, writes a
contact sheet PNG, and times the post-processing of a 4000x4000 photo.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from postprocess import metrics
from postprocess.cleanup import clean
from postprocess.decontaminate import decontaminate
from postprocess.params import BrandingParams, LayoutParams, MaskParams, ShadowParams
from postprocess.pipeline import compose, cutout, refine_alpha, render_template
from postprocess.refine import guided_upsample, upsample, working_grid
from postprocess.white_on_white import refine_white_on_white
from scenes.synthetic import Scene, degrade_mask, make_scene, model_output

CATEGORIES = ("dark", "metallic", "white", "thin", "transparent")
STEPS = ("a resize+threshold", "b +guided refine", "c +cleanup", "d +white-on-white", "e +decontaminate")
METRICS = ("IoU", "BF", "MAE", "fringe")
SHEET_TILE = 256
CONTRAST = (0.1, 0.1, 0.1)


def run_steps(image: np.ndarray, mask: np.ndarray, params: MaskParams) -> list[np.ndarray]:
    """RGBA uint8 after each cumulative step (a) .. (e)."""
    height, width = image.shape[:2]
    plain = upsample(working_grid(mask), width, height)
    baseline = (plain > 0.5).astype(np.float32)
    steps = [
        params.model_copy(update={"clean": False, "white_on_white": False, "decontaminate": False}),
        params.model_copy(update={"white_on_white": False, "decontaminate": False}),
        params.model_copy(update={"decontaminate": False}),
    ]
    alphas = [baseline] + [refine_alpha(image, mask, p) for p in steps]
    results = [np.dstack([image, np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)]) for a in alphas]
    return results + [cutout(image, mask, params)]


def score(rgba: np.ndarray, scene: Scene) -> dict[str, float]:
    """All metrics of one result against the scene's truth."""
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    return {
        "IoU": metrics.iou(alpha, scene.alpha),
        "BF": metrics.boundary_f(alpha, scene.alpha),
        "MAE": metrics.mae(alpha, scene.alpha),
        "fringe": metrics.fringe_error(rgba[..., :3], alpha, scene.foreground, scene.alpha, CONTRAST),
    }


def _tile(image: np.ndarray) -> np.ndarray:
    """A square RGB uint8 thumbnail for the contact sheet."""
    if image.ndim == 2:
        image = np.dstack([np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)] * 3)
    return cv2.resize(image, (SHEET_TILE, SHEET_TILE), interpolation=cv2.INTER_AREA)


def _on_contrast(rgba: np.ndarray) -> np.ndarray:
    """The cut-out over a dark contrasting backdrop, where fringes show."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    k = np.array(CONTRAST, np.float32) * 255.0
    return np.clip(a * rgba[..., :3] + (1 - a) * k + 0.5, 0, 255).astype(np.uint8)


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = [f"\n{title}", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def benchmark(n: int, size: int, out: Path) -> str:
    """Run every step on n scenes per category; return the report and write the contact sheet."""
    params = MaskParams()
    scores: dict[str, list[list[dict[str, float]]]] = {c: [] for c in CATEGORIES}
    sheet = []
    for ci, category in enumerate(CATEGORIES):
        for i in range(n):
            seed = 1000 * ci + i
            scene = make_scene(seed, size, category)
            mask = model_output(scene, seed)
            results = run_steps(scene.image, mask, params)
            scores[category].append([score(r, scene) for r in results])
            if i == 0:
                row = [
                    scene.image,
                    cv2.resize(mask, (size, size)),
                    _on_contrast(results[0]),
                    _on_contrast(results[-1]),
                ]
                sheet.append(np.hstack([_tile(t) for t in row]))
    out.mkdir(parents=True, exist_ok=True)
    sheet_path = out / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), cv2.cvtColor(np.vstack(sheet), cv2.COLOR_RGB2BGR))

    def mean(category: str | None, step: int, metric: str) -> float:
        pool = [s for c in CATEGORIES if category in (None, c) for s in scores[c]]
        return float(np.mean([s[step][metric] for s in pool]))

    fmt = {"IoU": "{:.4f}", "BF": "{:.4f}", "MAE": "{:.5f}", "fringe": "{:.2f}"}
    overall = [[step] + [fmt[m].format(mean(None, k, m)) for m in METRICS] for k, step in enumerate(STEPS)]
    report = [
        (
            f"{n} scenes x {len(CATEGORIES)} categories at {size}px, masks at {size // 4}px; "
            f"fringe = mean |composite error| (0-255) in the edge band over RGB{CONTRAST}"
        ),
        _table("All scenes", ["step"] + list(METRICS), overall),
    ]
    for metric in METRICS:
        rows = [
            [step] + [fmt[metric].format(mean(c, k, metric)) for c in CATEGORIES]
            for k, step in enumerate(STEPS)
        ]
        report.append(_table(f"{metric} per category", ["step"] + list(CATEGORIES), rows))
    report.append(f"\ncontact sheet (input | model mask | baseline | final, on dark): {sheet_path}")
    return "\n".join(report)


def _timed(fn: Callable[[], np.ndarray], repeats: int = 2) -> tuple[np.ndarray, float]:
    """Result and best wall seconds of fn() over repeats (the first run warms caches up)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def time_full_resolution(side: int = 4000) -> str:
    """Wall time of each post-processing step on a side x side photo with a 1024 mask."""
    scene = make_scene(7, 1000, "metallic")
    image = cv2.resize(scene.image, (side, side), interpolation=cv2.INTER_CUBIC)
    mask = degrade_mask(cv2.resize(scene.alpha, (side, side)), 7, "metallic", size=1024)
    p = MaskParams()
    rgba, t_cutout = _timed(lambda: cutout(image, mask, p))
    alpha, t_refine = _timed(
        lambda: guided_upsample(
            image, mask, p.guide_radius, p.guide_eps, p.confidence_power, p.sharpen, p.align
        )
    )
    alpha, t_clean = _timed(lambda: clean(alpha, p.island_ratio, p.thin_ratio, p.hole_ratio, p.erode_ratio))
    white = (p.white_radius, p.guide_eps, p.white_gain, p.white_level)
    alpha, t_white = _timed(lambda: refine_white_on_white(image, alpha, mask, *white))
    _, t_decon = _timed(lambda: decontaminate(image, alpha, p.foreground_iterations))
    shot, t_compose = _timed(lambda: compose(rgba, LayoutParams(size="2000x2000"), ShadowParams()))
    _, t_natural = _timed(lambda: compose(rgba, LayoutParams(), ShadowParams(mode="natural")))
    _, t_brand = _timed(lambda: render_template(shot, BrandingParams(text="Camera Store")))
    parts = [
        f"refine {t_refine:.2f}s",
        f"cleanup {t_clean:.2f}s",
        f"white-on-white {t_white:.2f}s",
        f"decontaminate {t_decon:.2f}s",
    ]
    total = t_cutout + t_compose + t_brand
    return "\n".join(
        [
            f"\n{side}x{side} post-processing, no model, best of 2 runs:",
            f"  cutout {t_cutout:.2f}s ({', '.join(parts)})",
            f"  compose to 2000x2000 with drop shadow {t_compose:.2f}s",
            f"  compose full size with natural shadow {t_natural:.2f}s",
            f"  branding {t_brand:.2f}s",
            f"  cutout + compose + branding {total:.2f}s",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quality-out"), help="folder for the contact sheet")
    parser.add_argument("--n", type=int, default=4, help="scenes per category")
    parser.add_argument("--size", type=int, default=1024, help="scene side in pixels")
    parser.add_argument("--no-timing", action="store_true", help="skip the 4000x4000 timing")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(benchmark(args.n, args.size, args.out))
    if not args.no_timing:
        print(time_full_resolution())
    print(f"\nbenchmark wall time {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
