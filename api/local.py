"""The service's pipeline in this process: for `cutout batch` and `cutout eval` without a running server."""

from __future__ import annotations

import threading
from collections.abc import Callable

from api.allocator import keep_freed_memory
from api.processor import Processor, Rendered
from api.recipe import Recipe
from runners import store
from runners.inference import OnnxSegmenter


def local_renderer(model_tag: str | None) -> Callable[[bytes, Recipe], Rendered]:
    """Render recipes in this process (the promoted model, or MODEL_TAG) on the backend the runner would choose,
    exactly as the service does; thread-safe (one model call at a time)."""
    tag = store.serving_tag(model_tag)
    segmenter = OnnxSegmenter(store.file_of(tag), store.metadata_of(tag))
    info = {"tag": tag, "metadata": segmenter.metadata.model_dump()}
    model_lock = threading.Lock()

    def segment(images: list) -> list:
        with model_lock:
            return segmenter.predict(images)

    keep_freed_memory()
    processor = Processor(segment, lambda: info, max_pixels=400_000_000)
    return lambda data, recipe: processor.render(data, recipe, "batch")
