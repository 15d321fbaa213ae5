"""OpenVINO on the CPU: bf16 where the CPU has native bf16 (AVX512-BF16/AMX), else fp32.

ONNX `DeformConv` nodes (our fused deformable-conv export) are mapped onto OpenVINO's DeformableConvolution with
torchvision's border handling; other graphs (the row-gather export) are read as they are. Under bf16 a few
precision-sensitive convolutions stay in fp32 (FP32_CONVOLUTIONS). With a model cache the prepared model is kept there
as IR beside its compiled blobs, so that a later load finds the blob without reading the model at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
from onnx import helper, numpy_helper

from runners.backends.base import BackendError, BackendName, Precision
from runners.backends.cache import model_cache
from runners.backends.device import DEVICE_ENV, wanted_device
from runners.store import ModelMetadata

OV_DOMAIN = "org.openvinotoolkit"
HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16"}
# PVT-v2's spatial-reduction convs (kernel = stride up to 8): in bf16 on AMX they flipped the bundled model's mask on
# 6 of the bench's 16 inputs and on the guard's white box (IoU down to 0.87; AVX512-BF16 without AMX passed all 16);
# kept in fp32, all pass (min IoU 0.994) at the same speed.
FP32_CONVOLUTIONS = re.compile(r"/attn/sr(_\d+)?/")
# OpenVINO's CPU plugin runs a layer in its original precision when the layer carries this runtime attribute (the one
# ov::disable_fp16_compression sets); the Python API cannot set it, but the IR reader takes it from the XML.
KEEP_PRECISION = {"name": "precise", "version": "0", "value": "dynamic:f16"}
PREPARED_IR = "model.xml"  # with model.bin beside it
logger = logging.getLogger("cutout.backends")


def _deform_conv_nodes(node: onnx.NodeProto, bias_shape: str) -> list[onnx.NodeProto]:
    """ONNX DeformConv(X, W, offset, B, mask) -> OpenVINO DeformableConv2D(X, offset, W, mask) + B."""
    x, weight, offset, bias, mask = (list(node.input) + [""] * 5)[:5]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    conv_inputs = [x, offset, weight] + ([mask] if mask else [])
    out = node.output[0]
    convolved = out if not bias else f"{out}/unbiased"
    keep = {name: attrs[name] for name in ("strides", "pads", "dilations", "group") if name in attrs}
    nodes = [helper.make_node("DeformableConv2D", conv_inputs, [convolved], domain=OV_DOMAIN,
                              deformable_groups=attrs.get("offset_group", 1), **keep)]
    if bias:
        nodes += [helper.make_node("Reshape", [bias, bias_shape], [f"{out}/bias"]),
                  helper.make_node("Add", [convolved, f"{out}/bias"], [out])]
    return nodes


def openvino_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with every DeformConv replaced by OpenVINO's own deformable-conv op (in place; returned)."""
    graph = model.graph
    if not any(node.op_type == "DeformConv" for node in graph.node):
        return model
    bias_shape = "openvino/deform_bias_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([1, -1, 1, 1], np.int64), bias_shape))
    nodes = [new for node in graph.node
             for new in (_deform_conv_nodes(node, bias_shape) if node.op_type == "DeformConv" else [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    model.opset_import.append(helper.make_opsetid(OV_DOMAIN, 1))
    return model


def read_model(core: ov.Core, onnx_path: Path) -> ov.Model:
    """The ONNX file (or an OpenVINO IR .xml made from one, such as the benchmark's int8 model) as an OpenVINO
    model; deformable convs sample like torchvision (bilinear within 1 px outside)."""
    if onnx_path.suffix == ".xml":
        model = core.read_model(str(onnx_path))
    else:
        model = core.read_model(openvino_onnx(onnx.load(str(onnx_path))).SerializeToString())
    for op in model.get_ops():
        if op.get_type_name() == "DeformableConvolution":
            op.set_attribute("bilinear_interpolation_pad", True)
    return model


def keep_fp32(core: ov.Core, model: ov.Model, pattern: re.Pattern[str]) -> ov.Model:
    """The model with every convolution whose name matches `pattern` marked to keep fp32 under a bf16 hint (round
    trip through IR text, as above); the model itself when none matches."""
    names = {op.get_friendly_name() for op in model.get_ops()
             if op.get_type_name() == "Convolution" and pattern.search(op.get_friendly_name())}
    if not names:
        return model
    with tempfile.TemporaryDirectory(prefix="cutout-ov-") as folder:
        xml_path = Path(folder) / "model.xml"
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
        tree = ET.parse(xml_path)
        weights = np.fromfile(xml_path.with_suffix(".bin"), np.uint8)
    for layer in tree.getroot().iter("layer"):
        if layer.get("type") == "Convolution" and layer.get("name") in names:
            rt_info = layer.find("rt_info")
            ET.SubElement(ET.SubElement(layer, "rt_info") if rt_info is None else rt_info, "attribute", KEEP_PRECISION)
    return core.read_model(ET.tostring(tree.getroot(), encoding="unicode"), ov.Tensor(weights))


def prepared_model(core: ov.Core, onnx_path: Path, metadata: ModelMetadata, precision: Precision) -> ov.Model:
    """The model as it is compiled: read (read_model), fixed to one image at the input size, and under bf16 with the
    precision-sensitive convolutions marked to stay fp32."""
    model = read_model(core, onnx_path)
    size = metadata.input_size
    model.reshape({metadata.input_name: [1, 3, size, size]})
    return keep_fp32(core, model, FP32_CONVOLUTIONS) if precision == "bf16" else model


def preparation_folder(cache: Path, metadata: ModelMetadata, precision: Precision) -> Path:
    """The folder, in a model's cache folder, of one preparation: its IR and OpenVINO's compiled blobs. The name
    holds the input size, the precision and a digest of what else shapes the IR (this module's code, the OpenVINO
    version, the input's name), so that a change of any of them prepares afresh."""
    recipe = hashlib.sha256(Path(__file__).read_bytes())
    recipe.update(f"{ov.get_version()} {metadata.input_name}".encode())
    return cache / "openvino" / f"{metadata.input_size}-{precision}-{recipe.hexdigest()[:16]}"


def save_prepared(model: ov.Model, folder: Path) -> Path:
    """Save the prepared model as IR in `folder` (the .bin first, the .xml last, each renamed into place: an .xml
    that exists is complete). Stale siblings go: preparations of the same size and precision by other code or
    OpenVINO versions, and the blobs that loads before per-preparation folders kept beside them."""
    size_and_precision = folder.name.rsplit("-", 1)[0]
    for stale in folder.parent.glob(f"{size_and_precision}-*"):
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    for blob in folder.parent.glob("*.blob"):
        blob.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".prepared-") as temporary:
        ov.save_model(model, str(Path(temporary) / PREPARED_IR), compress_to_fp16=False)
        os.replace(Path(temporary) / Path(PREPARED_IR).with_suffix(".bin"), (folder / PREPARED_IR).with_suffix(".bin"))
        os.replace(Path(temporary) / PREPARED_IR, folder / PREPARED_IR)
    return folder / PREPARED_IR


def compile_cached(core: ov.Core, onnx_path: Path, metadata: ModelMetadata, precision: Precision,
                   config: dict) -> ov.CompiledModel:
    """The compiled model. With a model cache it is compiled from the prepared IR kept there: OpenVINO then finds
    its compiled blob by the file alone, without reading the model (`make bench` times loads with an empty cache and
    from it; README, Benchmarks). The first load prepares and saves the IR; an IR that does not load is prepared
    again; without a cache nothing is kept."""
    cache = model_cache(onnx_path)
    if cache is None:
        return core.compile_model(prepared_model(core, onnx_path, metadata, precision), "CPU", config)
    folder = preparation_folder(cache, metadata, precision)
    core.set_property({"CACHE_DIR": str(folder)})
    if (folder / PREPARED_IR).exists():
        try:
            return core.compile_model(str(folder / PREPARED_IR), "CPU", config)
        except RuntimeError as exc:
            logger.warning("the prepared model in %s does not load (%s): preparing it again", folder, exc)
    model = prepared_model(core, onnx_path, metadata, precision)
    try:
        prepared = save_prepared(model, folder)
    except (OSError, RuntimeError) as exc:
        logger.warning("could not keep the prepared model in %s (%s): the next load reads it again", folder, exc)
        return core.compile_model(model, "CPU", config)
    return core.compile_model(str(prepared), "CPU", config)


class OpenVinoBackend:
    """One compiled OpenVINO model with a fixed batch of 1, run once per image (batching gains nothing on a CPU)."""

    name: BackendName = "openvino"

    def __init__(self, onnx_path: Path, metadata: ModelMetadata, threads: int, precision: Precision = "bf16") -> None:
        if precision not in HINTS:
            raise BackendError(f"OpenVINO on the CPU runs fp32 or bf16 (asked for {precision})")
        device = wanted_device()
        if device in ("cuda", "tensorrt"):
            raise BackendError(f"OpenVINO runs on the CPU here; {DEVICE_ENV}={device} needs the onnxruntime or torch "
                               "backend")
        self.precision = precision
        self.metadata = metadata
        self.compiled = compile_cached(ov.Core(), onnx_path, metadata, precision, {
            "INFERENCE_PRECISION_HINT": HINTS[precision],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        })
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[metadata.output_index]
        self.input_dtype = np.float16 if self.compiled.input(0).get_element_type() == ov.Type.f16 else np.float32

    @property
    def devices(self) -> list[str]:
        return [f"OpenVINO CPU ({self.precision})"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        outputs = [
            np.array(self.request.infer({0: image[None].astype(self.input_dtype, copy=False)})[self.output])
            for image in batch
        ]
        return np.concatenate(outputs).astype(np.float32, copy=False)
