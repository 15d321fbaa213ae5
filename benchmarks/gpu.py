"""`python -m benchmarks.gpu`: images per second of BiRefNet on a GPU, per variant, precision and batch size.

The served torch backend's model runner (runners/backends/torch_backend.TorchModel: CUDA when PyTorch sees a GPU,
autocast for bf16/fp16, a batch in one forward pass) on seeded random weights (benchmarks/random_model.py; timing
does not depend on weight values), with each precision's accuracy against fp32 on the accuracy guard's two studio
photos (mask IoU, mean |alpha diff|: random weights make reduced precision look worse than real ones do). Needs only
PyTorch, OpenCV and safetensors, not BentoML, so it runs on a bare GPU machine; with no GPU it runs on the CPU
(use a small --size to check the script). Results: stdout, and gpu.md / gpu.json in --out.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch

from benchmarks.measure import median, repeat
from benchmarks.random_model import random_birefnet
from benchmarks.report import table
from runners.backends.accuracy import GUARD_PRODUCTS, studio_photo, worst_agreement
from runners.backends.torch_backend import TorchModel, torch_device
from runners.birefnet.config import IMAGENET_MEAN, IMAGENET_STD
from runners.preprocess import to_tensor

WARM_UP_RUNS = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="lite,general", help="BiRefNet variants (runners/birefnet/config.py)")
    parser.add_argument("--size", type=int, default=1024, help="model input size")
    parser.add_argument("--batches", default="1,4,16", help="batch sizes")
    parser.add_argument("--precisions", default="fp32,bf16,fp16", help="the first is the accuracy reference")
    parser.add_argument("--runs", type=int, default=5, help="timed forward passes per batch size (median)")
    parser.add_argument("--out", default="bench-out", help="folder for gpu.md and gpu.json")
    return parser.parse_args()


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def measure(runner: TorchModel, photo: np.ndarray, batch: int, runs: int) -> dict:
    """Median seconds per forward pass of `batch` copies of the photo, images per second, peak memory."""
    images = np.repeat(photo, batch, axis=0)
    for _ in range(WARM_UP_RUNS):
        runner.run(images)
    if runner.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runner.device)
    seconds = median(repeat(lambda: runner.run(images), runs))
    return {"batch": batch, "seconds": seconds, "images_per_s": batch / seconds,
            "peak_memory_mb": peak_memory_mb(runner.device)}


def bench_variant(variant: str, args: argparse.Namespace) -> list[dict]:
    """Every precision and batch size of one variant, on one random model."""
    photos = to_tensor([studio_photo(args.size, product) for product in GUARD_PRODUCTS], args.size,
                       IMAGENET_MEAN, IMAGENET_STD)
    model = random_birefnet(variant, torch.from_numpy(photos[:1]), 0, torch_device())
    reference, results = None, []
    for precision in args.precisions.split(","):
        runner = TorchModel(model, precision)
        logits = runner.run(photos)
        reference = logits if reference is None else reference
        verdict = worst_agreement(reference, logits)
        for batch in map(int, args.batches.split(",")):
            result = measure(runner, photos[:1], batch, args.runs)
            results.append({"variant": variant, "precision": precision, "device": runner.devices[0],
                            **result, "accuracy": verdict.as_dict()})
            print(json.dumps(results[-1]), flush=True)
    return results


def report(results: list[dict], args: argparse.Namespace) -> str:
    """The results as a markdown table, with the machine and the command's settings."""
    device = results[0]["device"] if results else "no results"
    rows = [[r["variant"], r["precision"], r["batch"], r["images_per_s"], 1000 * r["seconds"] / r["batch"],
             r["peak_memory_mb"], r["accuracy"]["iou"], r["accuracy"]["mean_abs_diff"],
             "pass" if r["accuracy"]["ok"] else "FAIL"] for r in results]
    header = ["variant", "precision", "batch", "images/s", "ms/image", "peak GPU MB", "min IoU vs fp32",
              "mean abs alpha diff", "guard"]
    return (f"# BiRefNet on {device.rsplit(' (', 1)[0]}\n\nPyTorch {torch.__version__}, Python "
            f"{platform.python_version()}; input {args.size}x{args.size}, random weights (seed 0, calibrated), "
            f"median of {args.runs} forward passes after {WARM_UP_RUNS} warm-ups\n\n" + table(header, rows))


def main() -> None:
    args = parse_args()
    results = [row for variant in args.variants.split(",") for row in bench_variant(variant, args)]
    text = report(results, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.md").write_text(text + "\n")
    (out / "gpu.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\n{text}\n\nwritten: {out / 'gpu.md'}, {out / 'gpu.json'}")


if __name__ == "__main__":
    main()
