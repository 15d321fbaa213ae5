"""`make bench`: per-stage timings, backends, rembg and served throughput on one machine in one run."""
