"""ONNX export of the smallest configs: dynamic batch, parity with PyTorch, fp16 graph interface."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from runners.birefnet import BiRefNet, BiRefNetConfig, DeformableConv2d, check_onnx_parity, deform_conv, export_onnx

from .conftest import TINY, calibrate_norms, randomize


@pytest.fixture(scope="module", params=sorted(TINY), ids=sorted(TINY))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[BiRefNet, Path]:
    """A randomly weighted tiny model with calibrated norms (left in training mode) and its fp32 ONNX export, once per
    family."""
    model = calibrate_norms(randomize(BiRefNet(TINY[request.param])))
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    return model, export_onnx(model, path, model.config.size)


def test_graph_interface_has_dynamic_batch(exported: tuple[BiRefNet, Path]) -> None:
    model, path = exported
    graph = onnx.load(str(path)).graph
    size = model.config.size
    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == ("input", "logits")
    for value, channels in ((inp, 3), (out, 1)):
        dims = value.type.tensor_type.shape.dim
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [channels, size, size]


@pytest.mark.parametrize("batch", [1, 2])
def test_onnx_runtime_matches_pytorch(exported: tuple[BiRefNet, Path], batch: int) -> None:
    """At batch 2 this catches a graph that samples one image's features for every image of a batch (the exporter
    once folded the deformable convs' batch index into a constant: 0.02 and 0.07 off instead of 2e-7)."""
    model, path = exported
    assert model.training, "export must restore the caller's mode"
    assert check_onnx_parity(model, path, model.config.size, batch=batch).max_abs_diff < 1e-3


def test_fp16_export_keeps_float32_io(tmp_path: Path) -> None:
    config = TINY["swin"]
    model = randomize(BiRefNet(config)).eval()
    path = export_onnx(model, tmp_path / "model_fp16.onnx", config.size, fp16=True)
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    parity = check_onnx_parity(model, path, config.size)
    assert parity.max_abs_diff < 1e-2 and parity.mismatch(fp16=True) is None


def test_rejects_opsets_without_the_deform_ops(tmp_path: Path, tiny_config: BiRefNetConfig) -> None:
    with pytest.raises(ValueError, match="Unflatten"):
        export_onnx(BiRefNet(tiny_config), tmp_path / "m.onnx", tiny_config.size, deform="gather", opset=12)
    with pytest.raises(ValueError, match="DeformConv"):
        export_onnx(BiRefNet(tiny_config), tmp_path / "m.onnx", tiny_config.size, deform="fused", opset=17)


@pytest.mark.parametrize("deform", ["fused", "gather", "gather-in-1-row-bands"])
def test_deformable_convs_export_as_one_node_or_as_row_gathers(tmp_path: Path, deform: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model = calibrate_norms(randomize(BiRefNet(TINY["swin"]))).eval()
    if deform == "gather-in-1-row-bands":
        monkeypatch.setattr(deform_conv, "BAND_BYTES", 1)
    path = export_onnx(model, tmp_path / "model.onnx", model.config.size, deform=deform.split("-")[0])
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    layers = sum(isinstance(module, DeformableConv2d) for module in model.modules())
    assert ("DeformConv" in ops) == (deform == "fused")
    # Each band splits its offsets into whole pixels with one Floor.
    if deform == "fused":
        assert "Floor" not in ops
    elif deform == "gather":
        assert ops.count("Floor") == layers, "a tiny model's layers each fit in one band"
    else:
        assert ops.count("Floor") > 4 * layers, "every output row of every layer is sampled on its own"
    assert check_onnx_parity(model, path, model.config.size).max_abs_diff < 1e-3
