"""GET /health: served model, uptime and process resources, answered by a small ASGI middleware
(BentoML API methods are POST-only); and the readiness check behind GET /readyz."""

from __future__ import annotations

import asyncio
import os

import bentoml
import psutil
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

HEALTH_PATH = "/health"
READY_PROBE_S = 2  # seconds the runner has to answer a readiness check


def process_stats() -> dict:
    """Resident memory and CPU use of this API worker process."""
    process = psutil.Process(os.getpid())
    return {
        "memory_rss_mb": round(process.memory_info().rss / 2**20, 1),
        "cpu_percent": process.cpu_percent(interval=None),
        "cpu_count": os.cpu_count(),
    }


async def runner_ready(runner: object, timeout_s: float) -> bool:
    """Whether the runner answers its own /readyz within timeout_s (a runner in this process always does). Never
    raises: BentoML holds a /readyz whose check raises for the whole request timeout, then answers 500."""
    probe = getattr(runner, "is_ready", None)
    if probe is None:
        return True
    try:
        return await asyncio.wait_for(probe(timeout_s), timeout_s)
    except Exception:  # noqa: BLE001 (a runner that is starting or gone is not ready, whatever its client raises)
        return False


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
