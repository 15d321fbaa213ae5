"""The whole serving configuration, checked before the service serves anything: every CUTOUT_* setting, the API
keys and the model to serve. A bad value stops `bentoml serve` (of the checkout or of a built bento) at once with
one line that names the setting and its fix, exit code 2, before any worker process is started."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

from bentoml.exceptions import InvalidArgument
from pydantic import ValidationError

from api import auth
from api.photoroom.image_url import ALLOW_URLS_ENV, URL_HOSTS_ENV, UrlPolicy
from runners import store
from runners.backends import BACKEND_ENV, PRECISION_ENV
from runners.backends.base import BackendError
from runners.backends.cache import CACHE_ENV
from runners.backends.device import DEVICE_ENV, wanted_device
from runners.backends.onnxruntime_backend import TRT_CACHE_ENV
from runners.bundled import BUNDLED_DEFAULT_ENV
from runners.inference import LEGACY_THREADS_ENV, THREADS_ENV
from runners.settings import ENV_PREFIX, ServeSettings, env_name, load_settings

CLIENT_ONLY = frozenset({"CUTOUT_API_KEY", "CUTOUT_BENCH_CACHE"})  # read by the command line and the bench
KNOWN = frozenset({env_name(field) for field in ServeSettings.model_fields} | {
    auth.KEYS_ENV, ALLOW_URLS_ENV, URL_HOSTS_ENV, BACKEND_ENV, PRECISION_ENV, CACHE_ENV, DEVICE_ENV, TRT_CACHE_ENV,
    BUNDLED_DEFAULT_ENV, THREADS_ENV, LEGACY_THREADS_ENV} | CLIENT_ONLY)


class ConfigError(ValueError):
    """A setting that would make the service fail, with the fix."""


def _settings() -> ServeSettings:
    """The parsed settings, or ConfigError naming the first bad one."""
    try:
        return load_settings()
    except InvalidArgument as exc:  # BentoML's wrapper around the settings' ValidationError
        if not isinstance(exc.__cause__, ValidationError):
            raise ConfigError(str(exc).splitlines()[0]) from exc
        error = exc.__cause__.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigError(f"{env_name(field)} (or --arg {field}) = {error.get('input')!r}: {error['msg']}") from exc


def _unknown_variables() -> None:
    """A CUTOUT_* variable that nothing reads is a typo of one that something should."""
    for name in sorted(os.environ):
        if name.startswith(ENV_PREFIX) and name not in KNOWN:
            close = difflib.get_close_matches(name, KNOWN, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known settings: {', '.join(sorted(KNOWN))}"
            raise ConfigError(f"{name} is not a setting of this service; {hint}")


def _threads() -> None:
    """An empty value means all cores, as it does to runners.inference."""
    for name in (THREADS_ENV, LEGACY_THREADS_ENV):
        value = os.environ.get(name)
        if value and (not value.strip().isdigit() or int(value) < 1):
            raise ConfigError(f"{name}={value!r}: give a whole number of threads >= 1, or unset it for all cores")


def _keys(settings: ServeSettings) -> None:
    if settings.auth == "off":
        return
    if settings.api_keys_file and not Path(settings.api_keys_file).is_file():
        raise ConfigError(f"CUTOUT_API_KEYS_FILE={settings.api_keys_file!r} does not exist: create it with "
                          "`cutout keys new --file PATH`, or point the setting at the keys file")
    try:
        hashes = auth.configured_hashes(settings)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"CUTOUT_API_KEYS_FILE: {exc}") from exc
    if not hashes:
        raise ConfigError(f"CUTOUT_AUTH=on but no API keys are configured: set {auth.KEYS_ENV} or "
                          "CUTOUT_API_KEYS_FILE (`cutout keys new`), or CUTOUT_AUTH=off for local development")


def check_configuration() -> ServeSettings:
    """Every check; the settings when all pass, else ConfigError."""
    _unknown_variables()
    settings = _settings()
    _threads()
    try:
        wanted_device()
        UrlPolicy.from_env(1)
    except (BackendError, RuntimeError) as exc:
        raise ConfigError(str(exc)) from exc
    _keys(settings)
    try:
        store.file_of(store.serving_tag(settings.model))
    except store.StoreError as exc:
        setting = "CUTOUT_MODEL_TAG (or --arg model)" if settings.model else "the model store"
        raise ConfigError(f"{setting}: {exc}") from exc
    return settings


def packaging() -> bool:
    """Whether `bentoml build` (or containerize) imports the service to package it: nothing is served then, so the
    serving configuration is not this machine's business."""
    return Path(sys.argv[0]).name == "bentoml" and sys.argv[1:2] in (["build"], ["containerize"])


def refuse_bad_configuration() -> None:
    """Exit with code 2 and one line on stderr when the configuration would not serve."""
    if packaging():
        return
    try:
        check_configuration()
    except ConfigError as exc:
        print(f"cutout: cannot start: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
