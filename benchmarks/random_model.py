"""BiRefNet of a given variant with seeded random weights, calibrated so that its masks mean something.

Deformable offsets get small random weights (so sampling really deforms) and the last conv is rescaled so that the
logits on the given photo spread over +-LOGIT_SPREAD with FOREGROUND_SHARE of the pixels above 0: the masks are
blobs, not products, but they are not all-background, so IoU and alpha differences mean something. Timing does not
depend on weight values. Needs only torch (no BentoML), so `benchmarks.gpu` runs on a bare GPU machine.
"""

from __future__ import annotations

import torch

from runners.birefnet import VARIANTS, BiRefNet, DeformableConv2d

OFFSET_STD = 0.01
LOGIT_SPREAD = 4.0
FOREGROUND_SHARE = 0.25


def random_birefnet(variant: str, photo: torch.Tensor, seed: int = 0, device: str | torch.device = "cpu") -> BiRefNet:
    """The calibrated random model on `device` (eval mode); `photo` is one normalised 1 x 3 x S x S image."""
    torch.manual_seed(seed)
    model = BiRefNet(VARIANTS[variant]).eval().to(device)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DeformableConv2d):
                module.offset_conv.weight.normal_(0, OFFSET_STD)
        logits = model(photo.to(device)).float()
        threshold = torch.quantile(logits.flatten()[::7], 1 - FOREGROUND_SHARE)
        gain = LOGIT_SPREAD / logits.std()
        last = model.decoder.conv_out1[0]
        last.weight.mul_(gain)
        last.bias.sub_(threshold).mul_(gain)
    return model
