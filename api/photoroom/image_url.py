"""Fetching /v2/edit's `imageUrl`: off unless configured, allow-listed hosts, public addresses only (checked at
resolution time), no redirects, size and time limits."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from api.errors import ApiError
from api.photoroom.fields import invalid

ALLOW_URLS_ENV, URL_HOSTS_ENV = "CUTOUT_ALLOW_IMAGE_URLS", "CUTOUT_IMAGE_URL_HOSTS"
URL_TIMEOUT_S = 10.0


class NonPublicAddress(OSError):
    """An image URL's host resolved to an address that is not public."""


def check_public(host: str, address: str) -> None:
    """Refuse loopback, private, link-local, reserved and multicast addresses."""
    ip = ipaddress.ip_address(address)
    if not ip.is_global or ip.is_multicast:
        raise NonPublicAddress(f"{host} resolves to {address}, which is not a public address")


class PublicResolver(AbstractResolver):
    """DNS for the image fetcher: the connection can go only to addresses checked here (no rebinding window)."""

    def __init__(self) -> None:
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        """The host's addresses, or NonPublicAddress if any of them is not public."""
        answers = await self.inner.resolve(host, port, family)
        for answer in answers:
            check_public(host, answer["host"])
        return answers

    async def close(self) -> None:
        """Release the inner resolver."""
        await self.inner.close()


@dataclass(frozen=True)
class UrlPolicy:
    """Whether, and from which hosts, /v2/edit may fetch `imageUrl`: off unless configured."""

    enabled: bool
    hosts: frozenset[str]
    max_bytes: int
    timeout_s: float = URL_TIMEOUT_S

    @classmethod
    def from_env(cls, max_bytes: int) -> UrlPolicy:
        """CUTOUT_ALLOW_IMAGE_URLS=on|off (off) and CUTOUT_IMAGE_URL_HOSTS=host,host (required when on)."""
        switch = os.environ.get(ALLOW_URLS_ENV, "off").strip().lower()
        if switch not in ("on", "off"):
            raise RuntimeError(f"{ALLOW_URLS_ENV} must be 'on' or 'off', got {switch!r}")
        hosts = frozenset(host.strip().lower() for host in os.environ.get(URL_HOSTS_ENV, "").split(",") if host.strip())
        if switch == "on" and not hosts:
            raise RuntimeError(f"{ALLOW_URLS_ENV}=on needs an allow-list of image hosts in {URL_HOSTS_ENV}")
        return cls(switch == "on", hosts, max_bytes)

    def check(self, url: str) -> None:
        """400 unless URLs are enabled and this is a plain http(s) URL on an allowed host."""
        if not self.enabled:
            raise invalid(f"imageUrl is disabled on this server (an administrator can enable it with "
                          f"{ALLOW_URLS_ENV}=on and {URL_HOSTS_ENV}); send the image as imageFile with POST")
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
            raise invalid("imageUrl must be an http or https URL without credentials")
        if host not in self.hosts:
            raise invalid(f"imageUrl host {host} is not in this server's allow-list ({URL_HOSTS_ENV})")
        try:
            check_public(host, host)
        except ValueError:
            pass  # a name, not an address literal: checked when it is resolved
        except NonPublicAddress as exc:
            raise invalid(f"imageUrl refused: {exc}") from exc


async def read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The response body, refused with a 413 as soon as it passes `max_bytes`."""
    if (response.content_length or 0) > max_bytes:
        raise ApiError(413, f"the image at imageUrl is over the {max_bytes / 1e6:g} MB limit")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"the image at imageUrl is over the {max_bytes / 1e6:g} MB limit")
    return bytes(body)


async def fetch_image(url: str, policy: UrlPolicy) -> bytes:
    """Download `imageUrl` under the policy: allowed hosts, public addresses only, no redirects, size and time caps."""
    policy.check(url)
    connector = aiohttp.TCPConnector(resolver=PublicResolver(), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=policy.timeout_s)
    try:
        async with (aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
                    session.get(url, allow_redirects=False) as response):
            if response.status != 200:
                raise invalid(f"fetching imageUrl answered HTTP {response.status} (redirects are not followed)")
            return await read_limited(response, policy.max_bytes)
    except TimeoutError as exc:
        raise invalid(f"fetching imageUrl took longer than {policy.timeout_s:.0f} s") from exc
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error if isinstance(exc.os_error, NonPublicAddress) else exc
        raise invalid(f"imageUrl refused or unreachable: {reason}") from exc
    except aiohttp.ClientError as exc:
        raise invalid(f"imageUrl could not be fetched: {exc}") from exc
