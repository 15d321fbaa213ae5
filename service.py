"""The HTTP API: a thin BentoML service that decodes uploads, asks the BiRefNet runner for a mask,
and turns it into shop images with the pure functions of `postprocess/`.

Run: `bentoml serve service:CutoutService --port 8100` (or `make serve`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import aiohttp
import anyio
import bentoml
from bentoml.validators import ContentType
from pydantic import Field
from starlette.responses import Response

from api.access_log import AccessLog
from api.allocator import keep_freed_memory
from api.archive import pack_results, read_photos, render_member
from api.auth import ApiKeyAuth
from api.body_limit import BodyLimit
from api.codecs import OutputFormat
from api.errors import ApiError, json_errors
from api.forms import FormText
from api.health import READY_PROBE_S, HealthEndpoint, process_stats, runner_ready
from api.photoroom import photoroom_app
from api.processor import Processor, image_response
from api.recipe import RAW_MASK, Recipe, customised, given, load_preset
from api.startup import refuse_bad_configuration
from api.uploads import refuse_url_uploads
from postprocess import pipeline

# Before the runner module reads the settings: a bad configuration stops `bentoml serve` here, in one line.
refuse_bad_configuration()
from runners.model_service import SETTINGS, BiRefNetRunner  # noqa: E402

refuse_url_uploads()
keep_freed_memory()  # on import: `bentoml serve` imports this file before it starts the workers that inherit it
T = TypeVar("T")
ImageFile = Path  # any Content-Type: the format is detected from the bytes
ZipFile = Annotated[Path, ContentType("application/zip")]
BATCH_THREADS = 4
PngFile = Annotated[Path, ContentType("image/png")]
Quality = Annotated[int, Field(ge=1, le=100, description="JPEG/WebP quality")]
SHADOW_FLAGS = {"true": "drop", "1": "drop", "yes": "drop", "false": "none", "0": "none", "no": "none"}
MODEL_INFO_TTL_S = 5.0
RUNNER_ATTEMPTS = 3


def transient(exc: Exception) -> bool:
    """A connection-level failure worth one more try: a crashed runner is restarted, and BentoML's internal client
    may close a pooled session under a call (bentoml/BentoML#4971; the runner's KEEP_POOL avoids its refreshes)."""
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


def shadow_mode(shadow: str | None) -> dict[str, object] | None:
    """The seed's `shadow=true|false`, or a shadow mode name (drop, natural, none)."""
    if shadow is None:
        return None
    word = shadow.strip().lower()
    return {"mode": SHADOW_FLAGS.get(word, word)}


def base_recipe(preset: str | None, template: str | None = None) -> Recipe:
    """The preset (or the default recipe), with a named branding template when one is asked for."""
    try:
        recipe = load_preset(preset) if preset else Recipe()
        if template:
            recipe = recipe.model_copy(update={"branding": pipeline.load_template(template)})
    except KeyError as exc:
        raise ApiError(404, str(exc.args[0])) from exc
    return recipe


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
        self.processor = Processor(lambda images: call_runner(self.runner.segment, images), self.model_info,
                                   SETTINGS.max_megapixels * 1_000_000)

    def model_info(self) -> dict:
        """The runner's served tag and metadata, cached for a few seconds (it changes only on promotion)."""
        if time.monotonic() - self._model_info_at > MODEL_INFO_TTL_S:
            self._model_info = call_runner(self.runner.info)
            self._model_info_at = time.monotonic()
        return self._model_info

    async def __is_ready__(self) -> bool:
        """Ready once the runner answers its own readiness check within READY_PROBE_S. BentoML's own probe of a
        runner that is still loading raises after 5 s, and BentoML then holds the /readyz request for the whole
        request timeout (300 s) before a 500, delaying shutdown as long; this answers 503 within READY_PROBE_S, so
        BentoML only probes a runner that is up."""
        return await runner_ready(self.runner, READY_PROBE_S)

    def health(self) -> dict:
        """Status, served model, uptime and this process's memory and CPU."""
        try:
            model = self.model_info()
            status = "ok"
        except ApiError as exc:
            model, status = {"error": exc.message}, "degraded"
        return {"status": status, "model": model, "uptime_s": round(time.time() - self.started, 1), **process_stats()}

    @bentoml.api(route="/remove-background")
    @json_errors
    def remove_background(self, image: ImageFile, format: Literal["png", "webp"] = "png",
                          mask: Literal["refined", "raw"] = "refined") -> PngFile:
        """The product cut out: RGBA at the input's full resolution. `mask=raw` skips every refinement step
        (the model's mask, only resized), to inspect what the model itself sees."""
        recipe = customised(load_preset("transparent"), format=format, **({"mask": RAW_MASK} if mask == "raw" else {}))
        return image_response(self.processor.render(image.read_bytes(), recipe, "remove-background"))

    @bentoml.api(route="/process")
    @json_errors
    def process(
        self,
        image: ImageFile,
        preset: FormText | None = None,
        background: FormText | None = None,
        shadow: FormText | None = None,
        padding: FormText | None = None,
        size: FormText | None = None,
        aspect: FormText | None = None,
        align: Literal["center", "bottom"] | None = None,
        format: OutputFormat | None = None,
        quality: Quality | None = None,
    ) -> PngFile:
        """Cut-out on a background colour (hex, or 'transparent'), centred with padding, optional shadow.
        A `preset` gives the starting point; every field given overrides it."""
        recipe = customised(
            base_recipe(preset),
            layout=given(background=background, padding=padding, size=size, aspect=aspect, align=align),
            shadow=shadow_mode(shadow),
            **given(format=format, quality=quality),
        )
        return image_response(self.processor.render(image.read_bytes(), recipe, "process"))

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
        recipe = customised(
            base_recipe(None, template or "shop-default"),
            branding=given(text=text, position=position, bar_color=bar_color, text_color=text_color),
            format=format, quality=quality,
        )
        return image_response(self.processor.brand(image.read_bytes(), recipe.branding, recipe, "render-template"))

    @bentoml.api(route="/process-full")
    @json_errors
    def process_full(
        self,
        image: ImageFile,
        preset: FormText | None = None,
        background: FormText | None = None,
        shadow: FormText | None = "true",
        padding: FormText | None = None,
        size: FormText | None = None,
        aspect: FormText | None = None,
        align: Literal["center", "bottom"] | None = None,
        template: FormText | None = "shop-default",
        text: FormText | None = None,
        position: Literal["top", "bottom"] | None = None,
        bar_color: FormText | None = None,
        text_color: FormText | None = None,
        format: OutputFormat | None = None,
        quality: Quality | None = None,
    ) -> PngFile:
        """The whole pipeline: cut-out, background, layout, shadow, then the branding bar."""
        recipe = customised(
            base_recipe(preset, template),
            layout=given(background=background, padding=padding, size=size, aspect=aspect, align=align),
            shadow=shadow_mode(shadow),
            branding=given(text=text, position=position, bar_color=bar_color, text_color=text_color),
            **given(format=format, quality=quality),
        )
        return image_response(self.processor.render(image.read_bytes(), recipe, "process-full"))

    def _batch_entry(self, name: str, data: bytes, recipe: Recipe) -> tuple[dict, bytes | None]:
        """One archive member through the recipe: its manifest entry and result (None when it failed)."""
        return render_member(lambda photo: self.processor.render(photo, recipe, "batch"), name, data, recipe.format)

    @bentoml.task(route="/batch")
    @json_errors
    async def batch(self, archive: ImageFile, preset: FormText = "shop-hero") -> ZipFile:
        """Many photos, asynchronously: POST /batch/submit with a zip `archive` and a `preset`, poll
        GET /batch/status?task_id=..., then GET /batch/get?task_id=... returns a zip of results plus manifest.json
        (a photo that fails is recorded there; the others go on)."""
        recipe = base_recipe(preset)
        photos = read_photos(archive.read_bytes(), SETTINGS.max_batch_files, SETTINGS.max_upload_mb * 1_000_000)
        limiter = anyio.CapacityLimiter(BATCH_THREADS)
        done = await asyncio.gather(*(anyio.to_thread.run_sync(self._batch_entry, name, data, recipe, limiter=limiter)
                                      for name, data in photos))
        manifest = [entry for entry, _ in done]
        results = [(entry["output"], body) for entry, body in done if body is not None]
        return Response(pack_results(results, manifest), media_type="application/zip")


CutoutService.add_asgi_middleware(AccessLog)
CutoutService.add_asgi_middleware(ApiKeyAuth, settings=SETTINGS)
CutoutService.add_asgi_middleware(BodyLimit, max_bytes=SETTINGS.max_upload_mb * 1_000_000)
CutoutService.add_asgi_middleware(HealthEndpoint)
CutoutService.mount_asgi_app(photoroom_app(SETTINGS.max_upload_mb * 1_000_000, SETTINGS.api_threads), name="photoroom")
