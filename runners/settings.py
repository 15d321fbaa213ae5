"""Serving settings: `bentoml serve --arg key=value`, else CUTOUT_* environment variables, else defaults."""

from __future__ import annotations

import os
from typing import Literal

import bentoml
from pydantic import BaseModel, ConfigDict, Field


ENV_PREFIX = "CUTOUT_"
ENV_NAMES = {"model": "CUTOUT_MODEL_TAG"}  # fields whose variable is not CUTOUT_<FIELD>


def env_name(field: str) -> str:
    """The environment variable behind a setting."""
    return ENV_NAMES.get(field, f"{ENV_PREFIX}{field.upper()}")


def _env(field: str, default: str | None) -> str | None:
    return os.environ.get(env_name(field), default)


class ServeSettings(BaseModel):
    """Knobs read once when the service module is imported (decorators need them at import time). Values come as
    text and are validated here, so a bad one is refused with its setting's name (api/startup.py)."""

    model_config = ConfigDict(validate_default=True)

    model: str | None = Field(default_factory=lambda: _env("model", None), description="pin a store tag")
    backend: Literal["auto", "onnxruntime", "openvino", "torch"] = Field(
        default_factory=lambda: _env("backend", "auto"), description="inference backend (runners/backends)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default_factory=lambda: _env("precision", "auto"),
        description="bf16 needs a CPU with native bf16 or a GPU; fp16 needs a GPU (torch, or TensorRT)")
    max_batch_size: int = Field(default_factory=lambda: _env("max_batch_size", "8"), ge=1, le=64)
    max_latency_ms: int = Field(default_factory=lambda: _env("max_latency_ms", "120000"), ge=100)
    request_timeout_s: int = Field(default_factory=lambda: _env("request_timeout_s", "300"), ge=1)
    api_threads: int = Field(default_factory=lambda: _env("api_threads", "4"), ge=1, le=64)
    max_upload_mb: int = Field(default_factory=lambda: _env("max_upload_mb", "50"), ge=1)
    max_megapixels: int = Field(default_factory=lambda: _env("max_megapixels", "100"), ge=1)
    max_batch_files: int = Field(default_factory=lambda: _env("max_batch_files", "500"), ge=1)
    max_concurrency: int = Field(default_factory=lambda: _env("max_concurrency", "32"), ge=1)
    auth: Literal["on", "off"] = Field(default_factory=lambda: _env("auth", "on"))
    api_keys_file: str | None = Field(default_factory=lambda: _env("api_keys_file", None))
    metrics_public: bool = Field(default_factory=lambda: _env("metrics_public", "true"))


def load_settings() -> ServeSettings:
    """Settings from `--arg` values layered over the environment."""
    return bentoml.use_arguments(ServeSettings)
