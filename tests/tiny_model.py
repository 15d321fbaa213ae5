"""A tiny ONNX network with BiRefNet's input/output contract, built by the tests (no download, no torch).

logits = gain * (threshold - sum of normalised RGB): dark and coloured pixels are foreground, studio white is
background, so served results are real cutouts. `invert=True` swaps the two, to tell two versions apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_tiny_birefnet(
    path: Path,
    size: int = 64,
    dynamic_batch: bool = True,
    invert: bool = False,
    extra_outputs: int = 0,
    threshold: float = 6.0,
    gain: float = 8.0,
    busy_layers: int = 0,
) -> Path:
    """Write the network to PATH (input 'input' N x 3 x size x size, last output = logits N x 1 x size x size).

    `busy_layers` adds a branch of 3x3 convolutions whose result is multiplied by zero: the same masks, but
    inference takes real time, so concurrent requests queue up and the runner forms batches.
    """
    sign = 1.0 if invert else -1.0
    weight = numpy_helper.from_array(np.full((1, 3, 1, 1), sign * gain, np.float32), "weight")
    bias = numpy_helper.from_array(np.array([-sign * gain * threshold], np.float32), "bias")
    batch = "batch" if dynamic_batch else 1
    nodes = [helper.make_node("Conv", ["input", "weight", "bias"], ["logits"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 1, size, size])]
    initializers = [weight, bias]
    if busy_layers:
        nodes[0].output[0] = "fast_logits"
        rng = np.random.default_rng(0)
        previous, channels = "input", 3
        for layer in range(busy_layers):
            kernel = f"busy_weight_{layer}"
            initializers.append(numpy_helper.from_array(rng.normal(0, 0.1, (16, channels, 3, 3)).astype(np.float32), kernel))
            nodes.append(helper.make_node("Conv", [previous, kernel], [f"busy_{layer}"], pads=[1, 1, 1, 1]))
            previous, channels = f"busy_{layer}", 16
        initializers.append(numpy_helper.from_array(np.zeros((1, 16, 1, 1), np.float32), "zero"))
        nodes.append(helper.make_node("Conv", [previous, "zero"], ["nothing"]))
        nodes.append(helper.make_node("Add", ["fast_logits", "nothing"], ["logits"]))
    for index in range(extra_outputs):
        name = f"side_{index}"
        nodes.append(helper.make_node("Neg", ["logits"], [name]))
        outputs.insert(0, helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, 1, size, size]))
    graph = helper.make_graph(
        nodes,
        "tiny_birefnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, size, size])],
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def product_photo(width: int = 320, height: int = 240, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A studio shot: white background, a dark-red product rectangle (x0, y0, x1, y1)."""
    image = np.full((height, width, 3), 250, np.uint8)
    x0, y0, x1, y1 = box or (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    image[y0:y1, x0:x1] = (150, 30, 30)
    return image
