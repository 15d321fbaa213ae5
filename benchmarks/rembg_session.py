"""rembg on our ONNX file, offline: its BiRefNet-lite session class with the download replaced by a local path.

rembg's `BiRefNetSessionGeneralLite` runs a BiRefNet ONNX export with rembg's own pre/post-processing (LANCZOS
resize to 1024, divide by the image maximum, ImageNet normalisation, sigmoid of output 0, min-max stretch,
LANCZOS resize back). Only `download_models` is overridden, to return our file, so nothing is fetched.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def local_session(onnx_path: Path):  # noqa: ANN201 (rembg is an optional dependency)
    """A rembg BiRefNet-lite session over onnx_path, with rembg's default ONNX Runtime options."""
    from rembg.sessions.birefnet_general_lite import BiRefNetSessionGeneralLite

    class LocalBiRefNetLite(BiRefNetSessionGeneralLite):
        """rembg's BiRefNet-lite session reading our model instead of downloading one."""

        @classmethod
        def download_models(cls, *args: object, **kwargs: object) -> str:
            return str(onnx_path)

    return LocalBiRefNetLite("birefnet-general-lite", ort.SessionOptions(), providers=["CPUExecutionProvider"])
