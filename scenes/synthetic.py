"""Synthetic studio product photos with exact alpha, for training and post-processing tests.

Products (lens barrels, camera bodies, tripods, straps, bottles, boxes) are drawn as
supersampled vector parts with materials (matte, glossy, dark, metallic, near-white,
glass) and over-composited, so alpha and foreground colour are exact. They stand on a
gradient studio sweep with contact and cast shadows (which are not part of the alpha),
then get sensor noise and a JPEG round trip. Everything is a pure function of the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

KINDS = ("matte", "glossy", "dark", "metallic", "white", "thin", "transparent")
SOLID_SHAPES = ("lens", "camera", "bottle", "box")
THIN_SHAPES = ("tripod", "strap")
SUBPIXEL_BITS = 4
GLARE_LEVEL = 0.85

Shader = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Scene:
    """A rendered photo with exact ground truth (clutter: debris on the floor, not product)."""

    image: np.ndarray
    alpha: np.ndarray
    kind: str
    foreground: np.ndarray
    shape: str
    floor: int
    clutter: np.ndarray

    @property
    def glare(self) -> np.ndarray:
        """Opaque product pixels bright enough to pass for backdrop (where models punch holes)."""
        return (self.alpha > 0.99) & (self.foreground.mean(axis=2) > GLARE_LEVEL)


@dataclass
class Part:
    """One opaque-or-glass piece: filled polygons and stroked polylines sharing a shader."""

    shader: Shader
    polygons: list[np.ndarray] = field(default_factory=list)
    strokes: list[tuple[np.ndarray, float]] = field(default_factory=list)
    opacity: float = 1.0


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, start: float = 0.0, end: float = 360.0, points: int = 96
) -> np.ndarray:
    """Polygon points of an ellipse arc (degrees, clockwise in image coordinates)."""
    t = np.radians(np.linspace(start, end, points))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    """Polygon points of a rectangle with rounded corners."""
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    corners = [(x1 - r, y0 + r, 270), (x1 - r, y1 - r, 0), (x0 + r, y1 - r, 90), (x0 + r, y0 + r, 180)]
    return np.concatenate([_ellipse(cx, cy, r, r, a, a + 90, 24) for cx, cy, a in corners])


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Polygon points of an axis-aligned rectangle."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _bounds(part: Part, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel box enclosing everything the part draws."""
    pts = [p for p in part.polygons] + [p for p, _ in part.strokes]
    grow = max([w for _, w in part.strokes], default=0.0) / 2 + 2
    allp = np.concatenate(pts)
    x0 = int(max(0, np.floor(allp[:, 0].min() - grow)))
    y0 = int(max(0, np.floor(allp[:, 1].min() - grow)))
    x1 = int(min(width, np.ceil(allp[:, 0].max() + grow)))
    y1 = int(min(height, np.ceil(allp[:, 1].max() + grow)))
    return x0, y0, x1, y1


def _coverage(part: Part, box: tuple[int, int, int, int], ss: int) -> np.ndarray:
    """Exact-ish pixel coverage of the part inside box via ss x ss supersampling."""
    x0, y0, x1, y1 = box
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    scale = ss * (1 << SUBPIXEL_BITS)
    origin = np.array([x0, y0], np.float64)

    def fixed(points: np.ndarray) -> np.ndarray:
        return np.round((points - origin) * scale).astype(np.int32)

    for points in part.polygons:
        cv2.fillPoly(canvas, [fixed(points)], 255, cv2.LINE_8, SUBPIXEL_BITS)
    for points, width in part.strokes:
        thickness = max(1, round(width * ss))
        cv2.polylines(canvas, [fixed(points)], False, 255, thickness, cv2.LINE_8, SUBPIXEL_BITS)
    small = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def _material(kind: str, rng: np.random.Generator) -> Callable[[float], Shader]:
    """A family of shaders for one material; the argument shifts brightness per part."""
    hue = rng.uniform(0.15, 0.85, 3)
    if kind == "dark":
        base = rng.uniform(0.04, 0.12) + rng.uniform(-0.02, 0.02, 3)
    elif kind == "white":
        base = rng.uniform(0.88, 0.95) + rng.uniform(-0.01, 0.01, 3)
    elif kind == "metallic":
        base = np.array([0.78, 0.78, 0.8]) * rng.uniform(0.8, 1.0) + rng.choice([0.0, 0.08]) * np.array(
            [0.1, 0.0, -0.3]
        )
    elif kind == "transparent":
        base = np.array([0.55, 0.75, 0.7]) + rng.uniform(-0.1, 0.1, 3)
    else:
        base = hue
    phase = rng.uniform(0, 2 * np.pi)
    highlight = rng.uniform(0.25, 0.75)

    def family(shift: float) -> Shader:
        def shade(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            if kind == "metallic":
                profile = (
                    0.55 + 0.35 * np.cos(6.0 * u + phase) + 0.25 * np.exp(-(((u - highlight) / 0.05) ** 2))
                )
            elif kind == "glossy":
                profile = 0.8 + 0.1 * (1 - v) + 0.6 * np.exp(-(((u - highlight) / 0.06) ** 2))
            elif kind == "dark":
                profile = 1.0 + 0.8 * np.exp(-(((u - highlight) / 0.08) ** 2)) + 0.5 * (1 - v) * 0.3
            elif kind == "white":
                profile = 1.0 - 0.05 * (2 * u - 1) ** 4 - 0.02 * v
            else:
                profile = 0.85 + 0.15 * (1 - v) - 0.12 * (2 * u - 1) ** 2
            rgb = np.clip(base * (1.0 + shift) * profile[..., None], 0.0, 1.0)
            return rgb.astype(np.float32)

        return shade

    return family


def _lens(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A standing lens barrel: mount, barrel, focus ring, front ring."""
    w, h = s * rng.uniform(0.26, 0.36), s * rng.uniform(0.38, 0.55)
    x0, x1, top = cx - w / 2, cx + w / 2, floor - h
    return [
        Part(shade(-0.1), [_rect(x0 + 0.08 * w, floor - 0.08 * h, x1 - 0.08 * w, floor)]),
        Part(shade(0.0), [_rounded_rect(x0, top + 0.1 * h, x1, floor - 0.07 * h, 0.02 * w)]),
        Part(shade(-0.25), [_rect(x0 - 0.01 * w, top + 0.35 * h, x1 + 0.01 * w, top + 0.6 * h)]),
        Part(shade(0.1), [_rounded_rect(x0 - 0.03 * w, top, x1 + 0.03 * w, top + 0.12 * h, 0.03 * w)]),
    ]


def _camera(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A camera body seen from the front: body, prism hump, grip, lens."""
    w, h = s * rng.uniform(0.5, 0.62), s * rng.uniform(0.28, 0.34)
    x0, x1, top = cx - w / 2, cx + w / 2, floor - h
    hump = np.array(
        [
            [cx - 0.16 * w, top],
            [cx + 0.16 * w, top],
            [cx + 0.1 * w, top - 0.22 * h],
            [cx - 0.1 * w, top - 0.22 * h],
        ]
    )
    lens_r = 0.3 * h * rng.uniform(1.0, 1.25)
    return [
        Part(shade(0.0), [_rounded_rect(x0, top, x1, floor, 0.08 * h), hump]),
        Part(
            shade(-0.2),
            [_rounded_rect(x0 - 0.02 * w, top + 0.1 * h, x0 + 0.2 * w, floor - 0.02 * h, 0.1 * h)],
        ),
        Part(shade(0.15), [_ellipse(cx, top + 0.55 * h, lens_r, lens_r)]),
        Part(shade(-0.4), [_ellipse(cx, top + 0.55 * h, 0.6 * lens_r, 0.6 * lens_r)]),
    ]


def _bottle(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A bottle: body with shoulders, neck and cap."""
    w, h = s * rng.uniform(0.2, 0.3), s * rng.uniform(0.45, 0.6)
    x0, x1, top = cx - w / 2, cx + w / 2, floor - h
    shoulder = top + 0.4 * h
    body = np.concatenate(
        [
            [[x0, floor], [x0, shoulder]],
            _ellipse(cx, shoulder, w / 2, 0.12 * h, 180, 360),
            [[x1, floor]],
        ]
    )
    neck = _rect(cx - 0.15 * w, top + 0.1 * h, cx + 0.15 * w, shoulder - 0.08 * h)
    cap = _rounded_rect(cx - 0.18 * w, top, cx + 0.18 * w, top + 0.12 * h, 0.03 * w)
    return [Part(shade(0.0), [body, neck]), Part(shade(-0.3), [cap])]


def _box(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A product box in slight perspective: front, side and top faces."""
    w, h, d = s * rng.uniform(0.3, 0.42), s * rng.uniform(0.3, 0.45), s * rng.uniform(0.06, 0.1)
    x0, x1, top = cx - w / 2 - d / 2, cx + w / 2 - d / 2, floor - h
    front = _rect(x0, top, x1, floor)
    side = np.array([[x1, top], [x1 + d, top - 0.6 * d], [x1 + d, floor - 0.6 * d], [x1, floor]])
    lid = np.array([[x0, top], [x0 + d, top - 0.6 * d], [x1 + d, top - 0.6 * d], [x1, top]])
    return [Part(shade(0.0), [front]), Part(shade(-0.2), [side]), Part(shade(0.12), [lid])]


def _tripod(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A tripod: head and column with three thin legs down to the floor."""
    leg = max(2.5, 0.003 * s) * rng.uniform(1.0, 1.3)
    spread, head_y = s * rng.uniform(0.18, 0.26), floor - s * rng.uniform(0.45, 0.6)
    hub = np.array([cx, head_y + 0.06 * s])
    feet = [
        np.array([cx - spread, floor - leg / 2]),
        np.array([cx + 0.15 * spread, floor - leg / 2]),
        np.array([cx + spread, floor - leg / 2]),
    ]
    legs = [(np.stack([hub, foot]), leg) for foot in feet]
    column = (np.array([[cx, head_y], [cx, head_y + 0.2 * s]]), leg * 2.2)
    head = _rounded_rect(cx - 0.05 * s, head_y - 0.05 * s, cx + 0.05 * s, head_y + 0.01 * s, 0.01 * s)
    return [Part(shade(0.0), strokes=legs + [column]), Part(shade(-0.1), [head])]


def _strap(
    cx: float, floor: float, s: float, shade: Callable[[float], Shader], rng: np.random.Generator
) -> list[Part]:
    """A compact camera with a thin strap arching above it."""
    parts = _camera(cx, floor, s * 0.8, shade, rng)
    body_top = floor - 0.27 * s
    width = max(2.5, 0.003 * s) * rng.uniform(1.0, 1.4)
    t = np.linspace(0.0, np.pi, 64)
    arch = np.stack([cx - 0.2 * s * np.cos(t), body_top - rng.uniform(0.15, 0.25) * s * np.sin(t)], axis=1)
    return parts + [Part(shade(-0.3), strokes=[(arch, width)])]


SHAPES: dict[str, Callable[..., list[Part]]] = {
    "lens": _lens,
    "camera": _camera,
    "bottle": _bottle,
    "box": _box,
    "tripod": _tripod,
    "strap": _strap,
}


def _glass(parts: list[Part], rng: np.random.Generator) -> list[Part]:
    """Glass version of a product: translucent bodies with opaque rims."""
    glassy = []
    for part in parts:
        glassy.append(Part(part.shader, part.polygons, part.strokes, rng.uniform(0.3, 0.6)))
        rims = [(p, 2.0) for p in part.polygons]
        glassy.append(Part(part.shader, strokes=rims, opacity=0.9))
    return glassy


def _render(parts: list[Part], width: int, height: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """Over-composite parts into (premultiplied colour, alpha)."""
    premul = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    for part in parts:
        x0, y0, x1, y1 = _bounds(part, width, height)
        if x1 <= x0 or y1 <= y0:
            continue
        cover = _coverage(part, (x0, y0, x1, y1), ss) * part.opacity
        u = (np.arange(x0, x1, dtype=np.float32)[None, :] - x0) / max(1, x1 - x0 - 1)
        v = (np.arange(y0, y1, dtype=np.float32)[:, None] - y0) / max(1, y1 - y0 - 1)
        u, v = np.broadcast_arrays(u, v)
        color = part.shader(u, v)
        c = cover[..., None]
        premul[y0:y1, x0:x1] = premul[y0:y1, x0:x1] * (1 - c) + color * c
        alpha[y0:y1, x0:x1] = alpha[y0:y1, x0:x1] * (1 - cover) + cover
    return premul, alpha


def _backdrop(width: int, height: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A studio sweep: near-white with a vertical gradient, slight vignette and tint."""
    level = rng.uniform(0.96, 1.0) if kind == "white" else rng.uniform(0.9, 1.0)
    drop = rng.uniform(0.0, 0.12)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    lum = level * (1.0 - drop * (1.0 - y) ** 2) * (1.0 - rng.uniform(0.0, 0.04) * x**2)
    tint = 1.0 + rng.uniform(-0.015, 0.015, 3).astype(np.float32)
    return np.clip(lum[..., None] * tint, 0.0, 1.0)


def _shadows(alpha: np.ndarray, floor: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """Floor shadow opacity: tight contact ellipse plus a squashed, skewed, blurred cast shadow."""
    height, width = alpha.shape
    cols = np.flatnonzero(alpha[max(0, floor - 3) : floor].max(axis=0) > 0.5)
    solid = np.flatnonzero(alpha.max(axis=0) > 0.5)
    cols = cols if cols.size else solid
    x0, x1 = (cols[0], cols[-1]) if cols.size else (width // 2, width // 2 + 1)
    contact = np.zeros((height, width), np.float32)
    ellipse = _ellipse((x0 + x1) / 2, floor, (x1 - x0) / 2 * 1.05, 0.012 * s)
    cv2.fillPoly(contact, [np.round(ellipse * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    contact = cv2.GaussianBlur(contact, (0, 0), 0.006 * s) * rng.uniform(0.35, 0.6)
    squash, skew = rng.uniform(0.12, 0.3), rng.uniform(-0.6, 0.6)
    matrix = np.array(
        [[1.0, skew * squash, -skew * squash * floor], [0.0, squash, floor * (1 - squash) + 0.01 * s]],
        np.float32,
    )
    cast = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR)
    cast = cv2.GaussianBlur(cast, (0, 0), rng.uniform(0.015, 0.035) * s) * rng.uniform(0.12, 0.3)
    return 1.0 - (1.0 - contact) * (1.0 - cast)


def _clutter(alpha: np.ndarray, floor: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """Coverage of a few dust specks and small parts lying on the floor away from the product."""
    height, width = alpha.shape
    clutter = np.zeros((height, width), np.float32)
    away = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((int(0.06 * s) | 1,) * 2, np.uint8)) == 0
    floor_zone = np.zeros_like(away)
    floor_zone[
        min(height - 1, floor + int(0.02 * s)) : height - int(0.03 * s), int(0.05 * s) : width - int(0.05 * s)
    ] = True
    ys, xs = np.nonzero(away & floor_zone)
    for i in rng.choice(ys.size, size=min(ys.size, int(rng.integers(1, 4))), replace=False):
        axes = (max(1, int(s * rng.uniform(0.003, 0.012))), max(1, int(s * rng.uniform(0.002, 0.006))))
        cv2.ellipse(
            clutter, (int(xs[i]), int(ys[i])), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA
        )
    return clutter


def camera_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise and a JPEG round trip, as a studio camera would deliver."""
    noisy = image + rng.normal(0.0, rng.uniform(0.4, 1.2) / 255.0, image.shape).astype(np.float32)
    rgb8 = np.clip(noisy * 255.0 + 0.5, 0, 255).astype(np.uint8)
    quality = int(rng.integers(88, 96))
    _ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _reflection(premul: np.ndarray, alpha: np.ndarray, floor: int, s: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """A glossy-floor reflection: the product mirrored at the floor line, fading with distance (not alpha)."""
    height = alpha.shape[0]
    rows = np.clip(2 * floor - np.arange(height), 0, height - 1)
    below = np.arange(height) >= floor
    fade = np.where(below, np.exp(-(np.arange(height) - floor) / (rng.uniform(0.03, 0.1) * s)), 0.0)
    weight = (rng.uniform(0.12, 0.35) * fade).astype(np.float32)[:, None]
    blur = rng.uniform(0.001, 0.004) * s
    mirrored_alpha = cv2.GaussianBlur(alpha[rows], (0, 0), blur) * weight
    mirrored = cv2.GaussianBlur(premul[rows], (0, 0), blur) * weight[..., None]
    return mirrored, mirrored_alpha


def make_scene(seed: int, size: int = 1024, kind: str | None = None, reflection: bool = False) -> Scene:
    """A deterministic studio product photo of size x size with exact alpha and foreground.

    reflection=True puts a glossy floor under about half of the scenes (decided by the seed); without it the
    scene is the same as it always was for that seed.
    """
    rng = np.random.default_rng(seed)
    kind = kind if kind is not None else str(rng.choice(KINDS))
    if kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; known: {', '.join(KINDS)}")
    shape = str(rng.choice(THIN_SHAPES if kind == "thin" else SOLID_SHAPES))
    material = "metallic" if kind == "thin" and rng.random() < 0.5 else ("dark" if kind == "thin" else kind)
    floor = int(size * rng.uniform(0.78, 0.86))
    cx = size * rng.uniform(0.45, 0.55)
    parts = SHAPES[shape](cx, floor, float(size), _material(material, rng), rng)
    if kind == "transparent":
        parts = _glass(parts, rng)
    ss = int(np.clip(8192 // size, 1, 4))
    premul, alpha = _render(parts, size, size, ss)
    glossy_floor = np.random.default_rng((seed, 1))
    image, clutter = stage(premul, alpha, floor, kind, rng,
                           glossy_floor if reflection and glossy_floor.random() < 0.5 else None)
    foreground = np.where(alpha[..., None] > 0, premul / np.maximum(alpha[..., None], 1e-6), 0.0).astype(
        np.float32
    )
    return Scene(
        image=image,
        alpha=alpha,
        kind=kind,
        foreground=foreground,
        shape=shape,
        floor=floor,
        clutter=clutter,
    )


def stage(premul: np.ndarray, alpha: np.ndarray, floor: int, kind: str, rng: np.random.Generator,
          reflection: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Photograph a product (premultiplied float RGB and alpha, square) standing on `floor` in the studio: a sweep
    backdrop ('white' ones are brighter), contact and cast shadows, floor dust, a glossy-floor reflection when a
    generator for it is given, sensor noise and a JPEG round trip. The photo (RGB uint8) and the dust's coverage."""
    size = float(alpha.shape[0])
    backdrop = _backdrop(alpha.shape[1], alpha.shape[0], kind, rng)  # drawn first: the seed decides it first
    backdrop = backdrop * (1.0 - _shadows(alpha, floor, size, rng))[..., None]
    clutter = _clutter(alpha, floor, size, rng)
    backdrop = backdrop * (1.0 - clutter * rng.uniform(0.5, 0.8))[..., None]
    if reflection is not None:
        mirrored, mirrored_alpha = _reflection(premul, alpha, floor, size, reflection)
        backdrop = mirrored + (1.0 - mirrored_alpha[..., None]) * backdrop
    composite = premul + (1.0 - alpha[..., None]) * backdrop
    return camera_noise(composite, rng), clutter


def _blobs(
    shape: tuple[int, int], where: np.ndarray, count: int, radius: float, rng: np.random.Generator
) -> np.ndarray:
    """A mask of up to count small discs centred on random pixels of where."""
    out = np.zeros(shape, np.float32)
    ys, xs = np.nonzero(where)
    if ys.size == 0:
        return out
    for i in rng.choice(ys.size, size=min(count, ys.size), replace=False):
        r = max(1, round(radius * rng.uniform(0.6, 1.4)))
        cv2.circle(out, (int(xs[i]), int(ys[i])), r, 1.0, -1, cv2.LINE_AA)
    return out


def degrade_mask(
    alpha: np.ndarray,
    seed: int,
    kind: str | None = None,
    size: int | None = None,
    clutter: np.ndarray | None = None,
    glare: np.ndarray | None = None,
) -> np.ndarray:
    """A model-like soft mask of a true alpha, returned at the model's low resolution.

    Shifted a few pixels, biased (white-on-white bleeds), shrunk to size x size (default a
    quarter of the long side, as 1024 is for a 4000 px photo), squashed to model confidence,
    blurred, with low-frequency noise and false-positive specks; floor `clutter` is taken for
    product and holes are punched where the product shows `glare`, as real models do.
    """
    rng = np.random.default_rng(seed)
    height, width = alpha.shape
    size = size if size is not None else max(16, round(max(height, width) / 4))
    factor = max(height, width) / size
    dx, dy = rng.uniform(-2.0, 2.0, 2) * max(1.0, factor / 2)
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    shifted = cv2.warpAffine(alpha.astype(np.float32), shift, (width, height))
    if kind == "white":
        grow = round(rng.uniform(1.5, 3.0) * factor)
        shifted = cv2.dilate(
            shifted, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        )
    low = cv2.resize(shifted, (size, size), interpolation=cv2.INTER_AREA)
    steep = rng.uniform(3.0, 5.0) if kind in ("white", "transparent") else rng.uniform(5.0, 9.0)
    squash = 1.0 / (1.0 + np.exp(-steep * (np.array([0.0, 1.0], np.float32) - 0.5) * 2.0))
    low = (1.0 / (1.0 + np.exp(-steep * (low - 0.5) * 2.0)) - squash[0]) / (squash[1] - squash[0])
    sigma = rng.uniform(1.4, 2.2) if kind == "white" else rng.uniform(0.5, 1.0)
    low = cv2.GaussianBlur(low.astype(np.float32), (0, 0), sigma)
    wobble = cv2.GaussianBlur(rng.normal(0.0, 1.0, (size, size)).astype(np.float32), (0, 0), 3.0)
    low = low + wobble / max(1e-6, float(np.abs(wobble).max())) * 0.15 * 4.0 * low * (1.0 - low)
    specks = _blobs((size, size), low < 0.05, int(rng.integers(1, 4)), size / 200, rng) * rng.uniform(
        0.6, 0.9
    )
    if clutter is not None:
        seen = cv2.resize(
            cv2.dilate(clutter, np.ones((3, 3), np.uint8)), (size, size), interpolation=cv2.INTER_AREA
        )
        specks = np.maximum(specks, np.clip(seen * 2.0, 0.0, 1.0) * rng.uniform(0.6, 0.95))
    spots = low > 0.98
    if glare is not None and glare.any():
        spots = cv2.resize(glare.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    holes = _blobs((size, size), spots, int(rng.integers(1, 4)), size / 200, rng)
    low = np.maximum(low, specks) * (1.0 - 0.8 * holes)
    return np.clip(low, 0.0, 1.0).astype(np.float32)


def model_output(scene: Scene, seed: int, size: int | None = None) -> np.ndarray:
    """degrade_mask for a scene, with its floor clutter and glare."""
    return degrade_mask(scene.alpha, seed, scene.kind, size, clutter=scene.clutter, glare=scene.glare)
