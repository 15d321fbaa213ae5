"""`cutout eval IMAGES`: the served model on photographs, scored against human masks, with a contact sheet."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("eval")
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
