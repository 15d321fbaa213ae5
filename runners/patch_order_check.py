"""`--patch-order auto`: tell which patch order a BiRefNet checkpoint was trained with, or refuse to guess.

Two independent checks, each decisive only with a clear margin:

- images: the model runs in both orders on the bundled calibration images; the right order gives masks closer to the
  generated scenes' exact alpha, more confident, and more consistent under a mirror flip;
- weights: the image-prompt convs' weights are smooth over neighbouring patch pixels and colours only when their
  input channels are read in the order they were trained in (`prompt_coherence`).

A decisive check decides unless the other decisively disagrees; with no decisive check the import is refused and the
message says which flag to pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from runners.birefnet import IMAGENET_MEAN, IMAGENET_STD, BiRefNet
from runners.birefnet.patch_order import PATCH_ORDERS, PatchOrder, convert_patch_order, prompt_coherence
from runners.calibration import calibration_images
from runners.preprocess import to_tensor

CALIBRATION_SIZE = 512  # px; the model's own size when smaller (a 1024 px model runs the check 4x cheaper)
IMAGE_MARGIN = 0.10  # the better order's score must be at least this much lower (relative) ...
IMAGE_AGREEMENT = 0.8  # ... and lower on at least this share of the images
USABLE_ERROR = 0.15  # mean |mask - truth| on the scenes above which the model cuts out nothing: no image evidence
WEIGHT_FLOOR = 0.10  # the better order's prompt coherence must reach this ...
WEIGHT_MARGIN = 0.05  # ... and beat the other order's by this much
FLAG_ADVICE = ("pass --patch-order old for weights trained before BiRefNet commit 5198d3f of 2024-11-05 (the released "
               "general epoch_244 and lite-2K epoch_232 .pth files), --patch-order new for later ones and this "
               "project's own")


def _other(order: PatchOrder) -> PatchOrder:
    """The order that is not `order`."""
    return "new" if order == "old" else "old"


@dataclass(frozen=True)
class ImageEvidence:
    """Per order: the mean per-image score (mask error on the scenes + flip disagreement + uncertainty; lower is
    better), the scenes' mask error alone, and on how many images the order scored lower."""

    size: int
    images: int
    score: dict[str, float]
    scene_error: dict[str, float]
    wins: dict[str, int]

    @property
    def preferred(self) -> PatchOrder:
        """The order with the lower mean score."""
        return min(PATCH_ORDERS, key=lambda order: self.score[order])

    @property
    def gain(self) -> float:
        """How much lower the preferred order's score is, relative to the other's."""
        worse = self.score[_other(self.preferred)]
        return (worse - self.score[self.preferred]) / worse if worse > 0 else 0.0

    @property
    def decisive(self) -> bool:
        """The model cuts out the scenes in the preferred order, which wins by the margin on most images."""
        best = self.preferred
        return (self.scene_error[best] <= USABLE_ERROR and self.gain >= IMAGE_MARGIN
                and self.wins[best] >= IMAGE_AGREEMENT * self.images)

    def describe(self) -> str:
        """The evidence in one line."""
        best = self.preferred
        verdict = "decisive" if self.decisive else "weak"
        return (f"images ({self.images} at {self.size} px): score old {self.score['old']:.4f} vs new "
                f"{self.score['new']:.4f}, {best} {self.gain:.0%} lower and lower on {self.wins[best]}/{self.images}, "
                f"scene error {self.scene_error[best]:.3f} [{verdict}]")


@dataclass(frozen=True)
class WeightEvidence:
    """Per order: the image-prompt weights' neighbour coherence."""

    coherence: dict[str, float]

    @property
    def preferred(self) -> PatchOrder:
        """The order with the higher coherence."""
        return max(PATCH_ORDERS, key=lambda order: self.coherence[order])

    @property
    def decisive(self) -> bool:
        """The preferred order's weights are clearly structured and clearly more so than the other's."""
        best, other = self.coherence[self.preferred], self.coherence[_other(self.preferred)]
        return best >= WEIGHT_FLOOR and best - other >= WEIGHT_MARGIN

    def describe(self) -> str:
        """The evidence in one line."""
        verdict = "decisive" if self.decisive else "weak"
        return (f"weights: prompt coherence old {self.coherence['old']:.3f} vs new {self.coherence['new']:.3f} "
                f"[{verdict}]")


@dataclass(frozen=True)
class PatchOrderDecision:
    """The order a checkpoint's weights expect, and how that was decided."""

    order: PatchOrder
    decided_by: str
    images: ImageEvidence | None = None
    weights: WeightEvidence | None = None

    @property
    def evidence(self) -> list[str]:
        """One line per check that ran."""
        return [evidence.describe() for evidence in (self.images, self.weights) if evidence is not None]

    def record(self) -> dict:
        """What the store version's metadata keeps: how it was decided, the evidence in words and in numbers."""
        numbers = {key: value for key, value in asdict(self).items() if key in ("images", "weights") and value}
        return {"decided_by": self.decided_by, "evidence": self.evidence, **numbers}


class PatchOrderUndecided(ValueError):
    """The evidence does not say which order the weights expect."""


def _scores(model: BiRefNet, size: int) -> tuple[list[float], list[float]]:
    """Per calibration image: the score (see ImageEvidence) and, for scenes, the mask error alone."""
    scores, errors = [], []
    for item in calibration_images():
        x = torch.from_numpy(to_tensor([item.image], size, IMAGENET_MEAN, IMAGENET_STD))
        with torch.inference_mode():
            masks = torch.sigmoid(model(torch.cat((x, x.flip(-1)))))[:, 0]
        mask, mirrored = masks[0].numpy(), masks[1].flip(-1).numpy()
        score = float(np.abs(mask - mirrored).mean() + np.minimum(mask, 1.0 - mask).mean())
        if item.truth is not None:
            truth = torch.from_numpy(item.truth)[None, None]
            truth = torch.nn.functional.interpolate(truth, size=(size, size), mode="area")[0, 0].numpy()
            error = float(np.abs(mask - truth).mean())
            errors.append(error)
            score += error
        scores.append(score)
    return scores, errors


def image_evidence(model: BiRefNet, state: Mapping[str, Tensor], size: int) -> ImageEvidence:
    """Run the model on the calibration images once with the weights read in each order (state is in 'new' terms
    when the weights are taken as new order, as loaded)."""
    size = min(size, CALIBRATION_SIZE)
    per_order = {}
    try:
        for order in PATCH_ORDERS:  # assign: the model's tensors may be state's own, which must stay as they are
            model.load_state_dict(convert_patch_order(state, order), strict=True, assign=True)
            per_order[order] = _scores(model, size)
    finally:
        model.load_state_dict(dict(state), strict=True, assign=True)
    scores = {order: np.asarray(per_order[order][0]) for order in PATCH_ORDERS}
    return ImageEvidence(
        size=size,
        images=len(scores["new"]),
        score={order: float(values.mean()) for order, values in scores.items()},
        scene_error={order: float(np.mean(per_order[order][1])) if per_order[order][1] else 1.0
                     for order in PATCH_ORDERS},
        wins={order: int((scores[order] < scores[_other(order)]).sum()) for order in PATCH_ORDERS},
    )


def weight_evidence(state: Mapping[str, Tensor]) -> WeightEvidence:
    """The prompt coherence of the weights read in each order."""
    return WeightEvidence({order: prompt_coherence(state, order) for order in PATCH_ORDERS})


def detect_patch_order(model: BiRefNet, state: Mapping[str, Tensor], size: int) -> PatchOrderDecision:
    """Decide the order of `state` (as loaded into `model`, which is left with those weights) or raise
    PatchOrderUndecided with the evidence and the flag to pass."""
    images, weights = image_evidence(model, state, size), weight_evidence(state)
    decisive = {name: evidence for name, evidence in (("images", images), ("weights", weights)) if evidence.decisive}
    votes = {evidence.preferred for evidence in decisive.values()}
    if len(votes) == 1:
        return PatchOrderDecision(votes.pop(), "auto: " + " and ".join(decisive), images, weights)
    problem = "the checks disagree" if votes else "the evidence is weak"
    raise PatchOrderUndecided(f"cannot tell the checkpoint's patch order, {problem} ({images.describe()}; "
                              f"{weights.describe()}); {FLAG_ADVICE}")
