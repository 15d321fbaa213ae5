"""Fine-tune BiRefNet (or train it from scratch) on a dataset folder, BiRefNet-style: BCE + IoU (+ SSIM) on the
final and side outputs plus the gradient heads, AdamW, warm-up then cosine decay, mixed precision where it
helps, gradient accumulation, early stopping on validation IoU, resumable checkpoints.

A run folder holds run.json (what was trained on what, and how it went), best.safetensors (the weights with
the best validation IoU) and last.pt (everything needed to resume).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader
from tqdm import tqdm

from postprocess import metrics
from runners.files import write_atomically
from training.augment import AugmentConfig
from training.dataset import SegmentationDataset, index_sha256, read_index, split
from training.losses import LossWeights, birefnet_loss, pixel_loss
from training.models import Architecture, Start, load_trained, parse_spec, save_weights

RUN_FILE = "run.json"
BEST_WEIGHTS = "best.safetensors"
STATE_FILE = "last.pt"
MIN_GAIN = 1e-4


class FinetuneConfig(BaseModel):
    """Hyper-parameters of a run (all recorded in run.json)."""

    model_config = ConfigDict(extra="forbid")

    size: int | None = Field(None, ge=32, description="input size (multiple of 32); default: the model's own")
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(4, ge=2, description="batch norm needs at least 2")
    accumulate: int = Field(1, ge=1, description="batches per optimizer step")
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    warmup: float = Field(0.05, ge=0, lt=1, description="share of the steps spent warming up")
    min_lr: float = Field(0.02, ge=0, le=1, description="final learning rate as a share of lr")
    ssim: bool = True
    iou_only_epochs: int = Field(0, ge=0, description="final epochs trained on the IoU loss alone")
    patience: int = Field(5, ge=1, description="epochs without a better validation IoU before stopping")
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="CPU threads; default all cores but one")
    workers: int = Field(0, ge=0)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    seed: int = 0
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    max_minutes: float | None = Field(None, gt=0, description="stop (and keep the best weights) after this long")
    augment: AugmentConfig = AugmentConfig()


class RunRecord(BaseModel):
    """run.json: the model, the data and its split, the settings, and the history of the run."""

    architecture: str
    size: int
    base_tag: str | None = None
    base_path: str | None = None
    dataset: str
    data_sha256: str
    train_ids: list[str]
    val_ids: list[str]
    config: FinetuneConfig
    history: list[dict] = Field(default_factory=list)
    best_epoch: int | None = None
    best_val_iou: float | None = None
    status: str = "running"
    seconds: float = 0.0

    @property
    def parsed(self) -> Architecture:
        """The architecture at the trained input size."""
        return parse_spec(self.architecture, self.size)


def read_run(run_dir: Path) -> RunRecord:
    """The run.json of a run folder."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run (no {RUN_FILE}); see `cutout train finetune`")
    return RunRecord.model_validate_json(path.read_text())


def write_run(run_dir: Path, record: RunRecord) -> None:
    """Write run.json atomically."""
    write_atomically(run_dir / RUN_FILE, record.model_dump_json(indent=2).encode())


def best_model(run_dir: Path) -> torch.nn.Module:
    """The run's best weights in eval mode."""
    return load_trained(run_dir / BEST_WEIGHTS, read_run(run_dir).parsed)


def pick_device(wanted: str) -> torch.device:
    """CUDA when asked or available (auto), else CPU."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda but PyTorch sees no CUDA device")
    return torch.device("cuda" if wanted != "cpu" and torch.cuda.is_available() else "cpu")


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype: auto is bf16 (or fp16) on CUDA and full precision on CPU."""
    if amp == "off":
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("fp16 mixed precision needs CUDA; use --amp bf16 on CPU")
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def lr_factor(step: int, total: int, warmup: float, floor: float) -> float:
    """Linear warm-up to 1, then cosine decay to floor at the last step."""
    warm = max(1, round(warmup * total))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def validate(model: torch.nn.Module, loader: DataLoader, device: torch.device, dtype: torch.dtype | None,
             weights: LossWeights) -> tuple[float, float]:
    """Mean pixel loss and mean IoU (at the model size) over a loader, in eval mode."""
    model.eval()
    losses, ious = [], []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for images, masks in loader:
            logits = model(images.to(device)).float()
            masks = masks.to(device)
            losses.append(float(sum(pixel_loss(logits, masks, weights).values())))
            prob = torch.sigmoid(logits).cpu().numpy()[:, 0]
            ious.extend(metrics.iou(p, t) for p, t in zip(prob, masks.cpu().numpy()[:, 0]))
    model.train()
    return float(np.mean(losses)), float(np.mean(ious))


def _loaders(record: RunRecord, root: Path, config: FinetuneConfig) -> tuple[SegmentationDataset, DataLoader]:
    """The training set and the validation loader of a run."""
    by_id = {item.id: item for item in read_index(root).items}
    train_set = SegmentationDataset(root, [by_id[i] for i in record.train_ids], record.size, config.augment, config.seed)
    if len(train_set) < config.batch_size:
        raise ValueError(f"{len(train_set)} training images are fewer than one batch of {config.batch_size}")
    val_set = SegmentationDataset(root, [by_id[i] for i in record.val_ids], record.size)
    return train_set, DataLoader(val_set, batch_size=config.batch_size, num_workers=config.workers)


def start_run(dataset_dir: Path, run_dir: Path, start: Start, config: FinetuneConfig) -> RunRecord:
    """Split the data and write the initial run.json and weights of a new run."""
    if (run_dir / RUN_FILE).exists():
        raise FileExistsError(f"{run_dir} already holds a run; use --resume or another --out")
    size = config.size or start.architecture.size
    architecture = parse_spec(start.architecture.spec, size)
    train, val = split(dataset_dir, read_index(dataset_dir).items, config.val_fraction, config.seed)
    record = RunRecord(architecture=architecture.spec, size=size, base_tag=start.tag, base_path=start.path,
                       dataset=str(dataset_dir.resolve()), data_sha256=index_sha256(dataset_dir),
                       train_ids=[i.id for i in train], val_ids=[i.id for i in val], config=config)
    write_run(run_dir, record)
    save_weights(start.model, run_dir / BEST_WEIGHTS)
    return record


def train(run_dir: Path, resume: bool = False, max_minutes: float | None = None) -> RunRecord:
    """Train the run in run_dir (from its start weights, or from last.pt when resuming) until done.

    The time limit (config.max_minutes, or `max_minutes` for this session) counts from this call, so a run stopped
    by it continues when resumed; run.json's seconds keep the total.
    """
    record = read_run(run_dir)
    if max_minutes is not None:
        record.config = record.config.model_copy(update={"max_minutes": max_minutes})
    config = record.config
    device = pick_device(config.device)
    dtype = autocast_dtype(config.amp, device)
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 2) - 1))
    torch.manual_seed(config.seed)
    root = Path(record.dataset)
    train_set, val_loader = _loaders(record, root, config)
    model = load_trained(run_dir / BEST_WEIGHTS, record.parsed).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batches = len(train_set) // config.batch_size
    steps_per_epoch = max(1, batches // config.accumulate)
    total = min(config.max_steps or 10**12, config.epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, config.warmup, config.min_lr))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    epoch, step, bad, elapsed = 0, 0, 0, record.seconds
    state_path = run_dir / STATE_FILE
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        epoch, step, bad = state["epoch"], state["step"], state["bad"]
    base_weights = LossWeights(ssim=LossWeights().ssim if config.ssim else 0.0)
    session = time.monotonic()
    started = session - elapsed
    status = "completed"
    while epoch < config.epochs:
        weights = base_weights.iou_only() if epoch >= config.epochs - config.iou_only_epochs else base_weights
        train_set.epoch = epoch
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True,
                            num_workers=config.workers, generator=torch.Generator().manual_seed(config.seed + epoch))
        running: list[float] = []
        optimizer.zero_grad(set_to_none=True)
        progress = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for index, (images, masks) in enumerate(progress):
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                output = model(images.to(device))
            loss, _ = birefnet_loss(output, masks.to(device), weights)
            scaler.scale(loss / config.accumulate).backward()
            running.append(float(loss.detach()))
            progress.set_postfix(loss=f"{np.mean(running[-20:]):.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if (index + 1) % config.accumulate:
                continue
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            if step >= total and config.max_steps is not None:
                status = "step-limit"
                break
            if config.max_minutes and time.monotonic() - session > 60 * config.max_minutes:
                status = "time-limit"
                break
        progress.close()
        val_loss, val_iou = validate(model, val_loader, device, dtype, base_weights)
        epoch += 1
        record.history.append({"epoch": epoch, "step": step, "train_loss": float(np.mean(running)) if running else None,
                               "val_loss": val_loss, "val_iou": val_iou, "lr": scheduler.get_last_lr()[0],
                               "seconds": round(time.monotonic() - started, 1)})
        tqdm.write(f"epoch {epoch}: train loss {record.history[-1]['train_loss']:.4f}  val loss {val_loss:.4f}  "
                   f"val IoU {val_iou:.4f}")
        if record.best_val_iou is None or val_iou > record.best_val_iou + MIN_GAIN:
            record.best_val_iou, record.best_epoch, bad = val_iou, epoch, 0
            save_weights(model, run_dir / BEST_WEIGHTS)
        else:
            bad += 1
        if status == "completed" and bad >= config.patience:
            status = "early-stopped"
        record.seconds = round(time.monotonic() - started, 1)
        record.status = "running" if status == "completed" and epoch < config.epochs else status
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                    "epoch": epoch, "step": step, "bad": bad}, state_path)
        write_run(run_dir, record)
        if status != "completed":
            break
    record.status = status
    write_run(run_dir, record)
    return record
