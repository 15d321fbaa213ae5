"""The whole per-image pipeline: decode, segment, refine, compose, brand, encode. The model call is injected, so
the API service (runner over HTTP), the PhotoRoom routes and `cutout batch` (local ONNX) share it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from starlette.responses import Response

from api.codecs import MEDIA_TYPES, DecodedImage, decode_image, encode_image
from api.metrics import timed
from api.recipe import Recipe, customised
from postprocess import pipeline
from postprocess.blend import alpha_plane
from postprocess.confidence import cutout_confidence
from postprocess.params import BrandingParams, parse_size
from postprocess.resample import resize

Segment = Callable[[list[np.ndarray]], list[np.ndarray]]
ModelInfo = Callable[[], dict]
Placer = Callable[[np.ndarray], dict[str, object] | None]  # alpha -> layout fields, or None for the plain cut-out


CONFIDENCE_HEADER = "X-Cutout-Confidence"


@dataclass(frozen=True)
class Rendered:
    """An encoded result, the model version that made it, how sure the model was of the cut-out (None when no
    model ran), and where the time went."""

    body: bytes
    media_type: str
    model_tag: str
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None

    def headers(self) -> dict[str, str]:
        """The model version, the cut-out's confidence, and the stage timings as a Server-Timing header (ms)."""
        timing = ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in self.timings.items())
        headers = {"X-Model-Tag": self.model_tag, "Server-Timing": timing}
        if self.confidence is not None:
            headers[CONFIDENCE_HEADER] = f"{self.confidence:.3f}"
        return headers


def image_response(rendered: Rendered, headers: dict[str, str] | None = None) -> Response:
    """The encoded image as an HTTP response with the model version, confidence and stage timings in headers
    (or the given ones)."""
    return Response(rendered.body, media_type=rendered.media_type, headers=headers or rendered.headers())


def model_view(image: np.ndarray, input_size: int) -> np.ndarray:
    """The image shrunk so its long side is the model's input size: all the model needs, and cheap to send."""
    height, width = image.shape[:2]
    scale = input_size / max(height, width)
    if scale >= 1:
        return image
    return resize(image, max(1, round(width * scale)), max(1, round(height * scale)))


def hide_background(rgba: np.ndarray) -> np.ndarray:
    """Zero the colour of fully transparent pixels (the removed background must not survive invisibly);
    one OpenCV mask-and instead of boolean indexing, which is slow on 16 megapixels."""
    visible = cv2.compare(alpha_plane(rgba), 0, cv2.CMP_GT)
    return cv2.bitwise_and(rgba, cv2.merge([visible, visible, visible, np.full_like(visible, 255)]))


def decode_side(recipe: Recipe, input_size: int) -> int | None:
    """How many pixels a JPEG must keep on its short side: twice the output's long side (the product may fill
    only half the frame), never less than the model input; None (full resolution) without a fixed output size."""
    if recipe.layout is None or recipe.layout.size is None:
        return None
    return max(max(parse_size(recipe.layout.size)) * 2, input_size)


class Processor:
    """Runs recipes on encoded images with an injected model."""

    def __init__(self, segment: Segment, model_info: ModelInfo, max_pixels: int) -> None:
        self.segment = segment
        self.model_info = model_info
        self.max_pixels = max_pixels

    def decode(self, data: bytes, endpoint: str, timings: dict[str, float], min_side: int | None) -> DecodedImage:
        with timed("decode", endpoint, timings):
            return decode_image(data, self.max_pixels, min_side)

    def cutout(self, data: bytes, recipe: Recipe, endpoint: str, timings: dict[str, float],
               full_frame: bool) -> tuple[np.ndarray, str, float]:
        """The RGBA cut-out, the model tag that made it and the model's confidence in its mask: refined on the
        subject's window (postprocess.window), returned in the whole decoded frame if `full_frame`, else as that
        window."""
        info = self.model_info()
        input_size = int(info["metadata"]["input_size"])
        decoded = self.decode(data, endpoint, timings, decode_side(recipe, input_size))
        with timed("model", endpoint, timings):
            view = model_view(decoded.rgb, input_size)
            mask = self.segment([view])[0]
            confidence = cutout_confidence(mask)
        height, width = decoded.rgb.shape[:2]
        with timed("postprocess", endpoint, timings):
            rgba, window = pipeline.windowed_cutout(decoded.rgb, mask, recipe.mask, recipe.layout, recipe.shadow, view)
            if decoded.alpha is not None:
                rgba[..., 3] = (rgba[..., 3] * window.crop(decoded.alpha)).round().astype(np.uint8)
            if full_frame:
                rgba = window.paste(rgba, width, height)
        return rgba, info["tag"], confidence

    def encode(self, pixels: np.ndarray, recipe: Recipe, tag: str, endpoint: str,
               timings: dict[str, float], confidence: float | None = None) -> Rendered:
        with timed("encode", endpoint, timings):
            body = encode_image(pixels, recipe.format, recipe.quality, recipe.dpi)
        return Rendered(body, MEDIA_TYPES[recipe.format], tag, timings, confidence)

    def render(self, data: bytes, recipe: Recipe, endpoint: str, place: Placer | None = None) -> Rendered:
        """The full recipe on one encoded image; `place` picks the layout from the cut-out's alpha when the layout
        depends on the subject (PhotoRoom's output sizes and insets do)."""
        timings: dict[str, float] = {}
        full_frame = recipe.layout is None or place is not None
        rgba, tag, confidence = self.cutout(data, recipe, endpoint, timings, full_frame)
        if place is not None:
            layout = place(alpha_plane(rgba))
            recipe = customised(recipe, layout=layout) if layout else recipe.model_copy(update={"layout": None})
        with timed("compose", endpoint, timings):
            if recipe.layout is None:
                result = hide_background(rgba)
            else:
                result = pipeline.compose(rgba, recipe.layout, recipe.shadow)
            if recipe.branding is not None:
                result = pipeline.render_template(result, recipe.branding)
        if recipe.channels == "alpha":
            result = alpha_plane(result)
        return self.encode(result, recipe, tag, endpoint, timings, confidence)

    def brand(self, data: bytes, branding: BrandingParams, recipe: Recipe, endpoint: str) -> Rendered:
        """Only the branding bar over the image as it is: no model."""
        timings: dict[str, float] = {}
        decoded = self.decode(data, endpoint, timings, None)
        with timed("compose", endpoint, timings):
            result = pipeline.render_template(decoded.rgb, branding)
        return self.encode(result, recipe, "none", endpoint, timings)
