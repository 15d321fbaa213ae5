"""Contact sheets for eyeballing results: thumbnails with masks overlaid and a caption, laid out in a grid."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

TILE = 224
CAPTION = 18
TINT = np.array([255, 40, 40], np.float32)
EDGE = (40, 220, 40)


def thumbnail(image: np.ndarray, side: int = TILE) -> np.ndarray:
    """RGB (or a float HxW mask, shown grey) letterboxed into a side x side RGB tile."""
    if image.ndim == 2:
        image = np.dstack([np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)] * 3)
    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    tile = np.full((side, side, 3), 96, np.uint8)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    tile[top : top + size[1], left : left + size[0]] = small
    return tile


def overlay(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The photo with the background tinted red and the mask outline in green."""
    a = alpha.astype(np.float32)[..., None]
    tinted = (image * (0.45 + 0.55 * a) + TINT * 0.55 * (1.0 - a)).astype(np.uint8)
    contours, _ = cv2.findContours((alpha > 0.5).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    thickness = max(1, round(max(image.shape[:2]) / 400))
    return cv2.drawContours(np.ascontiguousarray(tinted), contours, -1, EDGE, thickness)


def on_checkerboard(rgba: np.ndarray, square: int | None = None) -> np.ndarray:
    """An RGBA cut-out composited over a light-grey checkerboard (squares of 1/40 of the longer side), as image
    editors show transparency: holes and leftover background both show."""
    height, width = rgba.shape[:2]
    square = square or max(4, max(height, width) // 40)
    rows, columns = np.indices((height, width)) // square
    board = np.where(((rows + columns) % 2 == 0)[..., None], 255.0, 204.0)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * alpha + board * (1.0 - alpha) + 0.5).astype(np.uint8)


def captioned(tiles: Sequence[np.ndarray], caption: str) -> np.ndarray:
    """Tiles side by side above a one-line caption."""
    row = np.hstack(list(tiles))
    bar = np.full((CAPTION, row.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption[: row.shape[1] // 7], (4, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([row, bar])


def grid(cells: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Equal-size cells in rows of `columns`, padded with white."""
    if not cells:
        return np.full((CAPTION, TILE, 3), 255, np.uint8)
    blank = np.full_like(cells[0], 255)
    padded = list(cells) + [blank] * (-len(cells) % columns)
    return np.vstack([np.hstack(padded[i : i + columns]) for i in range(0, len(padded), columns)])
