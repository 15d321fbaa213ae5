"""The bundled default model (runners/default_model/): registered when the store is empty, so a fresh install
serves cut-outs offline."""

from __future__ import annotations

import os
from pathlib import Path

from runners import importer, store

BUNDLED_DEFAULT = Path(__file__).parent / "default_model" / "model.onnx"
BUNDLED_DEFAULT_ENV = "CUTOUT_DEFAULT_MODEL"
BUNDLED_VARIANT = "studio-default"


def ensure_served() -> str:
    """Make sure a servable version is promoted: the promoted one, else the newest stored one, else the bundled
    default (imported); says which. A StoreError with what to import when there is none of them."""
    if (tag := store.current_tag()) is not None:
        return f"serving {tag}"
    if stored := store.versions():
        return f"serving {store.promote(str(stored[-1].tag))} (newest stored version)"
    bundled = Path(os.environ.get(BUNDLED_DEFAULT_ENV, BUNDLED_DEFAULT))
    if bundled.is_file():
        tag = importer.import_model(str(bundled), variant=BUNDLED_VARIANT, promote=True)
        return f"serving {tag} (bundled default model)"
    raise store.StoreError(
        f"no {store.MODEL_NAME} model in the store at {store.store_home()} and no bundled default at {bundled}. "
        "Import one:\n"
        "  cutout models import /path/to/BiRefNet_lite-general-2K-epoch_232.onnx --promote\n"
        "  cutout models import https://.../model.onnx --promote   (needs network)\n"
        "See README.md, 'Importing BiRefNet weights'."
    )
