"""`cutout` command line: manage BiRefNet versions in the BentoML model store."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from api import auth
from api import recipe as recipes
from runners import batch as batching
from runners import importer, store
from training.cli import train

BUNDLED_DEFAULT = Path(__file__).parent / "default_model" / "model.onnx"
BUNDLED_DEFAULT_ENV = "CUTOUT_DEFAULT_MODEL"


class _Group(click.Group):
    """A command group that reports store errors as one clear line and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except store.StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
def main() -> None:
    """Self-hosted product-photo cutout service: model store and tools."""


@main.group()
def models() -> None:
    """BiRefNet versions in the BentoML model store (`birefnet:<version>`)."""


@models.command("import")
@click.argument("source")
@click.option("--file", "file", help="ONNX file to pick inside a snapshot folder holding several.")
@click.option("--variant", help="Variant name to record (general, lite, ...; guessed otherwise); for checkpoints also "
                                 "a scaled architecture such as pvt_v2_b0@256/w4.")
@click.option("--size", type=int, help="Model input size: for checkpoints and dynamic-size ONNX models (default 1024).")
@click.option("--output-index", type=int, default=-1, show_default=True, help="Which ONNX output holds the logits.")
@click.option("--sha256", "expected_sha256", help="Expected SHA-256 of the downloaded or given file.")
@click.option("--promote", is_flag=True, help="Serve this version from now on.")
@click.option("--fp16", is_flag=True, help="Checkpoints only: export the ONNX model in half precision.")
@click.option("--patch-order", type=click.Choice(["auto", "old", "new"]), default="auto", show_default=True,
              help="Checkpoints only: the decoder's patch order the weights were trained with (old: official weights "
                   "from before 2024-11-05, converted on import; auto: decided by checking both, or refused).")
def import_(source: str, file: str | None, variant: str | None, size: int | None, output_index: int,
            expected_sha256: str | None, promote: bool, fp16: bool, patch_order: str) -> None:
    """Register SOURCE as a new version: an ONNX file, a PyTorch checkpoint (.pth/.safetensors, converted and
    verified here), a Hugging Face snapshot folder, an https URL or a Hugging Face repo id."""
    tag = importer.import_model(source, file=file, variant=variant, size=size, output_index=output_index,
                                expected_sha256=expected_sha256, promote=promote, fp16=fp16, patch_order=patch_order)
    current = " (current)" if store.current_tag() == tag else ""
    click.echo(f"imported {tag}{current}")
    metadata = store.metadata_of(tag)
    if metadata.patch_order is not None:
        click.echo(describe_patch_order(metadata))


def describe_patch_order(metadata: store.ModelMetadata) -> str:
    """The recorded patch order and the evidence it was decided on, in a line or three."""
    check = metadata.patch_order_check
    lines = [f"patch order: {metadata.patch_order} ({check.get('decided_by', 'recorded')})"]
    lines += [f"  {line}" for line in check.get("evidence", [])]
    return "\n".join(lines)


@models.command("list")
def list_() -> None:
    """Every stored version, oldest first; * marks the served one."""
    current = store.current_tag()
    for model in store.versions():
        metadata = store.ModelMetadata.model_validate(model.info.metadata)
        created = datetime.fromtimestamp(model.info.creation_time.timestamp()).strftime("%Y-%m-%d %H:%M")
        mark = "*" if str(model.tag) == current else " "
        order = metadata.patch_order or "-"
        click.echo(f"{mark} {model.tag}  {metadata.variant:<10} {metadata.input_size:>5}px  order {order:<3}  "
                   f"{created}  {metadata.source}")


@models.command()
@click.argument("tag")
def promote(tag: str) -> None:
    """Serve TAG from now on (a running service switches after warming it up)."""
    click.echo(f"current: {store.promote(tag)}")


@models.command()
def rollback() -> None:
    """Go back to the previously promoted version."""
    click.echo(f"current: {store.rollback()}")


@models.command()
def current() -> None:
    """The served version and its metadata, as JSON."""
    tag = store.current_tag()
    if tag is None:
        raise store.StoreError("no version is promoted; see `cutout models list`")
    click.echo(json.dumps({"tag": tag, "metadata": store.metadata_of(tag).model_dump(mode="json")}, indent=2))


@models.command()
def ensure() -> None:
    """Make sure a servable version is promoted: the newest stored one, else the bundled default."""
    if (tag := store.current_tag()) is not None:
        click.echo(f"serving {tag}")
        return
    if stored := store.versions():
        click.echo(f"serving {store.promote(str(stored[-1].tag))} (newest stored version)")
        return
    bundled = Path(os.environ.get(BUNDLED_DEFAULT_ENV, BUNDLED_DEFAULT))
    if bundled.is_file():
        tag = importer.import_model(str(bundled), variant="studio-default", promote=True)
        click.echo(f"serving {tag} (bundled default model)")
        return
    raise store.StoreError(
        f"no {store.MODEL_NAME} model in the store at {store.store_home()} and no bundled default at {bundled}. "
        "Import one:\n"
        "  cutout models import /path/to/BiRefNet_lite-general-2K-epoch_232.onnx --promote\n"
        "  cutout models import https://.../model.onnx --promote   (needs network)\n"
        "See README.md, 'Importing BiRefNet weights'."
    )


@main.command()
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
    process = (batching.server_processor(preset, server, api_key) if server
               else batching.local_processor(preset, model_tag))
    started = time.monotonic()
    counts = batching.run_batch(input_dir, output_dir, preset, process, concurrency or (8 if server else 2),
                                review_below)
    elapsed = time.monotonic() - started
    review = f", {counts['review']} to review in {output_dir / batching.REVIEW}" if review_below is not None else ""
    click.echo(f"done in {elapsed:.1f} s: {counts['ok']} processed, {counts['skipped']} already done, "
               f"{counts['failed']} failed{review} (see {output_dir / batching.MANIFEST})")
    if counts["failed"]:
        sys.exit(1)


@main.command("eval")
@click.argument("images", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--truth", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Human masks named like the photos (NAME.png, 0/255) [default: IMAGES/gt].")
@click.option("--server", help="URL of a running service (e.g. http://localhost:8100); in-process otherwise.")
@click.option("--api-key", envvar="CUTOUT_API_KEY", help="Key for --server (or CUTOUT_API_KEY).")
@click.option("--model", "model_tag", help="Store tag for in-process mode (default: the promoted version).")
@click.option("--mask", type=click.Choice(["refined", "raw"]), default="refined", show_default=True,
              help="The served cut-out, or the model's mask only resized.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-out"),
              show_default=True, help="Folder for eval.json, eval.md and contact_sheet.jpg.")
def eval_(images: Path, truth: Path | None, server: str | None, api_key: str | None, model_tag: str | None,
          mask: str, out: Path) -> None:
    """Cut out every photo in IMAGES as the service does and score the cut-outs against human masks (IoU, Dice,
    boundary F, MAE per photo, per kind and overall); a contact sheet shows every photo, masked or not."""
    from training import photo_eval

    if server and model_tag:
        raise click.UsageError("give --server or --model, not both")
    try:
        photos = photo_eval.find_photos(images, truth)
        cut = (photo_eval.server_cutter(server, api_key, mask) if server
               else photo_eval.local_cutter(model_tag, mask))
        report = photo_eval.evaluate_photos(photos, cut, out)
    except photo_eval.EvalError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    summary = report["summary"]
    click.echo(photo_eval.markdown(summary, []).split("| photo |")[0].rstrip())
    click.echo(f"{summary['photos']} photos ({summary['with_truth']} with masks), model {', '.join(report['models'])}: "
               f"{out / photo_eval.REPORT_MD}, {out / photo_eval.SHEET}")


@main.group()
def keys() -> None:
    """API keys: the server keeps only their SHA-256 hashes (CUTOUT_API_KEYS_FILE)."""


@keys.command()
@click.option("--name", default="client", show_default=True, help="Who the key is for (kept beside the hash).")
@click.option("--file", "keys_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keys file to append the hash to.")
def new(name: str, keys_file: Path | None) -> None:
    """Make a new key: the key is printed once; only its hash is stored."""
    key = auth.new_key()
    if keys_file:
        with open(keys_file, "a") as handle:
            handle.write(f"{name} {auth.hash_key(key)}\n")
        click.echo(f"added {name} to {keys_file}", err=True)
    click.echo(key)


@keys.command("hash")
@click.argument("key")
@click.option("--name", default="client", show_default=True)
def hash_(key: str, name: str) -> None:
    """The keys-file line for an existing KEY."""
    click.echo(f"{name} {auth.hash_key(key)}")


main.add_command(train)
