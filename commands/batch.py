"""`cutout batch IN OUT`: a folder of photos through a preset, in this process or through a running service; with
--watch, the folder is watched and each photo processed as it arrives (commands/watch.py)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import click

from api import recipe as recipes
from commands import folder
from commands.watch import watch_folder


@click.command()
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--preset", default="shop-hero", show_default=True, help="Named preset from api/presets.yaml.")
@click.option("--server", help="URL of a running service (e.g. http://localhost:8100); in-process otherwise.")
@click.option("--api-key", envvar="CUTOUT_API_KEY", help="Key for --server (or CUTOUT_API_KEY).")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Files in flight [default: 8 with --server, 2 else].")
@click.option("--model", "model_tag", help="Store tag for in-process mode (default: the promoted version).")
@click.option("--review-below", type=click.FloatRange(0, 1),
              help="Also copy results whose cut-out confidence is below this into OUTPUT_DIR/review/.")
@click.option("--watch", is_flag=True, help="Keep running: process each new photo once it is complete (Ctrl-C or "
                                            "SIGTERM stops after the photos in progress).")
@click.option("--settle", type=click.FloatRange(0), default=2.0, show_default=True,
              help="--watch: seconds a file's size must stay the same before it is taken.")
@click.option("--poll", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="--watch: seconds between looks at the folder.")
def batch(input_dir: Path, output_dir: Path, preset: str, server: str | None, api_key: str | None,
          concurrency: int | None, model_tag: str | None, review_below: float | None, watch: bool, settle: float,
          poll: float) -> None:
    """Process every photo below INPUT_DIR into OUTPUT_DIR; re-running resumes where it stopped."""
    try:
        recipes.load_preset(preset)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--preset") from exc
    if output_dir.resolve() == input_dir.resolve():
        raise click.BadParameter("the output folder must not be the input folder", param_hint="OUTPUT_DIR")
    process = (folder.server_processor(preset, server, api_key) if server
               else folder.local_processor(preset, model_tag))
    concurrency = concurrency or (8 if server else 2)
    started = time.monotonic()
    if watch:
        counts = watch_until_stopped(folder.FolderJob(input_dir, output_dir, preset, process, review_below),
                                     concurrency, poll, settle)
    else:
        counts = folder.run_batch(input_dir, output_dir, preset, process, concurrency, review_below)
    elapsed = time.monotonic() - started
    review = f", {counts['review']} to review in {output_dir / folder.REVIEW}" if review_below is not None else ""
    click.echo(f"done in {elapsed:.1f} s: {counts['ok']} processed, {counts['skipped']} already done, "
               f"{counts['failed']} failed{review} (see {output_dir / folder.MANIFEST})")
    if counts["failed"] and not watch:
        sys.exit(1)


def watch_until_stopped(job: folder.FolderJob, concurrency: int, poll: float, settle: float) -> Counter:
    """Watch until SIGINT or SIGTERM, printing a line per photo."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"watching {job.input_root} -> {job.output_root} (preset {job.preset}); Ctrl-C stops")

    def report(entry: dict) -> None:
        detail = (f"confidence {entry['confidence']:.2f}" if entry.get("confidence") is not None else "")
        if entry["status"] != "ok":
            detail = f"error: {entry['error']}"
        click.echo(f"{entry['status']:<5} {entry['input']} -> {entry['output']} {detail}".rstrip())

    return watch_folder(job, stop, concurrency, poll, settle, report)
