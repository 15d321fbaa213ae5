"""GET /health: served model, uptime and process resources, answered by a small ASGI middleware
(BentoML API methods are POST-only)."""

from __future__ import annotations

import os

import bentoml
import psutil
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

HEALTH_PATH = "/health"


def process_stats() -> dict:
    """Resident memory and CPU use of this API worker process."""
    process = psutil.Process(os.getpid())
    return {
        "memory_rss_mb": round(process.memory_info().rss / 2**20, 1),
        "cpu_percent": process.cpu_percent(interval=None),
        "cpu_count": os.cpu_count(),
    }


class HealthEndpoint:
    """Answers GET /health from the service instance's `health()`; passes every other request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            service = bentoml.get_current_service()
            body = await run_in_threadpool(service.health)
            await JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)(scope, receive, send)
            return
        await self.app(scope, receive, send)
