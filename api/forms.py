"""Form fields as text: BentoML JSON-decodes every multipart value, so `text=2024` or `background=123456`
would arrive as numbers and `shadow=true` as a bool. These types turn them back into the text that was sent."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BeforeValidator


def as_text(value: object) -> object:
    """A JSON-decoded scalar back to its JSON text (True -> 'true', 0.1 -> '0.1'); strings and None unchanged."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return value


FormText = Annotated[str, BeforeValidator(as_text)]
