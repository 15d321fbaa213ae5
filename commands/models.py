"""`cutout models ...`: BiRefNet versions in the BentoML model store: import, list, promote, roll back."""

from __future__ import annotations

import json
from datetime import datetime

import click

from runners import importer, store
from runners.bundled import ensure_served


@click.group()
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
    click.echo(ensure_served())
