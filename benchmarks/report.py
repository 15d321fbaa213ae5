"""Markdown tables for the benchmark's output (printed, and saved beside the raw JSON)."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table; floats get 3 significant decimals, None is shown as an en dash."""

    def cell(value: object) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(numerator: float | None, denominator: float | None) -> str | None:
    """numerator / denominator as `2.41x`, or None when either is missing."""
    if not numerator or not denominator:
        return None
    return f"{numerator / denominator:.2f}x"
