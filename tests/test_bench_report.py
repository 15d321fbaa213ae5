"""The benchmark report's accuracy note: how many of the reference's logits sit where rounding flips pixels."""

from __future__ import annotations

import numpy as np

from benchmarks.bench import near_threshold_note, near_threshold_share


def test_the_note_counts_the_reference_rows_logits_near_the_threshold() -> None:
    logits = [np.array([[-3.0, -0.2, 0.1, 5.0]], np.float32), np.array([[0.3, -0.25, 2.0, -4.0]], np.float32)]
    results = [{"name": "onnxruntime-fp32-grid", "near_threshold_share": near_threshold_share(logits)},
               {"name": "openvino-bf16-grid"}]
    assert near_threshold_note(results) == "\n\n25.00% of the fp32 logits lie within 0.25 of the threshold."


def test_no_reference_row_no_note() -> None:
    assert near_threshold_note([]) == ""
