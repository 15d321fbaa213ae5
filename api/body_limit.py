"""Request body limit: refuse an oversized upload from its Content-Length, before reading any of it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLarge(Exception):
    """The client sent more bytes than its Content-Length declared."""


class BodyLimit:
    """413 when Content-Length exceeds the limit, 411 when a body comes without one; a body longer than
    declared is cut off by raising, so no request can make the server buffer more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is None or not declared.isdigit():
            await error_response(411, "send the upload with a Content-Length header")(scope, receive, send)
            return
        if int(declared) > self.max_bytes:
            limit_mb = self.max_bytes / 1e6
            await error_response(413, f"the request body has {int(declared) / 1e6:.1f} MB; the limit is "
                                      f"{limit_mb:.0f} MB")(scope, receive, send)
            return
        allowed = int(declared)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > allowed:
                raise BodyTooLarge(f"more than the declared {allowed} bytes")
            return message

        await self.app(scope, counted, send)
