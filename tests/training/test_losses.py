"""BiRefNet's training losses: zero for a perfect answer, every head supervised, IoU-only for the last epochs."""

from __future__ import annotations

import torch

from runners.birefnet import BiRefNet
from training.losses import LossWeights, birefnet_loss, iou_loss, ssim_loss
from training.models import parse_spec


def test_region_and_structure_losses_vanish_only_for_the_truth() -> None:
    truth = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    assert iou_loss(truth, truth) < 1e-6 and ssim_loss(truth, truth) < 1e-4
    assert iou_loss(1 - truth, truth) > 0.99 and ssim_loss(1 - truth, truth) > 0.5


def test_training_loss_supervises_side_outputs_and_gradient_heads() -> None:
    torch.manual_seed(0)
    model = BiRefNet(parse_spec("pvt_v2_b0@64/w4/d1").config()).train()
    output = model(torch.randn(2, 3, 64, 64))
    target = (torch.rand(2, 1, 64, 64) > 0.5).float()
    total, parts = birefnet_loss(output, target, LossWeights())
    assert set(parts) == {"bce", "iou", "ssim", "gdt"} and len(output.side_logits) == 3
    total.backward()
    side_head = model.decoder.conv_ms_spvn_4.weight.grad
    gradient_head = model.decoder.gdt_convs_pred_4[0].weight.grad
    assert side_head is not None and side_head.abs().sum() > 0, "side outputs are supervised"
    assert gradient_head is not None and gradient_head.abs().sum() > 0, "gradient heads are supervised"
    _, final = birefnet_loss(output, target, LossWeights().iou_only())
    assert set(final) == {"iou"}
