"""The HTTP API: a thin BentoML service that decodes uploads, asks the BiRefNet runner for a mask,
and turns it into shop images with the pure functions of `postprocess/`.

Run: `bentoml serve service:CutoutService --port 8100` (or `make serve`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import aiohttp
import bentoml
import numpy as np
from bentoml.validators import ContentType
from pydantic import Field
from starlette.responses import Response

from api.access_log import AccessLog
from api.auth import ApiKeyAuth
from api.body_limit import BodyLimit
from api.codecs import MEDIA_TYPES, DecodedImage, OutputFormat, decode_image, encode_image
from api.errors import ApiError, json_errors
from api.forms import FormText
from api.health import HealthEndpoint, process_stats
from api.metrics import timed
from api.uploads import refuse_url_uploads
from postprocess import pipeline
from postprocess.params import BrandingParams, LayoutParams, MaskParams, ShadowParams, parse_size
from runners.model_service import SETTINGS, BiRefNetRunner
from runners.preprocess import resize_to

refuse_url_uploads()
T = TypeVar("T")
ImageFile = Annotated[Path, ContentType("image/*")]
PngFile = Annotated[Path, ContentType("image/png")]
Quality = Annotated[int, Field(ge=1, le=100, description="JPEG/WebP quality")]
SHADOW_FLAGS = {"true": "drop", "1": "drop", "yes": "drop", "false": "none", "0": "none", "no": "none"}
MODEL_INFO_TTL_S = 5.0
RUNNER_ATTEMPTS = 3


def transient(exc: Exception) -> bool:
    """A connection-level failure worth one more try: BentoML's internal client closes its pooled session every
    100 requests even while other calls use it (bentoml/BentoML#4971), and a crashed runner is restarted."""
    return isinstance(exc, aiohttp.ClientConnectionError) or (isinstance(exc, RuntimeError) and "closed" in str(exc))


def call_runner(method: Callable[..., T], *args: object) -> T:
    """Call the runner; transient failures are retried, anything else is a JSON 503."""
    for attempt in itertools.count(1):
        try:
            return method(*args)
        except Exception as exc:
            if transient(exc) and attempt < RUNNER_ATTEMPTS:
                time.sleep(0.2 * attempt)
                continue
            raise ApiError(503, f"the model runner failed: {exc}") from exc


def shadow_params(shadow: str) -> ShadowParams:
    """The seed's `shadow=true|false`, or a shadow mode name (drop, natural, none)."""
    return ShadowParams(mode=SHADOW_FLAGS.get(shadow.strip().lower(), shadow.strip().lower()))


def branding_params(template: str | None, text: str | None, position: str | None, bar_color: str | None,
                    text_color: str | None) -> BrandingParams:
    """A named template, with any explicitly given field overriding it."""
    try:
        base = pipeline.load_template(template) if template else BrandingParams()
    except KeyError as exc:
        raise ApiError(404, str(exc.args[0])) from exc
    overrides = {"text": text, "position": position, "bar_color": bar_color, "text_color": text_color}
    return BrandingParams.model_validate({**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}})


def model_view(image: np.ndarray, input_size: int) -> np.ndarray:
    """The image shrunk so its long side is the model's input size: all the runner needs, and cheap to send."""
    height, width = image.shape[:2]
    scale = input_size / max(height, width)
    if scale >= 1:
        return image
    return resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))


def image_response(pixels: np.ndarray, fmt: OutputFormat, quality: int, tag: str, timings: dict[str, float],
                   endpoint: str) -> Response:
    """Encode the result and report the model version and stage timings in headers."""
    with timed("encode", endpoint, timings):
        body = encode_image(pixels, fmt, quality)
    server_timing = ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in timings.items())
    return Response(body, media_type=MEDIA_TYPES[fmt], headers={"X-Model-Tag": tag, "Server-Timing": server_timing})


@bentoml.service(
    name="cutout",
    http={"port": 8100},
    threads=SETTINGS.api_threads,
    traffic={"timeout": SETTINGS.request_timeout_s, "max_concurrency": SETTINGS.max_concurrency},
)
class CutoutService:
    """Background removal, shop layout and branding over the BiRefNet runner."""

    runner = bentoml.depends(BiRefNetRunner)

    def __init__(self) -> None:
        self.started = time.time()
        self._model_info: dict = {}
        self._model_info_at = 0.0

    def model_info(self) -> dict:
        """The runner's served tag and metadata, cached for a few seconds (it changes only on promotion)."""
        if time.monotonic() - self._model_info_at > MODEL_INFO_TTL_S:
            self._model_info = call_runner(self.runner.info)
            self._model_info_at = time.monotonic()
        return self._model_info

    def health(self) -> dict:
        """Status, served model, uptime and this process's memory and CPU."""
        try:
            model = self.model_info()
            status = "ok"
        except ApiError as exc:
            model, status = {"error": exc.message}, "degraded"
        return {"status": status, "model": model, "uptime_s": round(time.time() - self.started, 1), **process_stats()}

    def _decode(self, image: Path, endpoint: str, timings: dict[str, float], min_side: int | None) -> DecodedImage:
        with timed("decode", endpoint, timings):
            return decode_image(image.read_bytes(), SETTINGS.max_megapixels * 1_000_000, min_side)

    def _cutout(self, image: Path, endpoint: str, timings: dict[str, float],
                output_size: str | None = None) -> tuple[np.ndarray, str]:
        """Decode, segment and refine: the RGBA cut-out at the decoded resolution, and the model tag used."""
        info = self.model_info()
        input_size = int(info["metadata"]["input_size"])
        min_side = max(max(parse_size(output_size)) * 2, input_size) if output_size else None
        decoded = self._decode(image, endpoint, timings, min_side)
        with timed("model", endpoint, timings):
            mask = call_runner(self.runner.segment, [model_view(decoded.rgb, input_size)])[0]
        with timed("postprocess", endpoint, timings):
            rgba = pipeline.cutout(decoded.rgb, mask, MaskParams())
            if decoded.alpha is not None:
                rgba[..., 3] = (rgba[..., 3] * decoded.alpha).round().astype(np.uint8)
        return rgba, info["tag"]

    @bentoml.api(route="/remove-background")
    @json_errors
    def remove_background(self, image: ImageFile, format: Literal["png", "webp"] = "png") -> PngFile:
        """The product cut out: RGBA at the input's full resolution."""
        timings: dict[str, float] = {}
        rgba, tag = self._cutout(image, "remove-background", timings)
        return image_response(rgba, format, 95, tag, timings, "remove-background")

    @bentoml.api(route="/process")
    @json_errors
    def process(
        self,
        image: ImageFile,
        background: FormText = "FFFFFF",
        shadow: FormText = "false",
        padding: FormText = "10%",
        size: FormText | None = None,
        aspect: FormText | None = None,
        align: Literal["center", "bottom"] = "center",
        format: OutputFormat = "png",
        quality: Quality = 90,
    ) -> PngFile:
        """Cut-out on a background colour (hex, or 'transparent'), centred with padding, optional shadow."""
        timings: dict[str, float] = {}
        layout = LayoutParams(background=background, padding=padding, size=size, aspect=aspect, align=align)
        rgba, tag = self._cutout(image, "process", timings, layout.size)
        with timed("compose", "process", timings):
            result = pipeline.compose(rgba, layout, shadow_params(shadow))
        return image_response(result, format, quality, tag, timings, "process")

    @bentoml.api(route="/render-template")
    @json_errors
    def render_template(
        self,
        image: ImageFile,
        template: FormText | None = None,
        text: FormText | None = None,
        position: Literal["top", "bottom"] | None = None,
        bar_color: FormText | None = None,
        text_color: FormText | None = None,
        format: OutputFormat = "png",
        quality: Quality = 90,
    ) -> PngFile:
        """A branding bar (named template and/or text, colours, position) over an image as it is: no model."""
        timings: dict[str, float] = {}
        branding = branding_params(template, text, position, bar_color, text_color)
        decoded = self._decode(image, "render-template", timings, None)
        with timed("compose", "render-template", timings):
            result = pipeline.render_template(decoded.rgb, branding)
        return image_response(result, format, quality, "none", timings, "render-template")

    @bentoml.api(route="/process-full")
    @json_errors
    def process_full(
        self,
        image: ImageFile,
        background: FormText = "FFFFFF",
        shadow: FormText = "true",
        padding: FormText = "10%",
        size: FormText | None = None,
        aspect: FormText | None = None,
        align: Literal["center", "bottom"] = "center",
        template: FormText | None = "shop-default",
        text: FormText | None = None,
        position: Literal["top", "bottom"] | None = None,
        bar_color: FormText | None = None,
        text_color: FormText | None = None,
        format: OutputFormat = "png",
        quality: Quality = 90,
    ) -> PngFile:
        """The whole pipeline: cut-out, background, layout, shadow, then the branding bar."""
        timings: dict[str, float] = {}
        layout = LayoutParams(background=background, padding=padding, size=size, aspect=aspect, align=align)
        branding = branding_params(template, text, position, bar_color, text_color)
        rgba, tag = self._cutout(image, "process-full", timings, layout.size)
        with timed("compose", "process-full", timings):
            result = pipeline.render_template(pipeline.compose(rgba, layout, shadow_params(shadow)), branding)
        return image_response(result, format, quality, tag, timings, "process-full")


CutoutService.add_asgi_middleware(AccessLog)
CutoutService.add_asgi_middleware(ApiKeyAuth, settings=SETTINGS)
CutoutService.add_asgi_middleware(BodyLimit, max_bytes=SETTINGS.max_upload_mb * 1_000_000)
CutoutService.add_asgi_middleware(HealthEndpoint)
