"""One measurement in a fresh process (`python -m benchmarks.worker KIND SPEC_JSON`): one of KINDS."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.measure import emit, median, repeat
from runners.inference import inference_threads
from runners.store import ModelMetadata


def model_only(spec: dict) -> dict:
    """Load one backend at one precision; time it on the first input; save its logits for every input."""
    from runners.backends import construct

    metadata = ModelMetadata.model_validate(spec["metadata"])
    start = time.perf_counter()
    backend = construct(spec["backend"], Path(spec["onnx"]), metadata, inference_threads(spec["threads"]),
                        spec["precision"])
    load_s = time.perf_counter() - start
    inputs = [np.load(path) for path in spec["inputs"]]
    for batch, out in zip(inputs, spec["logits_out"]):
        np.save(out, backend.run(batch))
    times = repeat(lambda: backend.run(inputs[0]), spec["runs"])
    return {"load_s": load_s, "times": times, "median_s": median(times), "devices": backend.devices}


def pipeline(spec: dict) -> dict:
    """The whole in-process recipe (api.processor.Processor) per preset, with the model step split up."""
    from api.allocator import keep_freed_memory
    from api.processor import Processor
    from api.recipe import load_preset
    from runners.inference import OnnxSegmenter

    metadata = ModelMetadata.model_validate(spec["metadata"])
    segmenter = OnnxSegmenter(Path(spec["onnx"]), metadata, spec["threads"], spec["backend"], spec["precision"])
    split: dict[str, float] = {}
    info = {"tag": "bench", "metadata": metadata.model_dump()}
    keep_freed_memory()
    processor = Processor(lambda images: segmenter.predict(images, split), lambda: info, 400_000_000)
    data = Path(spec["jpeg"]).read_bytes()
    results = {}
    for preset in spec["presets"]:
        recipe = load_preset(preset)
        processor.render(data, recipe, "bench")
        runs = []
        for _ in range(spec["runs"]):
            split.clear()
            start = time.perf_counter()
            rendered = processor.render(data, recipe, "bench")
            total = time.perf_counter() - start
            runs.append({"total": total, **rendered.timings, **split, "non_model": total - split["inference"]})
        results[preset] = {"stages": {key: median([run[key] for run in runs]) for key in runs[0]},
                           "bytes": len(rendered.body)}
    return {"inference": segmenter.describe(), "presets": results}


def load(spec: dict) -> dict:
    """Load the served model as the runner does (backend choice, accuracy guard, warm-up), timed in all and the
    warm-up inference apart."""
    from runners.inference import OnnxSegmenter

    start = time.perf_counter()
    segmenter = OnnxSegmenter(Path(spec["onnx"]), ModelMetadata.model_validate(spec["metadata"]), spec["threads"],
                              spec["backend"], spec["precision"])
    built = time.perf_counter()
    segmenter.warm_up()
    done = time.perf_counter()
    return {"seconds": done - start, "warm_up_s": done - built, "inference": segmenter.describe()}


def quantize(spec: dict) -> dict:
    """int8-quantize the ONNX model into spec["out"] (benchmarks/int8.py)."""
    from benchmarks.int8 import quantize as quantize_int8

    start = time.perf_counter()
    quantize_int8(Path(spec["onnx"]), ModelMetadata.model_validate(spec["metadata"]), Path(spec["out"]))
    return {"seconds": time.perf_counter() - start}


def rembg_remove(spec: dict) -> dict:
    """rembg.remove() on the JPEG bytes (full-resolution RGBA PNG out), and its model step alone."""
    from PIL import Image
    from rembg import remove

    from benchmarks.rembg_session import local_session

    session = local_session(Path(spec["onnx"]))
    data = Path(spec["jpeg"]).read_bytes()
    remove(data, session=session)
    totals = repeat(lambda: remove(data, session=session), spec["runs"])
    image = Image.open(io.BytesIO(data)).convert("RGB")
    predicts = repeat(lambda: session.predict(image), spec["runs"])
    output = remove(data, session=session)
    return {"total_s": median(totals), "predict_s": median(predicts), "bytes": len(output)}


def matmul_gflops(product: Callable[[], object], side: int) -> float:
    """Best-of-5 GFLOP/s of one side x side matrix product."""
    product()
    return 2 * side**3 / min(repeat(product, 5)) / 1e9


def peak(spec: dict) -> dict:
    """This machine's matmul throughput (2048^2, all cores; fp32: the better of numpy's BLAS and torch's, bf16:
    torch/oneDNN) and the model's GFLOP per image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from runners.birefnet import VARIANTS, BiRefNet

    side = 2048
    a32, b32 = np.random.default_rng(0).random((2, side, side), np.float32)
    t32, u32 = torch.from_numpy(a32), torch.from_numpy(b32)
    t16, u16 = t32.bfloat16(), u32.bfloat16()
    rates = {"fp32": max(matmul_gflops(lambda: a32 @ b32, side), matmul_gflops(lambda: t32 @ u32, side)),
             "bf16": matmul_gflops(lambda: t16 @ u16, side)}
    with torch.device("meta"):
        model = BiRefNet(VARIANTS[spec["variant"]]).eval()
        image = torch.empty(1, 3, spec["size"], spec["size"])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    return {"gflops_per_s": rates, "model_gflop": counter.get_total_flops() / 1e9}


KINDS = {"model": model_only, "load": load, "pipeline": pipeline, "quantize": quantize, "rembg": rembg_remove,
         "peak": peak}

if __name__ == "__main__":
    emit(KINDS[sys.argv[1]](json.loads(sys.argv[2])))
