"""`cutout batch IN OUT`: a folder of photos through a preset, in this process or through a running service."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from api import recipe as recipes
from commands import folder


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
def batch(input_dir: Path, output_dir: Path, preset: str, server: str | None, api_key: str | None,
          concurrency: int | None, model_tag: str | None, review_below: float | None) -> None:
    """Process every photo below INPUT_DIR into OUTPUT_DIR; re-running resumes where it stopped."""
    try:
        recipes.load_preset(preset)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--preset") from exc
    process = (folder.server_processor(preset, server, api_key) if server
               else folder.local_processor(preset, model_tag))
    started = time.monotonic()
    counts = folder.run_batch(input_dir, output_dir, preset, process, concurrency or (8 if server else 2),
                                review_below)
    elapsed = time.monotonic() - started
    review = f", {counts['review']} to review in {output_dir / folder.REVIEW}" if review_below is not None else ""
    click.echo(f"done in {elapsed:.1f} s: {counts['ok']} processed, {counts['skipped']} already done, "
               f"{counts['failed']} failed{review} (see {output_dir / folder.MANIFEST})")
    if counts["failed"]:
        sys.exit(1)
