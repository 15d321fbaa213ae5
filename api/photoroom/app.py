"""The PhotoRoom-compatible routes: POST /v1/segment and GET/POST /v2/edit, answering errors in PhotoRoom's
JSON shapes ({"detail", "status_code", "type"} on /v1, {"error": {"message"}} on /v2)."""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import bentoml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.body_limit import BodyTooLarge
from api.errors import ApiError
from api.photoroom.fields import Fields, invalid
from api.photoroom.image_url import UrlPolicy, fetch_image
from api.photoroom.jobs import EDIT_FIELDS, SEGMENT_FIELDS, edit_job, segment_job
from api.processor import Rendered, image_response

T = TypeVar("T")
logger = logging.getLogger("cutout.photoroom")
SEGMENT, EDIT = "photoroom-segment", "photoroom-edit"
UNCERTAINTY_HEADER = "x-uncertainty-score"
ERROR_TYPES = {400: "invalid_parameter", 413: "image_too_large", 415: "unsupported_image_format",
               422: "invalid_image", 503: "model_unavailable"}


def segment_error(status: int, message: str, kind: str) -> JSONResponse:
    """PhotoRoom's /v1 error body."""
    return JSONResponse({"detail": message, "status_code": status, "type": kind}, status_code=status)


def edit_error(status: int, message: str, _kind: str) -> JSONResponse:
    """PhotoRoom's /v2 error body (it has no type)."""
    return JSONResponse({"error": {"message": message}}, status_code=status)


def photoroom_headers(rendered: Rendered) -> dict[str, str]:
    """Our headers plus PhotoRoom's x-uncertainty-score (0 = sure, 1 = unsure; -1 when no model ran)."""
    uncertainty = -1.0 if rendered.confidence is None else 1.0 - rendered.confidence
    return {**rendered.headers(), UNCERTAINTY_HEADER: f"{uncertainty:.3f}"}


def segment_response(rendered: Rendered, request: Request) -> Response:
    """The image, or PhotoRoom's {"base64img": ...} when the client accepts only JSON."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "image/" not in accept:
        return JSONResponse({"base64img": base64.b64encode(rendered.body).decode("ascii")},
                            headers=photoroom_headers(rendered))
    return image_response(rendered, photoroom_headers(rendered))


async def form_fields(request: Request) -> Fields:
    """The multipart body's fields, files read into memory; parameters in the query string are refused."""
    if request.query_params:
        raise invalid("send the parameters as multipart form fields, not in the query string")
    try:
        async with request.form() as form:
            items = [(name, await value.read() if isinstance(value, UploadFile) else value)
                     for name, value in form.multi_items()]
    except HTTPException as exc:
        raise invalid(f"the body is not a valid multipart form: {exc.detail}") from exc
    return Fields(items)


async def answer(work: Awaitable[Response], shape: Callable[[int, str, str], JSONResponse]) -> Response:
    """The response, or the failure as JSON in the endpoint's PhotoRoom error shape."""
    try:
        return await work
    except ApiError as exc:
        if exc.status >= 500:
            logger.error("%s", exc.message, exc_info=exc.__cause__)
        return shape(exc.status, exc.message, str(exc.detail.get("type", ERROR_TYPES.get(exc.status, "error"))))
    except ValidationError as exc:
        return shape(400, "; ".join(error["msg"] for error in exc.errors()), "invalid_parameter")
    except BodyTooLarge:
        raise
    except Exception:
        logger.exception("unexpected failure")
        return shape(500, "An unexpected error occurred.", "internal_error")


class PhotoRoomApi:
    """The routes' handlers, with the URL policy and a cap on concurrent CPU-bound renders."""

    def __init__(self, urls: UrlPolicy, threads: int) -> None:
        self.urls = urls
        self.limiter = anyio.CapacityLimiter(threads)

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking work in a worker thread, at most `threads` at once (like BentoML's sync APIs)."""
        return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=self.limiter)

    async def segment(self, request: Request) -> Response:
        """POST /v1/segment."""
        return await answer(self.segment_image(request), segment_error)

    async def segment_image(self, request: Request) -> Response:
        """Validate, then cut out (PhotoRoom's defaults: png, rgba, full size, no crop)."""
        fields = await form_fields(request)
        fields.refuse_unknown(SEGMENT_FIELDS)
        job = segment_job(fields)
        data = fields.file("image_file")
        if data is None:
            raise ApiError(400, "Please provide an image.", type="missing_image")
        processor = bentoml.get_current_service().processor
        return segment_response(await self.run(processor.render, data, job.recipe, SEGMENT, job.size.layout), request)

    async def edit(self, request: Request) -> Response:
        """GET /v2/edit (imageUrl, query parameters) and POST /v2/edit (multipart)."""
        return await answer(self.edit_image(request), edit_error)

    async def edit_image(self, request: Request) -> Response:
        """Validate everything before reading or fetching the image, then edit it."""
        get = request.method == "GET"
        fields = Fields(request.query_params.multi_items()) if get else await form_fields(request)
        fields.refuse_unknown(EDIT_FIELDS)
        job = edit_job(fields)
        data = await self.source(fields)
        processor = bentoml.get_current_service().processor
        rendered = await self.run(processor.render, data, job.recipe, EDIT, job.positioning.layout)
        return image_response(rendered, photoroom_headers(rendered))

    async def source(self, fields: Fields) -> bytes:
        """The image: an uploaded imageFile, or imageUrl fetched under the URL policy."""
        upload, url = fields.file("imageFile"), fields.text("imageUrl")
        if (upload is None) == (url is None):
            raise ApiError(400, "give exactly one of imageFile (POST, multipart) or imageUrl", type="missing_image")
        return upload if upload is not None else await fetch_image(url, self.urls)


def photoroom_app(max_upload_bytes: int, threads: int) -> Starlette:
    """The ASGI app to mount on the service: /v1/segment and /v2/edit."""
    api = PhotoRoomApi(UrlPolicy.from_env(max_upload_bytes), threads)
    return Starlette(routes=[
        Route("/v1/segment", api.segment, methods=["POST"]),
        Route("/v2/edit", api.edit, methods=["GET", "POST"]),
    ])
