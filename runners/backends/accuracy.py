"""The accuracy guard: a reduced-precision backend must agree with fp32 on the same inputs before it serves."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from runners.preprocess import to_tensor

if TYPE_CHECKING:
    from runners.store import ModelMetadata  # type only: importing the store loads BentoML

MIN_IOU = 0.99
MAX_MEAN_ABS_DIFF = 0.01
GUARD_SEED = 7
GUARD_PRODUCTS = ("camera", "white box")


@dataclass(frozen=True)
class Agreement:
    """How closely a candidate's masks follow the fp32 reference's."""

    iou: float
    mean_abs_diff: float
    max_logit_diff: float

    @property
    def ok(self) -> bool:
        """Mask IoU (at 0.5) >= 0.99 and mean |alpha difference| <= 0.01."""
        return self.iou >= MIN_IOU and self.mean_abs_diff <= MAX_MEAN_ABS_DIFF

    def as_dict(self) -> dict[str, float | bool]:
        return {**asdict(self), "ok": self.ok}


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Soft mask from logits, computed in float64 so large logits cannot overflow."""
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def agreement(reference_logits: np.ndarray, candidate_logits: np.ndarray) -> Agreement:
    """Compare two logit batches: IoU of the 0.5-thresholded masks, mean |mask diff|, max |logit diff|."""
    reference, candidate = sigmoid(reference_logits), sigmoid(candidate_logits)
    ref_fg, cand_fg = reference > 0.5, candidate > 0.5
    union = np.count_nonzero(ref_fg | cand_fg)
    iou = np.count_nonzero(ref_fg & cand_fg) / union if union else 1.0
    return Agreement(float(iou), float(np.abs(reference - candidate).mean()),
                     float(np.abs(reference_logits.astype(np.float64) - candidate_logits).max()))


def _sweep(size: int) -> np.ndarray:
    """A white studio sweep (float32 RGB) with a soft elliptical floor shadow."""
    scale = size / 1024
    ramp = np.linspace(238, 252, size, dtype=np.float32)[:, None, None]
    photo = np.repeat(np.repeat(ramp, size, axis=1), 3, axis=2)
    shadow = np.zeros((size, size), np.float32)
    cv2.ellipse(shadow, (size // 2, int(800 * scale)), (int(330 * scale), int(40 * scale)), 0, 0, 360, 1.0, -1)
    return photo * (1.0 - 0.25 * cv2.GaussianBlur(shadow, (0, 0), 25 * scale)[..., None])


@cache
def studio_photo(size: int, product: str) -> np.ndarray:
    """A deterministic studio shot at size x size: a dark camera body with a lens and a near-white part, or a
    near-white box on the white sweep (the hard case for reduced precision), with sensor noise."""
    scale = size / 1024
    photo = _sweep(size)
    body = (np.array([[230, 330], [790, 330], [790, 790], [230, 790]]) * scale).astype(np.int32)
    if product == "camera":
        cv2.fillPoly(photo, [body], (38, 40, 44), cv2.LINE_AA)
        cv2.circle(photo, (size // 2, int(560 * scale)), int(170 * scale), (90, 92, 98), -1, cv2.LINE_AA)
        cv2.rectangle(photo, (int(600 * scale), int(250 * scale)), (int(760 * scale), int(330 * scale)),
                      (232, 233, 236), -1, cv2.LINE_AA)
    else:
        side = (np.array([[790, 330], [880, 280], [880, 740], [790, 790]]) * scale).astype(np.int32)
        cv2.fillPoly(photo, [body], (229, 230, 233), cv2.LINE_AA)
        cv2.fillPoly(photo, [side], (214, 215, 219), cv2.LINE_AA)
    photo += np.random.default_rng(GUARD_SEED).normal(0, 2.0, photo.shape).astype(np.float32)
    return np.clip(photo, 0, 255).astype(np.uint8)


def guard_batch(metadata: ModelMetadata) -> np.ndarray:
    """The normalised inputs the guard compares backends on: realistic studio photos at the model's size."""
    size = metadata.input_size
    return to_tensor([studio_photo(size, product) for product in GUARD_PRODUCTS], size, metadata.mean, metadata.std)


def worst_agreement(reference_logits: np.ndarray, candidate_logits: np.ndarray) -> Agreement:
    """The per-image agreement of a batch that is furthest from passing (lowest IoU among the failing, if any)."""
    verdicts = [agreement(reference, candidate) for reference, candidate in zip(reference_logits, candidate_logits)]
    return min(verdicts, key=lambda verdict: (verdict.ok, verdict.iou))
