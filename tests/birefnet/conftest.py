"""Shared helpers for the BiRefNet tests: tiny configs and deterministic random weights."""

from __future__ import annotations

import pytest
import torch

from runners.birefnet import VARIANTS, BiRefNet, BiRefNetConfig

# One reduced config per backbone family, small enough for CPU tests (64x64 input, quarter widths, depth <= 2).
TINY = {
    "swin": VARIANTS["lite"].scaled(64, width_div=4, max_depth=2),
    "pvt_v2": VARIANTS["pvt_v2_b0"].scaled(64, width_div=4, max_depth=2),
}


def randomize(model: BiRefNet, seed: int = 0) -> BiRefNet:
    """Fill every float tensor with seeded noise so deformable offsets and BN statistics are non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith("running_var"):
                tensor.copy_(noise.abs() + 0.5)
            elif tensor.ndim > 1:
                tensor.copy_(noise * 0.5 / tensor[0].numel() ** 0.5)
            else:
                tensor.copy_(noise * 0.1)
    return model


def calibrate_norms(model: BiRefNet, seed: int = 0, batches: int = 4) -> BiRefNet:
    """Set every BatchNorm's running statistics from a few random batches (the model's mode is kept).

    randomize's statistics drown the input: deep features then hardly differ between images, and a graph that mixed
    up the images of a batch would still match PyTorch. Calibrated, each image's features are its own.
    """
    norms = [module for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    was_training = model.training
    gen = torch.Generator().manual_seed(seed)
    size = model.config.size
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(2, 3, size, size, generator=gen))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return model.train(was_training)


@pytest.fixture(params=sorted(TINY), ids=sorted(TINY))
def tiny_config(request: pytest.FixtureRequest) -> BiRefNetConfig:
    """A reduced config for each backbone family."""
    return TINY[request.param]
