"""Recover the true foreground colour in the soft edge band so no backdrop fringe survives.

Multi-level foreground estimation after Germer et al. (2020), "Fast Multi-Level Foreground
Estimation": coarse-to-fine Jacobi sweeps of the per-pixel 2x2 system I = aF + (1-a)B with a
smoothness term weighted by alpha differences. Small levels are solved on every pixel; larger
levels only on the band where 0 < alpha < 1: with full-size arrays while the band covers much
of the level, sparsely (pixel lists) once it is a thin outline or the level is large, so the
cost follows the band, not the photo, which keeps 4000x4000 photos fast.
"""

from __future__ import annotations

import cv2
import numpy as np

from postprocess.layout import bounds

EPS_R = 5e-3
OMEGA = 0.1
SMALL_ITERATIONS = 10
SMALL_SIDE = 32
FULL_LEVEL_PIXELS = 128 * 128
DENSE_LEVEL_PIXELS = 1024 * 1024
SPARSE_BAND_SHARE = 0.1  # a band on less of a level than this is solved sparsely: per-pixel lists cost ~10x more
ALPHA_FLOOR = 0.5 / 255.0
ALPHA_CEIL = 1.0 - 0.5 / 255.0


def edge_band(alpha: np.ndarray) -> np.ndarray:
    """Pixels that are neither fully transparent nor fully opaque."""
    return (alpha > ALPHA_FLOOR) & (alpha < ALPHA_CEIL)


def _neighbours(idx: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Flat indices of the 4-neighbours of idx, clamped at the borders."""
    y, x = np.divmod(idx, width)
    return [
        np.where(x > 0, idx - 1, idx),
        np.where(x < width - 1, idx + 1, idx),
        np.where(y > 0, idx - width, idx),
        np.where(y < height - 1, idx + width, idx),
    ]


def _sweep(
    state: np.ndarray,
    pos: np.ndarray,
    nb_pos: list[np.ndarray],
    colour: np.ndarray,
    a0: np.ndarray,
    nb_alpha: list[np.ndarray],
    iterations: int,
) -> None:
    """Jacobi sweeps of the 2x2 solve on rows `pos` of state (N x 6: foreground | background). Rows are gathered
    with np.take and written back in one assignment: fancy row indexing is several times slower."""
    a1 = 1.0 - a0
    weights = [(EPS_R + OMEGA * np.abs(a0 - na))[:, None] for na in nb_alpha]
    wsum = sum(weights)[:, 0]
    a00 = (a0 * a0 + wsum)[:, None]
    a11 = (a1 * a1 + wsum)[:, None]
    a01 = (a0 * a1)[:, None]
    det = a00 * a11 - a01 * a01
    fg_rhs, bg_rhs = a0[:, None] * colour, a1[:, None] * colour
    for _ in range(iterations):
        smooth = sum(w * np.take(state, p, axis=0) for w, p in zip(weights, nb_pos, strict=False))
        b0 = fg_rhs + smooth[:, :3]
        b1 = bg_rhs + smooth[:, 3:]
        state[pos] = np.clip(np.concatenate([a11 * b0 - a01 * b1, a00 * b1 - a01 * b0], axis=1) / det, 0.0, 1.0)


def _pyramid(image: np.ndarray, alpha: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image uint8, alpha) per level, coarse to fine: each level halves the one below it, down to 1x1.

    Exact halvings are OpenCV's fast area reduction (an odd last row or column is left out of it); the paper's
    side**(level/levels) sizes shrink by non-integer factors, which took 17 ms for one 2000 px level.
    """
    out = [(image, alpha)]
    while max(out[-1][1].shape) > 1:
        img, a = out[-1]
        h, w = a.shape
        half_w, half_h = max(1, w // 2), max(1, h // 2)
        rows, cols = slice(0, min(h, 2 * half_h)), slice(0, min(w, 2 * half_w))
        out.append(tuple(cv2.resize(x[rows, cols], (half_w, half_h), interpolation=cv2.INTER_AREA) for x in (img, a)))
    return out[::-1]


def _grown_band(in_band: np.ndarray) -> np.ndarray:
    """Flat indices of a level's edge band grown by one pixel (the pixels a level's sweeps update). The 0/1 result
    is searched as bool: numpy's nonzero is over ten times faster on bool than on uint8."""
    return np.flatnonzero(cv2.dilate(in_band.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool))


def _solve_dense(state: np.ndarray, img: np.ndarray, a: np.ndarray, in_band: np.ndarray,
                 iterations: int) -> np.ndarray:
    """One dense level: every pixel on small levels, the edge band (`in_band`: edge_band(a)) on larger ones."""
    h, w = a.shape
    colour = img.reshape(-1, 3).astype(np.float32) / 255.0
    flat_a = a.ravel()
    flat = state.reshape(-1, 6)
    if w * h <= FULL_LEVEL_PIXELS:
        idx = np.arange(w * h)
    else:
        flat[flat_a >= ALPHA_CEIL, :3] = colour[flat_a >= ALPHA_CEIL]
        flat[flat_a <= ALPHA_FLOOR, 3:] = colour[flat_a <= ALPHA_FLOOR]
        idx = _grown_band(in_band)
    nbs = _neighbours(idx, w, h)
    sweeps = SMALL_ITERATIONS if min(w, h) <= SMALL_SIDE else iterations
    _sweep(flat, idx, nbs, colour[idx], flat_a[idx], [flat_a[n] for n in nbs], sweeps)
    return state


class _Sparse:
    """Foreground/background values on a sorted pixel list of one level, over a dense fallback."""

    def __init__(self, base: np.ndarray) -> None:
        self.base = base
        self.pixels: np.ndarray | None = None
        self.values = np.zeros((0, 6), np.float32)
        self.size = (base.shape[1], base.shape[0])

    def lookup(self, ys: np.ndarray, xs: np.ndarray, width: int, height: int) -> np.ndarray:
        """Nearest-level values at pixels (ys, xs) of a finer (width, height) level."""
        bh, bw = self.base.shape[:2]
        out = self.base[(ys * bh) // height, (xs * bw) // width].copy()
        if self.pixels is not None:
            pw, ph = self.size
            flat = ((ys * ph) // height) * pw + (xs * pw) // width
            pos = np.minimum(np.searchsorted(self.pixels, flat), self.pixels.size - 1)
            found = self.pixels[pos] == flat
            out[found] = self.values[pos[found]]
        return out

    def solve(self, img: np.ndarray, a: np.ndarray, in_band: np.ndarray,
              iterations: int) -> tuple[np.ndarray, np.ndarray]:
        """Solve one level on its band (`in_band`: edge_band(a)); returns (band flat indices, their values)."""
        h, w = a.shape
        band = _grown_band(in_band)
        nbs = _neighbours(band, w, h)
        present = np.zeros(h * w, bool)  # a flag per pixel: much faster than np.unique on millions of indices
        for indices in [band, *nbs]:
            present[indices] = True
        pixels = np.flatnonzero(present)
        ys, xs = np.divmod(pixels, w)
        values = self.lookup(ys, xs, w, h)
        colour = img[ys, xs].astype(np.float32) / 255.0  # the finest level is a view: reshape would copy it
        pa = a.ravel()[pixels]
        values[pa >= ALPHA_CEIL, :3] = colour[pa >= ALPHA_CEIL]
        values[pa <= ALPHA_FLOOR, 3:] = colour[pa <= ALPHA_FLOOR]
        pos = np.searchsorted(pixels, band)
        nb_pos = [np.searchsorted(pixels, n) for n in nbs]
        _sweep(values, pos, nb_pos, colour[pos], pa[pos], [pa[p] for p in nb_pos], iterations)
        self.pixels, self.values, self.size = pixels, values, (w, h)
        return band, values[pos]


def _dense_level(in_band: np.ndarray) -> bool:
    """Whether a level (given by its edge band) is solved with full-size arrays: small levels always, mid-size
    ones while the band is wide."""
    pixels = in_band.size
    if pixels <= FULL_LEVEL_PIXELS:
        return True
    return pixels <= DENSE_LEVEL_PIXELS and np.count_nonzero(in_band) >= SPARSE_BAND_SHARE * pixels


def foreground_in_band(
    image: np.ndarray, alpha: np.ndarray, iterations: int, alpha_band: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated foreground (N x 3 float in [0, 1]) at the flat indices of the edge band (`alpha_band`:
    edge_band(alpha), which the caller already has)."""
    alpha = alpha.astype(np.float32, copy=False)
    levels = _pyramid(image, alpha)
    state = np.zeros((1, 1, 6), np.float32)
    sparse: _Sparse | None = None
    band, values = np.zeros(0, np.int64), np.zeros((0, 6), np.float32)
    for img, a in levels:
        h, w = a.shape
        in_band = alpha_band if a is alpha else edge_band(a)
        if sparse is None and _dense_level(in_band):
            state = cv2.resize(state, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 6)
            state = _solve_dense(state, img, a, in_band, iterations)
            band = np.flatnonzero(in_band)
            values = state.reshape(-1, 6)[band]
        else:
            sparse = sparse or _Sparse(state)
            band, values = sparse.solve(img, a, in_band, iterations)
    inside = in_band.ravel()[band]  # the finest level's: solves cover the band grown by a pixel
    return band[inside], values[inside, :3]


def decontaminate(
    image: np.ndarray, alpha: np.ndarray, iterations: int, margin: int = 8, out: np.ndarray | None = None
) -> np.ndarray:
    """RGB uint8 whose edge-band colours are the estimated foreground; other pixels untouched.

    `alpha` is float in [0, 1], or uint8 (the cut-out's own alpha channel): then only the band's bounding box is
    converted to float, and the band is found with one OpenCV pass (levels 1-254 are exactly edge_band of alpha/255).
    With `out` (a copy of image, or a view such as an RGBA buffer's RGB channels) only the edge band's pixels are
    written, in place, and out is returned: no full-size copy.
    """
    if out is None:
        out = image.copy()
    levels = alpha.dtype == np.uint8
    in_band = cv2.inRange(alpha, 1, 254).astype(bool) if levels else edge_band(alpha)
    found = bounds(in_band)
    if found is None:
        return out
    x0, y0 = max(0, found[0] - margin), max(0, found[1] - margin)
    x1, y1 = min(alpha.shape[1], found[2] + margin), min(alpha.shape[0], found[3] + margin)
    crop = (slice(y0, y1), slice(x0, x1))
    crop_alpha = alpha[crop] / np.float32(255.0) if levels else np.ascontiguousarray(alpha[crop])
    idx, fg = foreground_in_band(image[crop], crop_alpha, iterations, np.ascontiguousarray(in_band[crop]))
    ys, xs = np.divmod(idx, x1 - x0)
    out[y0 + ys, x0 + xs] = np.clip(fg * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out
