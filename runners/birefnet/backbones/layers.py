"""Small layers shared by the transformer backbones (timm-style helpers, written locally)."""

from __future__ import annotations

from torch import Tensor, nn


class DropPath(nn.Module):
    """Stochastic depth: drop whole residual branches per sample during training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        """Zero the branch for a random subset of samples and rescale the rest."""
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        """Show the drop probability in repr()."""
        return f"drop_prob={self.drop_prob}"


def drop_path_rates(rate: float, depths: tuple[int, ...]) -> list[list[float]]:
    """Linearly increasing stochastic-depth rates, split per stage."""
    total = sum(depths)
    rates = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    out, start = [], 0
    for depth in depths:
        out.append(rates[start : start + depth])
        start += depth
    return out


def tokens_to_map(tokens: Tensor, hw: tuple[int, int]) -> Tensor:
    """[B, H*W, C] tokens -> [B, C, H, W] feature map."""
    return tokens.transpose(1, 2).unflatten(2, hw)
