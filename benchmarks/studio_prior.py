"""A BiRefNet-lite-cost network whose mask is product-shaped, for timing the stages after the model.

Random weights give blob masks with edges everywhere, which makes refinement and decontamination do many times the
work a real product silhouette needs (measured: about 50 s instead of about 1 s per 4000 px photo). This wrapper keeps
the random network's whole computation but makes its logits STUDIO_GAIN * (STUDIO_THRESHOLD - sum of normalised RGB)
plus RANDOM_SHARE of the random logits: dark and coloured pixels are foreground, studio white and light floor shadow
are not (the rule of tests/tiny_model.py). The accuracy comparison never uses it: there the plain random network is
compared, because this prior would hide reduced-precision errors behind its large margins.
"""

from __future__ import annotations

from torch import Tensor, nn

STUDIO_GAIN = 8.0
STUDIO_THRESHOLD = 3.5
RANDOM_SHARE = 0.05


class StudioPrior(nn.Module):
    """net's logits, scaled down, plus the colour rule above."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the same shape as net's."""
        return self.net(x) * RANDOM_SHARE + STUDIO_GAIN * (STUDIO_THRESHOLD - x.sum(dim=1, keepdim=True))
