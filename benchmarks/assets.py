"""What the benchmark runs on: a cached 4000x4000 studio JPEG and a cached BiRefNet-lite-size model.

Without real weights the model is BiRefNet(VARIANTS["lite"]) with seeded random weights, calibrated on the studio
photo (benchmarks/random_model.py).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from runners.checkpoints import WEIGHTS_FILE
from runners.store import ModelMetadata

CACHE_ENV = "CUTOUT_BENCH_CACHE"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "runners" / "default_model" / "model.onnx"
PHOTO_SEED = 7
STUDIO = "studio.onnx"  # in the served export form (export_onnx's default)
EXPORT_REVISION = 6  # part of the cache folder's name: raise it when the export changes (2: deform convs in bands,
# 3: final 1x1 conv before the upsampling, 4: deform convs as row gathers, 5: ASPP without the branch concatenation,
# 6: the whole-image prompt's convs and projection as one conv)


def cache_dir() -> Path:
    """$CUTOUT_BENCH_CACHE, else ~/.cache/cutout-bench."""
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "cutout-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def studio_jpeg(size: int) -> Path:
    """A synthetic size x size studio product shot (scenes.synthetic, matte box on a white sweep), JPEG q92."""
    path = cache_dir() / f"studio-{size}-s{PHOTO_SEED}.jpg"
    if not path.exists():
        from scenes.synthetic import make_scene

        buffer = io.BytesIO()
        Image.fromarray(make_scene(PHOTO_SEED, size, kind="matte").image).save(buffer, "JPEG", quality=92)
        path.write_bytes(buffer.getvalue())
    return path


def photo_view(jpeg: Path, size: int) -> np.ndarray:
    """The photo as the model sees it: RGB at size x size."""
    with Image.open(jpeg) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BOX))


@dataclass(frozen=True)
class BenchModel:
    """An ONNX model to benchmark: its file (the served export form), metadata, a description, and when built here
    its fused-DeformConv twin and its studio-prior twin (same cost, product-shaped mask: what the end-to-end stages
    run)."""

    onnx: Path
    metadata: ModelMetadata
    description: str
    fused: Path | None = None
    studio: Path | None = None
    random_weights: bool = False

    @property
    def end_to_end(self) -> Path:
        """The file the pipeline, server and rembg run."""
        return self.studio or self.onnx


def _random_lite(size: int, jpeg: Path, seed: int):  # noqa: ANN202 (torch is imported lazily)
    """The calibrated random-weight lite model (benchmarks/random_model.py), calibrated on the benchmark photo."""
    import torch

    from benchmarks.random_model import random_birefnet
    from runners.preprocess import to_tensor

    metadata = ModelMetadata(variant="lite", input_size=size)
    photo = to_tensor([photo_view(jpeg, size)], size, metadata.mean, metadata.std)
    return random_birefnet("lite", torch.from_numpy(photo), seed)


def random_lite_model(size: int, jpeg: Path, seed: int = 0) -> BenchModel:
    """Build (once; cached) the random lite model and its exports: deform convs as row gathers (served), fused DeformConv,
    and the served export behind a studio prior (benchmarks/studio_prior.py) for the end-to-end stages."""
    folder = cache_dir() / f"lite-random-{size}-s{seed}-r{EXPORT_REVISION}"
    files = {name: folder / name for name in ("gather.onnx", "fused.onnx", STUDIO, WEIGHTS_FILE)}
    missing = [name for name, path in files.items() if not path.exists()]
    if missing:
        from safetensors.torch import save_file

        from benchmarks.studio_prior import StudioPrior
        from runners.birefnet import export_onnx

        model = _random_lite(size, jpeg, seed)
        folder.mkdir(parents=True, exist_ok=True)
        writers = {
            "gather.onnx": lambda path: export_onnx(model, path, size),
            "fused.onnx": lambda path: export_onnx(model, path, size, deform="fused"),
            STUDIO: lambda path: export_onnx(StudioPrior(model), path, size),
            WEIGHTS_FILE: lambda path: save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path)),
        }
        for name in missing:
            writers[name](folder / f"tmp-{name}")
            (folder / f"tmp-{name}").rename(files[name])
    metadata = ModelMetadata(variant="lite", input_size=size, dynamic_batch=True, source=str(folder))
    return BenchModel(files["gather.onnx"], metadata,
                      f"BiRefNet lite (Swin-T) at {size}, random weights (seed {seed}, calibrated)",
                      files["fused.onnx"], files[STUDIO], random_weights=True)


def resolve_model(spec: str | None, size: int, jpeg: Path) -> BenchModel:
    """--model: an ONNX path, a store tag, or nothing (the random lite model)."""
    if spec is None:
        return random_lite_model(size, jpeg)
    if spec.endswith(".onnx"):
        from runners.importer import inspect_onnx

        facts = inspect_onnx(Path(spec))
        metadata = ModelMetadata(input_size=facts.input_size or size, input_name=facts.input_name,
                                 dynamic_batch=facts.dynamic_batch, source=spec)
        return BenchModel(Path(spec), metadata, f"{spec} (given)")
    from runners import store

    tag = store.normalize_tag(spec)
    return BenchModel(store.file_of(tag), store.metadata_of(tag), f"{tag} from the store at {store.store_home()}")


def trained_model() -> BenchModel | None:
    """A model with real weights for the accuracy comparison: runners/default_model/model.onnx, else the promoted
    version of the store, else None."""
    if DEFAULT_MODEL.exists():
        return resolve_model(str(DEFAULT_MODEL), 1024, DEFAULT_MODEL)
    from runners import store

    tag = store.current_tag()
    return resolve_model(tag, 1024, DEFAULT_MODEL) if tag else None
