"""API keys: only SHA-256 hashes are kept; keys come as `x-api-key` (PhotoRoom clients) or
`Authorization: Bearer` (bentoml.SyncHTTPClient(token=...)) and are compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from runners.settings import ServeSettings

KEYS_ENV = "CUTOUT_API_KEYS"
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
HASH_PREFIX = "sha256:"
logger = logging.getLogger("cutout.auth")


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key to hand to a client."""
    return "ck_" + secrets.token_urlsafe(32)


def read_key_file(path: Path) -> list[str]:
    """Hashes from a keys file: one `sha256:<hex>` per line, optionally preceded by a name; # comments."""
    hashes = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        entry = line.split("#", 1)[0].split()
        if not entry:
            continue
        if not entry[-1].startswith(HASH_PREFIX) or len(entry[-1]) != len(HASH_PREFIX) + 64:
            raise ValueError(f"{path}:{number}: expected 'NAME sha256:<64 hex>' (keys are stored only as hashes)")
        hashes.append(entry[-1].lower())
    return hashes


def configured_hashes(settings: ServeSettings) -> list[str]:
    """Hashes from CUTOUT_API_KEYS (plain keys, hashed at once) and the keys file."""
    hashes = [hash_key(key.strip()) for key in os.environ.get(KEYS_ENV, "").split(",") if key.strip()]
    if settings.api_keys_file:
        hashes += read_key_file(Path(settings.api_keys_file))
    return hashes


def presented_key(scope: Scope) -> str | None:
    """The key a request carries, from `x-api-key` or `Authorization: Bearer`."""
    headers = dict(scope["headers"])
    if key := headers.get(b"x-api-key"):
        return key.decode("latin-1")
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def key_matches(key: str, hashes: list[str]) -> bool:
    """Compare against every stored hash, without an early exit, in constant time per hash."""
    digest = hash_key(key).encode()
    matched = False
    for stored in hashes:
        matched |= hmac.compare_digest(digest, stored.encode())
    return matched


class ApiKeyAuth:
    """401 for every route but the probes (and /metrics when public) unless a valid key is presented."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.enabled = settings.auth == "on"
        self.open_paths = OPEN_PATHS | ({"/metrics"} if settings.metrics_public else set())
        self.hashes = configured_hashes(settings) if self.enabled else []
        if not self.enabled:
            logger.warning("API key authentication is DISABLED (CUTOUT_AUTH=off): for local development only")
        elif not self.hashes:
            raise RuntimeError(
                f"CUTOUT_AUTH=on but no API keys are configured: set {KEYS_ENV} or CUTOUT_API_KEYS_FILE "
                "(see `cutout keys new`), or CUTOUT_AUTH=off for local development"
            )
        else:
            logger.info("API key authentication is on (%d keys)", len(self.hashes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        if key is None or not key_matches(key, self.hashes):
            message = "missing API key" if key is None else "invalid API key"
            response = error_response(401, f"{message}: send it as 'x-api-key' or 'Authorization: Bearer'")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
