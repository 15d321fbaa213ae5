"""BiRefNet's training losses: pixel losses (BCE, IoU, SSIM, MAE) on the final and side outputs (multi-scale
supervision) plus BCE on the gradient-attention heads, as the official training combines them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from runners.birefnet import BiRefNetOutput
from runners.birefnet.ops import resize

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


@dataclass(frozen=True)
class LossWeights:
    """Weights of the pixel losses (official defaults: BCE 30, IoU 0.5, SSIM 10) and of the gradient heads."""

    bce: float = 30.0
    iou: float = 0.5
    ssim: float = 10.0
    mae: float = 0.0
    gdt: float = 1.0

    def iou_only(self) -> LossWeights:
        """The weights of the final epochs when only the region overlap is optimised."""
        return replace(self, bce=0.0, ssim=0.0, mae=0.0, gdt=0.0)


def iou_loss(prob: Tensor, target: Tensor) -> Tensor:
    """1 - soft IoU per image, averaged over the batch."""
    inter = (prob * target).flatten(1).sum(1)
    union = (prob + target).flatten(1).sum(1) - inter
    return (1.0 - inter / union.clamp_min(1e-6)).mean()


def _gaussian_kernel(device: torch.device) -> Tensor:
    """1-D normalised Gaussian taps of the SSIM window."""
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def ssim_loss(prob: Tensor, target: Tensor) -> Tensor:
    """1 - mean structural similarity with an 11x11 Gaussian window (separable, all five moments at once)."""
    g = _gaussian_kernel(prob.device)
    moments = torch.cat((prob, target, prob * prob, target * target, prob * target), dim=1)
    pad = SSIM_WINDOW // 2
    blurred = F.conv2d(moments, g.view(1, 1, -1, 1).expand(5, 1, -1, 1), padding=(pad, 0), groups=5)
    blurred = F.conv2d(blurred, g.view(1, 1, 1, -1).expand(5, 1, 1, -1), padding=(0, pad), groups=5)
    mu_p, mu_t, pp, tt, pt = blurred.unbind(dim=1)
    var_p, var_t, cov = pp - mu_p**2, tt - mu_t**2, pt - mu_p * mu_t
    ssim = ((2 * mu_p * mu_t + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_p**2 + mu_t**2 + SSIM_C1) * (var_p + var_t + SSIM_C2)
    )
    return 1.0 - ssim.mean()


def pixel_loss(logits: Tensor, target: Tensor, weights: LossWeights) -> dict[str, Tensor]:
    """Weighted pixel losses of one output, resized to the target first (as the official PixLoss does)."""
    if logits.shape[-2:] != target.shape[-2:]:
        logits = resize(logits, target.shape[-2:])
    logits = logits.float()
    prob = torch.sigmoid(logits)
    parts = {}
    if weights.bce:
        parts["bce"] = weights.bce * F.binary_cross_entropy_with_logits(logits, target)
    if weights.iou:
        parts["iou"] = weights.iou * iou_loss(prob, target)
    if weights.ssim:
        parts["ssim"] = weights.ssim * ssim_loss(prob, target)
    if weights.mae:
        parts["mae"] = weights.mae * (prob - target).abs().mean()
    return parts


def gradient_loss(output: BiRefNetOutput) -> Tensor:
    """BCE between the gradient-attention predictions and their labels (image edges gated by side outputs)."""
    total = torch.zeros((), device=output.logits.device)
    for pred, label in zip(output.gdt_preds, output.gdt_labels):
        pred = resize(pred, label.shape[-2:]).float()
        total = total + F.binary_cross_entropy_with_logits(pred, torch.sigmoid(label.detach().float()))
    return total


def birefnet_loss(output: BiRefNetOutput, target: Tensor, weights: LossWeights) -> tuple[Tensor, dict[str, float]]:
    """Total loss over the final and side outputs plus the gradient heads, with a per-part breakdown."""
    parts: dict[str, Tensor] = {}
    for logits in (*output.side_logits, output.logits):
        for name, value in pixel_loss(logits, target, weights).items():
            parts[name] = parts.get(name, 0.0) + value
    if weights.gdt and output.gdt_preds:
        parts["gdt"] = weights.gdt * gradient_loss(output)
    total = sum(parts.values(), torch.zeros((), device=target.device))
    return total, {name: float(value.detach()) for name, value in parts.items()}
