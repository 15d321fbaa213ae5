"""Architecture specs like 'pvt_v2_b0@256/w4': an official variant at an input size, optionally narrowed and made
shallower (the bundled default model and test models are such scaled variants)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import VARIANTS, BiRefNetConfig

SPEC = re.compile(r"^(?P<variant>[a-z0-9_]+)(?:@(?P<size>\d+))?(?:/w(?P<width>\d+))?(?:/d(?P<depth>\d+))?$")


@dataclass(frozen=True)
class Architecture:
    """A parsed spec: official variant, default input size, width divisor and depth cap."""

    variant: str
    size: int
    width_div: int = 1
    max_depth: int | None = None

    @property
    def spec(self) -> str:
        """The canonical spec string (recorded as the store version's variant)."""
        text = f"{self.variant}@{self.size}"
        if self.width_div != 1:
            text += f"/w{self.width_div}"
        if self.max_depth is not None:
            text += f"/d{self.max_depth}"
        return text

    def config(self) -> BiRefNetConfig:
        """The BiRefNet configuration it describes."""
        return VARIANTS[self.variant].scaled(self.size, self.width_div, self.max_depth)


def parse_spec(spec: str, size: int | None = None) -> Architecture:
    """'VARIANT[@SIZE][/wDIV][/dDEPTH]' (e.g. 'pvt_v2_b0@256/w4/d1'); size overrides the spec's size."""
    match = SPEC.match(spec.strip())
    if match is None or match["variant"] not in VARIANTS:
        raise ValueError(f"architecture {spec!r} is not VARIANT[@SIZE][/wDIV][/dDEPTH] with a variant in "
                         f"{', '.join(sorted(VARIANTS))}")
    chosen = size or int(match["size"] or VARIANTS[match["variant"]].size)
    depth = int(match["depth"]) if match["depth"] else None
    architecture = Architecture(match["variant"], chosen, int(match["width"] or 1), depth)
    architecture.config()
    return architecture
