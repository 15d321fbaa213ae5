"""`cutout train ...`: masks from photo pairs, fine-tuning, evaluation, promotion and the bundled default model."""

from __future__ import annotations

import json
from pathlib import Path

import click

EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
NEW_PATH = click.Path(path_type=Path)


@click.group()
def train() -> None:
    """Train BiRefNet on the shop's own photos (originals + PhotoRoom versions) and promote what beats production."""


@train.command()
@click.argument("originals", type=EXISTING_DIR)
@click.argument("processed", type=EXISTING_DIR)
@click.option("--out", type=NEW_PATH, required=True, help="Manifest JSON to write.")
@click.option("--content/--no-content", default=True, show_default=True,
              help="Also compare image content (needed when names are unrelated).")
@click.option("--min-name-score", type=click.FloatRange(0, 1), default=0.75, show_default=True)
def pair(originals: Path, processed: Path, out: Path, content: bool, min_name_score: float) -> None:
    """Match ORIGINALS to their PROCESSED versions by drifted file names, then by content; write a manifest."""
    from training.pairing import pair_folders, write_manifest

    manifest = pair_folders(originals, processed, use_content=content, min_name_score=min_name_score)
    write_manifest(manifest, out)
    by_method = {m: sum(p.method == m for p in manifest.pairs) for m in ("name", "content")}
    click.echo(f"{len(manifest.pairs)} pairs ({by_method['name']} by name, {by_method['content']} by content); "
               f"unmatched: {len(manifest.unmatched_originals)} originals, {len(manifest.unmatched_processed)} "
               f"processed; unreadable: {len(manifest.unreadable)} -> {out}")


@train.command()
@click.argument("manifest", type=EXISTING_FILE)
@click.option("--out", type=NEW_PATH, required=True, help="Dataset folder to write.")
@click.option("--work-side", type=click.IntRange(128, 8192), default=1024, show_default=True,
              help="Long side of the stored images and masks.")
@click.option("--max-error", type=click.FloatRange(0, 1), default=0.035, show_default=True,
              help="Reject pairs whose aligned object pixels differ more than this on average.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Skip pairs the pairing was less sure of.")
def prepare(manifest: Path, out: Path, work_side: int, max_error: float, min_confidence: float) -> None:
    """Recover the object mask of every pair in MANIFEST; write images, masks and check sheets to --out."""
    from training.masks import RecoveryConfig, prepare_dataset

    index = prepare_dataset(manifest, out, RecoveryConfig(work_side=work_side, max_error=max_error), min_confidence)
    click.echo(f"{len(index.items)} masks written, {len(index.rejected)} pairs rejected (see {out}/index.json and "
               f"{out}/check_sheet_*.jpg)")


@train.command()
@click.argument("out", type=NEW_PATH)
@click.option("--count", type=click.IntRange(2), default=200, show_default=True)
@click.option("--size", type=click.IntRange(64, 4096), default=320, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--photos", is_flag=True, help="Lay them out for `cutout eval` (photos, gt/, SOURCES.tsv) instead.")
def synth(out: Path, count: int, size: int, seed: int, photos: bool) -> None:
    """Write a dataset folder of generated studio scenes with exact masks."""
    from training.scene_dataset import write_scene_dataset, write_scene_photos

    (write_scene_photos if photos else write_scene_dataset)(out, count, size, seed)
    click.echo(f"{count} scenes -> {out}")


@train.command("demo-pairs")
@click.argument("out", type=NEW_PATH)
@click.option("--count", type=click.IntRange(1), default=14, show_default=True)
@click.option("--size", type=click.IntRange(128, 4096), default=512, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo_pairs(out: Path, count: int, size: int, seed: int) -> None:
    """Write generated originals and PhotoRoom-like processed versions with drifted names (to try `pair`)."""
    from training.demo_pairs import write_demo_pairs

    write_demo_pairs(out, count, size, seed)
    click.echo(f"{out}/originals and {out}/processed written ({count} pairs plus unpaired files)")


@train.command()
@click.argument("dataset", type=EXISTING_DIR)
@click.option("--out", type=NEW_PATH, required=True, help="Run folder.")
@click.option("--from", "source", help="Start from a store version (birefnet:TAG; default: the promoted one) or a "
                                       "weights file in the new patch order (this project's own; import official "
                                       "checkpoints first: `cutout models import` settles their order).")
@click.option("--config", "spec", help="Architecture VARIANT[@SIZE][/wDIV][/dDEPTH], e.g. lite@256/w4; alone it "
                                       "trains from scratch.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--size", type=int, help="Input size (multiple of 32).")
@click.option("--epochs", type=click.IntRange(1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=4, show_default=True)
@click.option("--accumulate", type=click.IntRange(1), default=1, show_default=True, help="Batches per step.")
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--weight-decay", type=float, default=1e-2, show_default=True)
@click.option("--warmup", type=float, default=0.05, show_default=True, help="Share of steps warming up.")
@click.option("--ssim/--no-ssim", default=True, show_default=True)
@click.option("--iou-only-epochs", type=click.IntRange(0), default=0, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=5, show_default=True)
@click.option("--amp", type=click.Choice(["auto", "off", "bf16", "fp16"]), default="auto", show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(1), help="CPU threads [default: all cores but one].")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True)
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.15,
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-steps", type=click.IntRange(1), help="Stop after this many optimizer steps.")
@click.option("--max-minutes", type=click.FloatRange(0, min_open=True),
              help="Stop after this long (per session: with --resume it sets the new session's limit).")
def finetune(dataset: Path, out: Path, source: str | None, spec: str | None, resume: bool, **settings) -> None:
    """Fine-tune on DATASET (from a store version's weights) or train --config from scratch; results in --out."""
    from training import finetune as fine
    from training.models import load_start

    if resume:
        record = fine.train(out, resume=True, max_minutes=settings["max_minutes"])
    else:
        try:
            config = fine.FinetuneConfig(**settings)
            start = load_start(source, spec, settings["size"])
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        fine.start_run(dataset, out, start, config)
        record = fine.train(out)
    click.echo(f"{record.status}: best validation IoU {record.best_val_iou:.4f} at epoch {record.best_epoch} "
               f"({record.seconds / 60:.1f} min) -> {out}")


@train.command()
@click.argument("run", type=EXISTING_DIR)
@click.option("--base", default="auto", show_default=True,
              help="Version to compare with: auto (the run's start, else the promoted one), a tag, or none.")
@click.option("--data", type=EXISTING_DIR, help="Score every image of this dataset instead of the validation split.")
@click.option("--out", type=NEW_PATH, help="Where to write the report [default: RUN].")
@click.option("--threads", type=click.IntRange(1))
def evaluate(run: Path, base: str, data: Path | None, out: Path | None, threads: int | None) -> None:
    """Compare the run's model with its base and a white-distance baseline: tables and a contact sheet."""
    from training.evaluate import evaluate_run, markdown

    report = evaluate_run(run, None if base == "none" else base, data, threads, out)
    click.echo(markdown(report["summary"]))


@train.command()
@click.argument("run", type=EXISTING_DIR)
@click.option("--margin", type=float, default=0.005, show_default=True,
              help="Validation IoU the candidate must gain over the served version.")
@click.option("--threads", type=click.IntRange(1))
def promote(run: Path, margin: float, threads: int | None) -> None:
    """Register the run as a new version; serve it if it beats the served version by --margin."""
    from training.promote import promote_run

    result = promote_run(run, margin, threads)
    click.echo(f"{'promoted' if result.promoted else 'registered, not promoted'}: {result.tag} ({result.reason})")


@train.command()
@click.argument("run", type=EXISTING_DIR)
@click.argument("target", type=NEW_PATH)
@click.option("--fp16", is_flag=True, help="Half-precision weights (about half the size).")
def export(run: Path, target: Path, fp16: bool) -> None:
    """Export the run's best weights to an ONNX file (checked against PyTorch)."""
    from training.evaluate import export_candidate

    path, difference = export_candidate(run, target, fp16)
    click.echo(f"{path} ({path.stat().st_size / 1e6:.1f} MB, max |ONNX - PyTorch| {difference:.1e})")


@train.command("default-model")
@click.option("--work", type=NEW_PATH, default=Path("default-model-work"), show_default=True,
              help="Folder for the generated scenes and the run (resumable).")
@click.option("--out", type=NEW_PATH, help="Where model.onnx and training.json go [default: runners/default_model].")
@click.option("--minutes", type=float, default=150.0, show_default=True, help="Training time limit (this session).")
@click.option("--threads", type=click.IntRange(1))
@click.option("--mirror", "mirrors", multiple=True, metavar="NAME=PATH",
              help="A local copy (clone or mirror) of a real source's repository (training/data/sources.yaml).")
@click.option("--teacher", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="IS-Net ONNX for the sources without human masks (see runners/default_model/MODEL_CARD.md).")
def default_model(work: Path, out: Path | None, minutes: float, threads: int | None, mirrors: tuple[str, ...],
                  teacher: Path | None) -> None:
    """Train the bundled default model (continuing from the bundled weights) on generated scenes, real photos and
    studio composites, measure it on held-out scenes, write the ONNX, weights and training record."""
    from training.default_model import BUNDLE_DIR, DefaultModelPlan, build_default_model

    pairs = dict(mirror.split("=", 1) for mirror in mirrors if "=" in mirror)
    if len(pairs) != len(mirrors):
        raise click.BadParameter("give each as NAME=PATH", param_hint="--mirror")
    try:
        summary = build_default_model(work, DefaultModelPlan(minutes=minutes, threads=threads), out or BUNDLE_DIR,
                                      {name: Path(path) for name, path in pairs.items()}, teacher)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(json.dumps({key: value for key, value in summary.items() if key != "sessions"}, indent=2))
