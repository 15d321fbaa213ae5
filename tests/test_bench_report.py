"""The benchmark report's accuracy note: how many of the reference's logits sit where rounding flips pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.bench import near_threshold_note


def test_the_note_counts_the_reference_rows_logits_near_the_threshold(tmp_path: Path) -> None:
    np.save(tmp_path / "logits-onnxruntime-fp32-grid-0.npy", np.array([[-3.0, -0.2, 0.1, 5.0]], np.float32))
    np.save(tmp_path / "logits-onnxruntime-fp32-grid-1.npy", np.array([[0.3, -0.25, 2.0, -4.0]], np.float32))
    np.save(tmp_path / "logits-openvino-bf16-grid-0.npy", np.zeros((1, 4), np.float32))
    results = [{"name": "onnxruntime-fp32-grid"}, {"name": "openvino-bf16-grid"}]
    assert near_threshold_note(tmp_path, results, 2) == "\n\n25.00% of the fp32 logits lie within 0.25 of the threshold."


def test_no_reference_row_no_note(tmp_path: Path) -> None:
    assert near_threshold_note(tmp_path, [], 2) == ""
