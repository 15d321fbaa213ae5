"""`cutout batch IN OUT --watch`: the photo booth's folder, processed as photos arrive.

A photo is taken once it is complete: its size and modification time stayed the same for `settle` seconds (a file
renamed into place is complete when it appears, so it waits only that long). Each goes through the same FolderJob
as a one-off batch (atomic outputs, manifest, presets, review copies), so a restart after a crash or a SIGKILL
skips what has an output and redoes only what had none. A photo that fails is recorded and tried again only if the
file changes. SIGINT or SIGTERM stops taking new photos; those in progress finish, then the watch returns.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from commands.folder import FolderJob

Stat = tuple[int, int]  # size, modification time (ns)


def _stat(path: Path) -> Stat | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_size, found.st_mtime_ns


def watch_folder(job: FolderJob, stop: threading.Event, concurrency: int = 2, poll: float = 1.0,
                 settle: float = 2.0, report: Callable[[dict], None] | None = None) -> Counter:
    """Process photos as they arrive in the job's input folder until `stop` is set; `report` gets each manifest
    entry. Returns the job's counts."""
    first_seen: dict[Path, tuple[Stat, float]] = {}
    failed: dict[Path, Stat] = {}
    running: dict[Path, tuple[Future, Stat]] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while not stop.is_set():
            for source, (future, stat) in list(running.items()):
                if future.done():
                    del running[source]
                    entry = future.result()
                    if entry["status"] != "ok":
                        failed[source] = stat
                    if report is not None:
                        report(entry)
            now = time.monotonic()
            for source in job.inputs():
                stat = _stat(source)
                if stat is None or source in running or failed.get(source) == stat or job.is_done(source):
                    continue
                seen = first_seen.get(source)
                if seen is None or seen[0] != stat:
                    first_seen[source] = (stat, now)
                elif stat[0] > 0 and now - seen[1] >= settle and len(running) < 2 * concurrency:
                    del first_seen[source]
                    running[source] = (pool.submit(job.run_one, source), stat)
            stop.wait(poll)
        for source, (future, _stat_at_start) in running.items():
            entry = future.result()
            if report is not None:
                report(entry)
    return job.counts
