"""The BiRefNet runner: a BentoML service with one adaptive-batching API over the promoted model version."""

from __future__ import annotations

import logging
import threading
import time

import bentoml
import numpy as np

from runners import store
from runners.inference import OnnxSegmenter
from runners.settings import load_settings

SETTINGS = load_settings()
RELOAD_CHECK_S = 1.0
logger = logging.getLogger("cutout.runner")


# BentoML's client to this service replaces its connection pool every `max_requests` requests and closes the old
# one under calls still in flight: they fail (retried by the API service) or never return. One local runner needs
# no refresh, so the pool lives as long as the server.
KEEP_POOL = {"max_requests": 2**31 - 1, "max_age": 1e9}


@bentoml.service(name="birefnet_runner", workers=1, traffic={"timeout": SETTINGS.request_timeout_s},
                 runner_connection=KEEP_POOL)
class BiRefNetRunner:
    """Serves the pinned tag, or follows the promoted one: a promotion is loaded and warmed in the background."""

    def __init__(self) -> None:
        self._pinned = SETTINGS.model
        self._lock = threading.Lock()
        self._pointer_seen = store.pointer_mtime()
        self._last_check = time.monotonic()
        self._reloading = False
        self._tag, self._segmenter = self._load(store.serving_tag(self._pinned))
        self._started = time.time()

    @staticmethod
    def _load(tag: str) -> tuple[str, OnnxSegmenter]:
        segmenter = OnnxSegmenter(store.file_of(tag), store.metadata_of(tag), backend=SETTINGS.backend,
                                  precision=SETTINGS.precision, max_batch=SETTINGS.max_batch_size)
        segmenter.warm_up()
        logger.info("serving %s on %s", tag, segmenter.describe())
        return tag, segmenter

    def __is_ready__(self) -> bool:
        return self._segmenter is not None

    def _follow_promotion(self) -> None:
        """Swap to a newly promoted version without dropping requests (old session serves until the new is warm)."""
        now = time.monotonic()
        if self._pinned or self._reloading or now - self._last_check < RELOAD_CHECK_S:
            return
        self._last_check = now
        mtime = store.pointer_mtime()
        if mtime == self._pointer_seen:
            return
        self._pointer_seen = mtime
        tag = store.current_tag()
        if tag is None or tag == self._tag:
            return
        self._reloading = True
        threading.Thread(target=self._swap_to, args=(tag,), daemon=True).start()

    def _swap_to(self, tag: str) -> None:
        try:
            loaded = self._load(tag)
            with self._lock:
                self._tag, self._segmenter = loaded
        except Exception:
            logger.exception("could not load promoted version %s; still serving %s", tag, self._tag)
        finally:
            self._reloading = False

    @bentoml.api(batchable=True, max_batch_size=SETTINGS.max_batch_size, max_latency_ms=SETTINGS.max_latency_ms)
    def segment(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """RGB uint8 images (any sizes) -> soft masks (float32 in [0, 1]) at each image's size."""
        self._follow_promotion()
        with self._lock:
            segmenter = self._segmenter
        return segmenter.predict(images)

    @bentoml.api
    def info(self) -> dict:
        """The served tag, its metadata, the execution providers and the backend (with its accuracy-guard verdict)."""
        self._follow_promotion()
        with self._lock:
            tag, segmenter = self._tag, self._segmenter
        return {
            "tag": tag,
            "metadata": segmenter.metadata.model_dump(mode="json"),
            "providers": segmenter.providers,
            "inference": segmenter.describe(),
            "pinned": self._pinned is not None,
            "started_at": self._started,
        }
