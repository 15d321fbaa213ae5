"""One JSON line per request, with a request id (the client's X-Request-ID when sane, echoed back),
route, status, sizes, model version and per-stage timings. Never image bytes or keys."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
logger = logging.getLogger("cutout.access")


def json_lines_logger() -> logging.Logger:
    """The access logger: bare JSON lines on stderr, independent of BentoML's log format."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new one."""
    incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
    return incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def parse_server_timing(value: str) -> dict[str, float]:
    """'decode;dur=12.5, model;dur=80' -> {'decode': 12.5, 'model': 80.0} (milliseconds)."""
    stages = {}
    for part in value.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name and duration:
            stages[name] = float(duration)
    return stages


class AccessLog:
    """Outermost middleware: tags the request with an id, times it and logs the outcome as JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = json_lines_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        record: dict = {"request_id": request_id, "method": scope["method"], "route": scope["path"],
                        "status": 500, "response_bytes": 0}
        declared = dict(scope["headers"]).get(b"content-length")
        record["request_bytes"] = int(declared) if declared and declared.isdigit() else None

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                record["status"] = message["status"]
                record["model"] = headers.get(b"x-model-tag", b"").decode("latin-1") or None
                record["stages_ms"] = parse_server_timing(headers.get(b"server-timing", b"").decode("latin-1"))
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                record["response_bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            self.log.info(json.dumps({"ts": round(time.time(), 3), "event": "request", **record}))
