"""Folders of photos through a preset, in-process or against a running service (`cutout batch`).

Crash-safe by construction: each output is written to a temporary file and renamed into place, so an output
that exists is complete; the manifest is an append-only JSON-lines file flushed per entry. A re-run skips what
exists and retries what failed. With a review threshold, results the model was unsure of are also copied into
OUTPUT/review/ (written before the output itself, so an output that exists has its review copy).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from api.codecs import FILE_SUFFIXES
from api.errors import ApiError, internal_error
from api.local import local_renderer
from api.processor import CONFIDENCE_HEADER
from api.recipe import load_preset
from runners.files import write_atomically
from training.images import list_images

MANIFEST = "manifest.jsonl"
REVIEW = "review"
RETRY_STATUSES = {429, 503, 504}


class FileFailed(Exception):
    """One input could not be processed; recorded in the manifest, the run goes on."""


@dataclass(frozen=True)
class Outcome:
    """What processing one file produced, and how sure the model was of the cut-out (None: not reported)."""

    body: bytes
    model_tag: str
    confidence: float | None = None


Process = Callable[[bytes], Outcome]


def output_for(source: Path, input_root: Path, output_root: Path, fmt: str) -> Path:
    """Same relative path under the output folder, with the preset format's suffix."""
    return (output_root / source.relative_to(input_root)).with_suffix(FILE_SUFFIXES[fmt])


class Manifest:
    """Append-only JSON lines; a torn last line from a crash is ignored when read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def entries(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        for line in self.path.read_text().splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue

    def done(self) -> set[str]:
        """Inputs (relative paths) recorded as finished."""
        return {entry["input"] for entry in self.entries() if entry["status"] == "ok"}

    def append(self, entry: dict) -> None:
        with self.lock, open(self.path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def local_processor(preset: str, model_tag: str | None) -> Process:
    """Process in this process with local_renderer."""
    render, recipe = local_renderer(model_tag), load_preset(preset)

    def process(data: bytes) -> Outcome:
        try:
            rendered = render(data, recipe)
        except ApiError as exc:
            raise FileFailed(f"{exc.status}: {exc.message}") from exc
        return Outcome(rendered.body, rendered.model_tag, rendered.confidence)

    return process


def server_processor(preset: str, server: str, api_key: str | None, attempts: int = 4) -> Process:
    """Process through a running service's POST /process (retrying 429/503/504 with back-off)."""
    headers = {"x-api-key": api_key} if api_key else {}
    client = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=600)

    def process(data: bytes) -> Outcome:
        for attempt in itertools.count(1):
            try:
                response = client.post("/process", data={"preset": preset}, files={"image": ("photo", data)})
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise FileFailed(f"server unreachable: {exc}") from exc
            else:
                if response.status_code == 200:
                    confidence = response.headers.get(CONFIDENCE_HEADER)
                    return Outcome(response.content, response.headers.get("x-model-tag", ""),
                                   None if confidence is None else float(confidence))
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    raise FileFailed(f"{response.status_code}: {response.text[:300]}")
            time.sleep(min(30.0, 2.0 ** attempt))

    return process


class FolderJob:
    """An input folder through a preset into an output folder: which photos are due (no output yet), and processing
    one of them: output written atomically (its review copy first), one manifest line, counts kept."""

    def __init__(self, input_root: Path, output_root: Path, preset: str, process: Process,
                 review_below: float | None = None) -> None:
        self.input_root, self.output_root, self.preset = input_root, output_root, preset
        self.process, self.review_below = process, review_below
        self.format = load_preset(preset).format
        output_root.mkdir(parents=True, exist_ok=True)
        for stale in output_root.rglob(".*.part"):
            stale.unlink()
        self.manifest = Manifest(output_root / MANIFEST)
        self.recorded = self.manifest.done()
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def inputs(self) -> list[Path]:
        """The photos below the input folder, the output folder excluded when it lies inside it."""
        return [path for path in list_images(self.input_root) if self.output_root not in path.parents]

    def target(self, source: Path) -> Path:
        return output_for(source, self.input_root, self.output_root, self.format)

    def is_done(self, source: Path) -> bool:
        """Whether its output exists; one found without a manifest line (a crash between the two) gets its line."""
        target = self.target(source)
        if not target.exists():
            return False
        relative = str(source.relative_to(self.input_root))
        if relative not in self.recorded:
            self.manifest.append({"input": relative, "output": str(target.relative_to(self.output_root)),
                                  "status": "ok", "recovered": True})
            self.recorded.add(relative)
        return True

    def run_one(self, source: Path) -> dict:
        """Process one photo; its manifest entry (a failure is recorded there, never raised)."""
        started = time.monotonic()
        target = self.target(source)
        relative = str(source.relative_to(self.input_root))
        entry = {"input": relative, "output": str(target.relative_to(self.output_root)), "preset": self.preset}
        try:
            outcome = self.process(source.read_bytes())
            doubtful = (self.review_below is not None and outcome.confidence is not None
                        and outcome.confidence < self.review_below)
            if doubtful:
                write_atomically(self.output_root / REVIEW / target.relative_to(self.output_root), outcome.body)
            write_atomically(target, outcome.body)
            entry.update(status="ok", bytes=len(outcome.body), model=outcome.model_tag, confidence=outcome.confidence,
                         review=doubtful)
        except (FileFailed, OSError) as exc:
            entry.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 (a bug on one photo is that photo's error; the run goes on)
            entry.update(status="error", error=internal_error(exc))
        entry["seconds"] = round(time.monotonic() - started, 3)
        self.manifest.append(entry)
        with self.lock:
            if entry["status"] == "ok":
                self.recorded.add(relative)
            self.counts["ok" if entry["status"] == "ok" else "failed"] += 1
            self.counts["review"] += bool(entry.get("review"))
        return entry


def run_batch(input_root: Path, output_root: Path, preset: str, process: Process, concurrency: int,
              review_below: float | None = None) -> Counter:
    """Process every input not yet done; returns counts of ok / failed / skipped (and review: results whose
    confidence was below review_below, also copied into OUTPUT/review/)."""
    job = FolderJob(input_root, output_root, preset, process, review_below)
    todo = []
    for source in job.inputs():
        if job.is_done(source):
            job.counts["skipped"] += 1
        else:
            todo.append(source)
    with tqdm(total=len(todo), unit="img", desc=f"batch {preset}", dynamic_ncols=True) as progress, \
            ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: set[Future] = set()
        try:
            for source in todo:
                pending.add(pool.submit(job.run_one, source))
                if len(pending) >= concurrency * 2:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                    progress.update(len(finished))
                    progress.set_postfix(failed=job.counts["failed"])
            for future in pending:
                future.result()
                progress.update(1)
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            raise
    return job.counts
