"""Client-facing errors: every failure leaves the API as a JSON body with a status code that says whose fault it is."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

logger = logging.getLogger("cutout.api")


class ApiError(Exception):
    """An error meant for the client: HTTP status plus a message that says what is wrong."""

    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


def internal_error(exc: Exception) -> str:
    """Log an unexpected exception on one item of a batch and return the item's error text (the batch goes on)."""
    logger.error("internal error on one batch item", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def error_response(status: int, message: str, **detail: Any) -> JSONResponse:
    """The one JSON error shape of this API: {"error": message, ...detail}."""
    return JSONResponse({"error": message, **detail}, status_code=status)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as {field, message}; the field is the form field's own name (the last part of the path)."""
    return [{"field": str(err["loc"][-1]) if err["loc"] else "", "message": err["msg"]} for err in exc.errors()]


def json_errors(func: Callable) -> Callable:
    """Turn ApiError and parameter ValidationError raised by an API method into JSON error responses."""

    def to_response(exc: Exception) -> JSONResponse:
        if isinstance(exc, ApiError) and exc.status >= 500:
            logger.error("%s: %s", func.__name__, exc.message, exc_info=exc.__cause__)
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.message, **exc.detail)
        return error_response(400, "invalid parameters", details=validation_details(exc))

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except (ApiError, ValidationError) as exc:
                return to_response(exc)

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ApiError, ValidationError) as exc:
            return to_response(exc)

    return wrapper
