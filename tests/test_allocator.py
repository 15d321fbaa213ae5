"""api.allocator: image-sized buffers freed by one request are reused by the next instead of faulted in again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server import glibc_default_env

REPO = Path(__file__).resolve().parent.parent
# In a fresh interpreter (the setting is process-wide): minor page faults per allocate-use-free cycle of 16 MB
# buffers, as a request's worker thread makes them, after one warm-up cycle.
FAULTS_PER_CYCLE = """
import json, resource, sys, threading
import numpy as np
from api.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
def cycle():
    planes = np.ones((2048, 2048), np.float32), np.ones((2048, 2048), np.float32)
    return float(planes[0][::97, ::89].sum() + planes[1][::89, ::97].sum())
def measure(out):
    cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        cycle()
    out["faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
result = {"applied": applied}
worker = threading.Thread(target=measure, args=(result,))
worker.start()
worker.join()
print(json.dumps(result))
"""


def faults_per_cycle(mode: str) -> dict:
    """Run FAULTS_PER_CYCLE with glibc's defaults at start (this process may have set the server's environment)."""
    done = subprocess.run([sys.executable, "-c", FAULTS_PER_CYCLE, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True, env=glibc_default_env())
    return json.loads(done.stdout)


def test_freed_buffers_are_reused_without_page_faults() -> None:
    kept = faults_per_cycle("keep")
    assert kept["applied"] is True
    assert kept["faults"] < 50, kept
    default = faults_per_cycle("default")
    assert default["faults"] > 10 * max(kept["faults"], 1), (default, kept)


def test_processes_started_afterwards_inherit_the_settings_unless_set() -> None:
    script = ("import json, os; from api.allocator import keep_freed_memory; keep_freed_memory(); "
              "print(json.dumps({name: os.environ[name] for name in sorted(os.environ) if name.startswith('MALLOC_')}))")
    env = {**glibc_default_env(), "MALLOC_ARENA_MAX": "4"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True, env=env)
    assert json.loads(done.stdout) == {"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
                                       "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}, "an operator's own setting wins"
