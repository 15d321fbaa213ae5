"""`cutout models import`: read an ONNX model from any source, record how to feed it, register a store version."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx

from runners import convert, sources, store
from runners.checkpoints import WEIGHTS_FILE, is_checkpoint

VARIANT_HINTS = {"lite": "lite", "general": "general", "pvt": "pvt_v2_b2", "portrait": "portrait", "matting": "matting"}


class ModelImportError(store.StoreError):
    """An import that cannot proceed, with a message meant for the operator."""


@dataclass(frozen=True)
class OnnxFacts:
    """What the ONNX graph itself says about its input and outputs."""

    input_name: str
    input_size: int | None
    dynamic_batch: bool
    output_count: int


def inspect_onnx(path: Path) -> OnnxFacts:
    """Read input name/shape and output count without loading the weights."""
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:
        raise ModelImportError(f"{path} is not a readable ONNX model: {exc}") from exc
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise ModelImportError(f"{path} has {len(inputs)} inputs; a BiRefNet model takes one image tensor")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelImportError(f"{path} takes a {len(dims)}-d input; expected N x 3 x H x W")
    if dims[1].HasField("dim_value") and dims[1].dim_value != 3:
        raise ModelImportError(f"{path} takes {dims[1].dim_value} channels; expected 3 (RGB)")
    height, width = (dim.dim_value if dim.HasField("dim_value") else None for dim in dims[2:])
    if height is not None and height != width:
        raise ModelImportError(f"{path} takes a {height}x{width} input; only square inputs are supported")
    dynamic_batch = not dims[0].HasField("dim_value") or dims[0].dim_value <= 0
    return OnnxFacts(inputs[0].name, height, dynamic_batch, len(graph.output))


def find_onnx(path: Path, file: str | None = None) -> Path:
    """The ONNX file to import: PATH itself, or the one ONNX file inside a snapshot folder (or FILE in it)."""
    if path.is_file():
        return path
    if file:
        chosen = path / file
        if not chosen.is_file():
            raise ModelImportError(f"{file} is not in {path}")
        return chosen
    candidates = sorted(path.rglob("*.onnx"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelImportError(f"no .onnx file in {path}")
    names = ", ".join(str(candidate.relative_to(path)) for candidate in candidates)
    raise ModelImportError(f"{path} holds several ONNX files ({names}); choose one with --file")


def guess_variant(path: Path) -> str:
    """A variant name from the file name (BiRefNet_lite..., BiRefNet-general...), else 'unknown'."""
    lowered = path.name.lower()
    return next((variant for hint, variant in VARIANT_HINTS.items() if hint in lowered), "unknown")


def import_model(
    source: str,
    *,
    file: str | None = None,
    variant: str | None = None,
    size: int | None = None,
    output_index: int = -1,
    expected_sha256: str | None = None,
    promote: bool = False,
    fp16: bool = False,
    patch_order: convert.PatchOrderChoice = "auto",
) -> str:
    """Register SOURCE as a new `birefnet` version; promote it when asked or when nothing is served yet."""
    local = sources.resolve(source, expected_sha256)
    if is_checkpoint(local):
        tag = import_checkpoint(local, source, variant=variant, size=size, fp16=fp16, patch_order=patch_order)
    else:
        if patch_order != "auto":
            raise ModelImportError("--patch-order applies to PyTorch checkpoints; an ONNX graph computes in the order "
                                   "it was exported with, so it is imported as it is")
        tag = import_onnx(find_onnx(local, file), source, variant=variant, size=size, output_index=output_index)
    if promote or store.current_tag() is None:
        store.promote(tag)
    return tag


def import_checkpoint(path: Path, source: str, variant: str | None, size: int | None, fp16: bool,
                      patch_order: convert.PatchOrderChoice = "auto") -> str:
    """Convert a PyTorch checkpoint (old patch order converted to new) and register the ONNX export with the
    weights; the patch order and how it was decided go into the metadata."""
    with tempfile.TemporaryDirectory(prefix="cutout-convert-") as workdir:
        try:
            converted = convert.convert_checkpoint(path, Path(workdir), variant, size, fp16, patch_order)
        except convert.ConversionError as exc:
            raise ModelImportError(f"{path}: {exc}") from exc
        metadata = store.ModelMetadata(
            variant=converted.variant,
            input_size=converted.size,
            dynamic_batch=True,
            source=source,
            sha256=sources.sha256_of(converted.onnx_path),
            export_max_abs_diff=converted.max_abs_diff,
            patch_order=converted.patch_order.order,
            patch_order_check=converted.patch_order.record(),
        )
        files = {store.ONNX_FILE: converted.onnx_path, WEIGHTS_FILE: converted.weights_path}
        return store.register(files, metadata, labels={"origin": "checkpoint"})


def import_onnx(onnx_path: Path, source: str, variant: str | None, size: int | None, output_index: int) -> str:
    """Register a ready ONNX model after reading how to feed it from the graph."""
    facts = inspect_onnx(onnx_path)
    if facts.input_size and size and facts.input_size != size:
        raise ModelImportError(f"{onnx_path} has a fixed {facts.input_size}px input; --size {size} contradicts it")
    if not -facts.output_count <= output_index < facts.output_count:
        raise ModelImportError(f"--output-index {output_index} is out of range: the model has {facts.output_count} outputs")
    metadata = store.ModelMetadata(
        variant=variant or guess_variant(onnx_path),
        input_size=facts.input_size or size or 1024,
        input_name=facts.input_name,
        output_index=output_index,
        dynamic_batch=facts.dynamic_batch,
        source=source,
        sha256=sources.sha256_of(onnx_path),
    )
    return store.register({store.ONNX_FILE: onnx_path}, metadata, labels={"origin": "import"})
