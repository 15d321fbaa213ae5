"""benchmarks.gpu, the script a session with a GPU machine runs: it must work there without BentoML, so it is run
here on the CPU, small, with BentoML and pydantic made unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WITHOUT_SERVING_STACK = """
import runpy, sys
sys.modules["bentoml"] = None
sys.modules["pydantic"] = None
sys.argv = ["benchmarks.gpu", *sys.argv[1:]]
runpy.run_module("benchmarks.gpu", run_name="__main__")
"""


def test_gpu_benchmark_runs_without_the_serving_stack(tmp_path: Path) -> None:
    args = ["--variants", "lite", "--size", "64", "--batches", "1,2", "--precisions", "fp32,bf16", "--runs", "1",
            "--out", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", WITHOUT_SERVING_STACK, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "CUTOUT_DEVICE": "cpu"})
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "gpu.json").read_text())["results"]
    assert [(r["precision"], r["batch"]) for r in results] == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    assert all(r["images_per_s"] > 0 and r["device"].startswith("torch CPU") for r in results)
    assert results[0]["accuracy"]["iou"] == 1.0, "fp32 is its own reference"
    table = (tmp_path / "gpu.md").read_text()
    assert table.count("| lite |") == 4
