"""The benchmark report: the accuracy note (how many of the reference's logits sit where rounding flips pixels), the
time outside the model, and the model load times."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench import goals, load_text, load_times, near_threshold_note, near_threshold_share, stage_table
from runners.store import ModelMetadata
from tests.tiny_model import build_tiny_birefnet


def test_the_note_counts_the_reference_rows_logits_near_the_threshold() -> None:
    logits = [np.array([[-3.0, -0.2, 0.1, 5.0]], np.float32), np.array([[0.3, -0.25, 2.0, -4.0]], np.float32)]
    results = [{"name": "onnxruntime-fp32-gather", "near_threshold_share": near_threshold_share(logits)},
               {"name": "openvino-bf16-gather"}]
    assert near_threshold_note(results) == "\n\n25.00% of the fp32 logits lie within 0.25 of the threshold."


def test_no_reference_row_no_note() -> None:
    assert near_threshold_note([]) == ""


def test_time_outside_the_model_is_the_median_of_each_runs_own_share() -> None:
    """Three runs (total, model): the median total minus the median model time would say 0.30 s; the runs' own
    differences (0.5, 0.2, 0.25 s) say 0.25 s."""
    runs = [(2.5, 2.0), (2.6, 2.4), (2.45, 2.2)]
    column = {"model": float(np.median([model for _, model in runs])),
              "total": float(np.median([total for total, _ in runs])),
              "non-model": float(np.median([total - model for total, model in runs]))}
    lines = stage_table({"in-process": column}).splitlines()[2:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in lines}
    assert (rows["non-model"], rows["non-model / model"]) == ("0.250", "0.11x")
    assert "| non-model / model (in-process) <= 10% | 11% | not met |" in goals({"in-process": column}, {})


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_model_load_is_timed_twice_the_second_time_from_the_cache(tmp_path: Path) -> None:
    model = build_tiny_birefnet(tmp_path / "m.onnx", size=64)
    spec = {"onnx": str(model), "metadata": ModelMetadata(input_size=64, dynamic_batch=True).model_dump(mode="json"),
            "threads": 1, "backend": "openvino", "precision": "fp32"}
    result = load_times(spec, tmp_path / "cache")
    assert result["first"]["seconds"] > 0 and result["cached"]["seconds"] > 0, result
    assert len(list((tmp_path / "cache").rglob("*.blob"))) == 1, "the first load compiled into the cache"
    assert load_text(result).startswith("openvino fp32, no accuracy guard: first load ")
    assert 0 < result["cached"]["warm_up_s"] < result["cached"]["seconds"], "an unguarded load warms up"
