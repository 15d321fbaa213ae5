"""Image <-> tensor conversions for BiRefNet: pure numpy/OpenCV, shared by the runner, training and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging when shrinking (no aliasing) and bilinear when enlarging.

    OpenCV's area resize is fast only for whole factors, so a shrink by 2x or more first averages whole blocks
    (integer_step), then resizes the rest: a 4000 px photo to 1024 in 12 ms instead of 24 ms. The footprints differ
    slightly from one direct area resize (0.03 levels on average on the bench photo, a few levels on fine texture).
    """
    if width * height >= image.shape[0] * image.shape[1]:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    step = integer_step(image.shape[1], image.shape[0], width, height)
    if step > 1:
        image = cv2.resize(image, (image.shape[1] // step, image.shape[0] // step), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def integer_step(source_width: int, source_height: int, width: int, height: int) -> int:
    """The largest whole factor that divides both source sides and still leaves them at least (width, height)."""
    for step in range(min(source_width // width, source_height // height), 1, -1):
        if source_width % step == 0 and source_height % step == 0:
            return step
    return 1


def to_tensor(
    images: Sequence[np.ndarray], size: int, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """RGB uint8 images of any size -> normalised float32 NCHW batch at size x size.

    Each image is split into contiguous channel planes and normalised straight into its place in the batch: ten
    times faster than normalising HWC and transposing (a strided copy of the whole batch).
    """
    scale = np.float32(1.0 / 255.0) / np.asarray(std, dtype=np.float32)
    offset = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    batch = np.empty((len(images), 3, size, size), np.float32)
    for image, planes in zip(images, batch, strict=True):
        for plane, out, factor, shift in zip(cv2.split(resize_to(image, size, size)), planes, scale, offset,
                                             strict=True):
            np.multiply(plane, factor, out=out)
            out -= shift
    return batch


def to_masks(logits: np.ndarray, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """N x 1 x S x S logits -> soft masks in [0, 1], each resized back to its image's (height, width)."""
    probabilities = 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float32)))
    return [resize_to(mask, width, height) for mask, (height, width) in zip(probabilities, shapes)]
