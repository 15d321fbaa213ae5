"""`make bench` / `python -m benchmarks.bench`: where the time goes for a 4000x4000 studio JPEG, on this machine.

1. model only (the floor): each backend x precision x deformable-conv export, int8 included (benchmarks/int8.py),
   with accuracy against ONNX Runtime fp32 (mask IoU, mean |alpha diff|, max |logit diff|) on realistic inputs,
   and again on a trained model over held-out scenes of every product kind;
2. the in-process pipeline (api.processor.Processor) per preset, stage by stage, on the automatic backend;
3. rembg's remove() on the same ONNX model and JPEG (optional dependency: pip install -e '.[bench]');
4. a real `bentoml serve`: Server-Timing stages, throughput with 1/4/8 concurrent clients, server memory.
Every measurement that loads a model runs in its own process (clean peak memory). Results: stdout and --out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import served
from benchmarks.assets import BenchModel, photo_view, resolve_model, studio_jpeg, trained_model
from benchmarks.int8 import cached_path, nncf_installed
from benchmarks.measure import in_subprocess, load_average, machine
from benchmarks.report import ratio, table
from runners.backends import available
from runners.backends.accuracy import Agreement, agreement
from runners.backends.cache import CACHE_ENV
from runners.birefnet.config import VARIANTS
from runners.checkpoints import WEIGHTS_FILE
from runners.preprocess import to_tensor
from runners.store import ModelMetadata
from scenes.synthetic import KINDS, make_scene

STAGES = ("decode", "preprocess", "model", "mask refine", "compose", "encode")
SECOND_SCENE = (3, "white")
HELD_OUT_SCENES = [(5000 + index, kind) for index, kind in enumerate(KINDS * 2)]
MODEL_ROWS = "onnxruntime:fp32,openvino:fp32,openvino:bf16,openvino:int8,torch:bf16"
NEAR_THRESHOLD = 0.25
RANDOM_WEIGHTS_NOTE = (
    " These are random weights, whose logits spread smoothly around the threshold, so reduced precision flips more "
    "pixels than on trained weights, which are saturated away from the object's edges. What is served is decided by "
    "the trained model's verdicts (below; real weights: --model) and by the server's own guard when it loads a model.")
GOAL_SECONDS = 1.5
GOAL_VS_REMBG = 3.5
GOAL_NON_MODEL = 0.10
GOAL_GROWTH = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed repetitions per measurement (medians)")
    parser.add_argument("--size", type=int, default=1024, help="model input size of the random lite model")
    parser.add_argument("--photo-size", type=int, default=4000, help="side of the studio JPEG")
    parser.add_argument("--model", help="an ONNX file or a store tag instead of the random lite model")
    parser.add_argument("--backends", default=MODEL_ROWS,
                        help="backend:precision pairs for the model-only table (missing runtimes are skipped; int8 is "
                             "NNCF post-training quantization for OpenVINO, of the served export only)")
    parser.add_argument("--presets", default="shop-hero,transparent", help="recipes for the pipeline tables")
    parser.add_argument("--clients", default="1,4,8", help="concurrency levels for the throughput table")
    parser.add_argument("--requests", type=int, default=3,
                        help="requests per client in each of a level's two rounds (a round of 8 clients spends one "
                             "request each filling the pipeline and one draining it, so fewer understate the steady "
                             "state)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0: all cores)")
    parser.add_argument("--backend", default="auto", help="backend of the pipeline and served runs")
    parser.add_argument("--precision", default="auto", help="precision of the pipeline and served runs")
    parser.add_argument("--skip-rembg", action="store_true")
    parser.add_argument("--skip-served", action="store_true")
    parser.add_argument("--skip-models", action="store_true", help="skip the model-only backend table")
    parser.add_argument("--soak", type=int, default=0, help="N requests (8 clients) against a server with a tiny "
                        "test model, server memory sampled every N/10: growth means a leak outside the model")
    parser.add_argument("--soak-photo-size", type=int, default=2000, help="side of the soak test's JPEG")
    parser.add_argument("--out", default="bench-out", help="folder for bench.md and bench.json")
    return parser.parse_args()


def model_inputs(model: BenchModel, jpeg: Path, folder: Path, scenes: list[tuple[int, str]]) -> list[str]:
    """Normalised batches saved as .npy: the benchmark photo, then generated scenes (seed, product kind)."""
    size, meta = model.metadata.input_size, model.metadata
    views = [photo_view(jpeg, size)] + [make_scene(seed, size, kind=kind).image for seed, kind in scenes]
    paths = []
    for index, view in enumerate(views):
        path = folder / f"input-{size}-{index}.npy"
        np.save(path, to_tensor([view], size, meta.mean, meta.std))
        paths.append(str(path))
    return paths


def int8_file(onnx: Path, metadata: ModelMetadata) -> Path | str:
    """The int8 OpenVINO IR of onnx (quantized once in a worker, then cached), or why there is none."""
    if not nncf_installed():
        return "skipped: needs OpenVINO and NNCF (pip install -e '.[bench]')"
    out = cached_path(onnx)
    if not out.exists():
        result = in_subprocess("quantize", {"onnx": str(onnx), "metadata": metadata.model_dump(mode="json"),
                                            "out": str(out)})
        if "error" in result:
            return f"quantization failed: {result['error']}"
    return out


def exports(model: BenchModel) -> dict[str, Path]:
    """The model files to compare: the row-gather export (served) and the fused-DeformConv one when both exist."""
    return {"gather": model.onnx, "fused": model.fused} if model.fused else {"given": model.onnx}


def model_table(model: BenchModel, args: argparse.Namespace, folder: Path, inputs: list[str]) -> tuple[str, list]:
    """Model-only latency per backend/precision/export, with accuracy against the first row (ORT fp32)."""
    installed = available()
    combos = [("onnxruntime", "fp32")] + [tuple(item.split(":")) for item in args.backends.split(",")]
    rows, results = [], []
    reference: list[np.ndarray] | None = None
    for export, onnx in exports(model).items():
        for backend, precision in dict.fromkeys(combos):
            if backend not in installed or (backend == "torch" and not onnx.with_name(WEIGHTS_FILE).exists()):
                continue
            if (backend == "torch" or precision == "int8") and export == "fused":
                continue  # torch reads the weights beside the export; int8 is tried on the served export only
            model_file, run_precision = onnx, precision
            if precision == "int8":
                quantized = int8_file(onnx, model.metadata) if backend == "openvino" else "int8 needs OpenVINO"
                if isinstance(quantized, str):
                    rows.append([backend, precision, export, quantized] + [None] * 7)
                    continue
                model_file, run_precision = quantized, "bf16"  # layers left in float run as bf16 would
            name = f"{backend}-{precision}-{export}"
            outs = [str(folder / f"logits-{name}-{index}.npy") for index in range(len(inputs))]
            result = in_subprocess("model", {"onnx": str(model_file),
                                             "metadata": model.metadata.model_dump(mode="json"),
                                             "backend": backend, "precision": run_precision, "threads": args.threads,
                                             "runs": args.runs, "inputs": inputs, "logits_out": outs})
            if "error" in result:
                rows.append([backend, precision, export, f"failed: {result['error']}"] + [None] * 7)
                continue
            logits = [np.load(path) for path in outs]
            if reference is None:
                reference = logits
                result["near_threshold_share"] = near_threshold_share(logits)
            agreements = [agreement(ref, got) for ref, got in zip(reference, logits)]
            worst = min(agreements, key=lambda item: (item.ok, item.iou))
            result.update(name=name, backend=backend, precision=precision, export=export,
                          accuracy=[item.as_dict() for item in agreements])
            results.append(result)
            rows.append([backend, precision, "weights" if backend == "torch" else export, result["median_s"],
                         ratio(results[0]["median_s"], result["median_s"]), result["load_s"], result["peak_rss_mb"],
                         worst.iou, worst.mean_abs_diff, worst.max_logit_diff, verdict(agreements)])
    header = ["backend", "precision", "deform export", "median s", "speed-up", "load s", "peak RSS MB",
              "min IoU", "max mean abs alpha diff", "max abs logit diff", "guard"]
    return table(header, rows), results


def near_threshold_share(logits: list[np.ndarray]) -> float:
    """The share of logits within NEAR_THRESHOLD of the mask threshold (0): the pixels that reduced precision's
    rounding can flip."""
    near = sum(np.count_nonzero(np.abs(batch) < NEAR_THRESHOLD) for batch in logits)
    return near / sum(batch.size for batch in logits)


def near_threshold_note(results: list[dict]) -> str:
    """A line under an accuracy table: its reference row's share of logits near the threshold; empty without one."""
    if not results:
        return ""
    share = results[0]["near_threshold_share"]
    return f"\n\n{share:.2%} of the fp32 logits lie within {NEAR_THRESHOLD} of the threshold."


def verdict(agreements: list[Agreement]) -> str:
    """'pass' when every input passes the guard, else how many failed."""
    failed = sum(not item.ok for item in agreements)
    return "pass" if not failed else f"FAIL ({failed} of {len(agreements)} inputs)"


def trained_accuracy(args: argparse.Namespace, folder: Path, jpeg: Path) -> str | None:
    """The same accuracy comparison on a model with real weights, when one is present, on the benchmark photo, the
    white-on-white scene and two held-out generated scenes of every product kind."""
    model = trained_model()
    if model is None:
        return None
    inputs = model_inputs(model, jpeg, folder, [SECOND_SCENE, *HELD_OUT_SCENES])
    sub = argparse.Namespace(**{**vars(args), "backends": "openvino:fp32,openvino:bf16,openvino:int8"})
    text, results = model_table(model, sub, folder, inputs)
    text += near_threshold_note(results)
    return f"Trained model: {model.description}, {len(inputs)} inputs\n\n{text}"


def model_only_column(raw: dict) -> dict[str, dict[str, float]] | None:
    """The model-only time of the backend and precision the pipeline ran, on the served export form."""
    if "error" in raw.get("pipeline", {"error": 1}) or not raw.get("models"):
        return None
    used = raw["pipeline"]["inference"]
    rows = [row for row in raw["models"] if (row["backend"], row["precision"]) == (used["backend"], used["precision"])
            and row["export"] != "fused"]
    if not rows:
        return None
    return {f"model only ({used['backend']} {used['precision']})": {"model": rows[0]["median_s"],
                                                                    "total": rows[0]["median_s"]}}


def pipeline_stages(stages: dict) -> dict[str, float | None]:
    """In-process Processor timings -> the report's stages (the model step split into its parts)."""
    inference, back = stages["inference"], stages["resize_back"]
    return {"decode": stages["decode"], "preprocess": stages["model"] - inference - back, "model": inference,
            "mask refine": stages["postprocess"] + back, "compose": stages["compose"], "encode": stages["encode"],
            "total": stages["total"], "non-model": stages["non_model"]}


def served_stages(stages: dict) -> dict[str, float | None]:
    """Server-Timing -> the report's stages (the runner call, with its pre/post-processing, is 'model')."""
    return {"decode": stages["decode"], "preprocess": None, "model": stages["model"],
            "mask refine": stages["postprocess"], "compose": stages["compose"], "encode": stages["encode"],
            "total": stages["client_total"], "non-model": stages["non_model"]}


def non_model(column: dict[str, float | None]) -> float | None:
    """A column's time outside the model: the median of each run's own (total - model) where the column has it (a
    median total minus a median model time mixes runs, and the model's run-to-run noise lands in the difference)."""
    if "non-model" in column:
        return column["non-model"]
    return column["total"] - column["model"] if column.get("total") and column.get("model") else None


def stage_table(columns: dict[str, dict[str, float | None]]) -> str:
    """Stages as rows, contenders as columns, plus non-model time and its share of the model time."""
    rows = [[stage] + [column.get(stage) for column in columns.values()] for stage in (*STAGES, "total")]
    outside = [non_model(column) for column in columns.values()]
    rows.append(["non-model"] + outside)
    rows.append(["non-model / model"] + [ratio(n, c.get("model")) for n, c in zip(outside, columns.values())])
    return table(["stage (s, median)", *columns], rows)


def run_served(model_file: Path, model: BenchModel, args: argparse.Namespace, payload: bytes,
               folder: Path) -> tuple[dict, list[served.Throughput]]:
    """Import the model into a fresh BentoML home, serve it, time presets and concurrency levels."""
    from tests.server import cutout_cli

    home = folder / "bentoml"
    cutout_cli("models", "import", str(model_file), "--variant", model.metadata.variant or "lite",
               env={**os.environ, "BENTOML_HOME": str(home)})
    env = {"CUTOUT_BACKEND": args.backend, "CUTOUT_PRECISION": args.precision,
           **({"CUTOUT_THREADS": str(args.threads)} if args.threads else {})}
    with served.serving(home, folder / "server.log", env) as server:
        served.train_dispatcher(server, payload, args.presets.split(",")[0])
        sequential = {preset: served.sequential(server, payload, preset, args.runs)
                      for preset in args.presets.split(",")}
        levels = served.throughput_levels(server, payload, args.presets.split(",")[0],
                                          [int(clients) for clients in args.clients.split(",")], args.requests)
    return sequential, levels


def load_times(spec: dict, cache: Path) -> dict:
    """Two loads in fresh processes: the first with an empty model cache, the second from what it left there."""
    first, again = (in_subprocess("load", spec, env={CACHE_ENV: str(cache)}) for _ in range(2))
    return {"first": first, "cached": again}


def load_text(result: dict) -> str:
    """The two load times, and what was loaded."""
    first, again = result["first"], result["cached"]
    if "error" in first or "error" in again:
        return f"failed: {first.get('error') or again.get('error')}"
    inference, guard = first["inference"], first["inference"]["accuracy_guard"]
    checked = "no accuracy guard" if guard is None else f"accuracy guard {'passed' if guard['ok'] else 'failed'}"
    return (f"{inference['backend']} {inference['precision']}, {checked}: first load {first['seconds']:.1f} s, "
            f"again {again['seconds']:.1f} s from the model cache ({CACHE_ENV}: the prepared and compiled model and "
            f"the guard's fp32 reference); each ends with a warm-up inference where the guard has not run the model "
            f"({first['warm_up_s']:.1f} and {again['warm_up_s']:.1f} s of those)")


def run_soak(args: argparse.Namespace, folder: Path) -> dict:
    """Many requests against a server whose model is the tiny test network: memory, not speed."""
    from tests.server import cutout_cli
    from tests.tiny_model import build_tiny_birefnet

    home = folder / "soak-bentoml"
    model = build_tiny_birefnet(folder / "soak.onnx", size=1024, busy_layers=2)
    cutout_cli("models", "import", str(model), "--variant", "soak", env={**os.environ, "BENTOML_HOME": str(home)})
    payload = studio_jpeg(args.soak_photo_size).read_bytes()
    with served.serving(home, folder / "soak-server.log", {"CUTOUT_PRECISION": "fp32"}) as server:
        served.sequential(server, payload, "shop-hero", 10)
        return served.soak(server, payload, "shop-hero", args.soak, clients=8, max_s=3600)


def soak_table(result: dict) -> str:
    """Server RSS after each tenth of the requests, and the growth over the second half."""
    samples = result["rss_mb"]
    half = samples[len(samples) // 2][1]
    rows = [[sent, rss] for sent, rss in samples]
    end = samples[-1][1]
    note = (f"\n\n{result['requests']} requests, {result['errors']} errors; RSS {samples[0][1]:.0f} MB after warm-up, "
            f"{half:.0f} MB at half-way, {end:.0f} MB at the end (second half: {end - half:+.0f} MB)")
    return table(["requests sent", "server RSS MB"], rows) + note


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: list[str] = [f"# cutout benchmark\n\nMachine: {machine()}\n\nLoad average at start: {load_average()}"]
    jpeg = studio_jpeg(args.photo_size)
    model = resolve_model(args.model, args.size, jpeg)
    report.append(f"Photo: {jpeg} ({args.photo_size}x{args.photo_size} JPEG q92, {jpeg.stat().st_size // 1000} kB)"
                  f"\n\nModel: {model.description}; pipeline, server and rembg run {model.end_to_end}")
    print("\n\n".join(report), flush=True)
    raw: dict = {"args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="cutout-bench-") as temp:
        folder = Path(temp)
        os.environ[CACHE_ENV] = str(folder / "model-cache")  # the bench's models stay out of the user's cache
        inputs = model_inputs(model, jpeg, folder, [SECOND_SCENE])
        if model.metadata.variant in VARIANTS and importlib.util.find_spec("torch"):
            raw["peak"] = in_subprocess("peak", {"variant": model.metadata.variant, "size": args.size})
            if "error" not in raw["peak"]:
                section(report, "Compute bound", peak_text(raw["peak"]))
        if not args.skip_models:
            text, raw["models"] = model_table(model, args, folder, inputs)
            text += near_threshold_note(raw["models"])
            if model.random_weights:
                text += RANDOM_WEIGHTS_NOTE
            section(report, "Model only (the floor), one image, medians of --runs", text)
            trained = trained_accuracy(args, folder, jpeg)
            if trained:
                section(report, "Accuracy on a trained model", trained)
        serving_file = model.end_to_end
        spec = {"onnx": str(serving_file), "metadata": model.metadata.model_dump(mode="json"),
                "backend": args.backend, "precision": args.precision, "threads": args.threads,
                "presets": args.presets.split(","), "runs": args.runs, "jpeg": str(jpeg)}
        raw["load"] = load_times(spec, folder / "load-cache")
        section(report, "Model load (as the runner loads it: backend choice, accuracy guard, warm-up)",
                load_text(raw["load"]))
        raw["pipeline"] = in_subprocess("pipeline", spec)
        columns: dict[str, dict] = {}
        if "error" not in raw["pipeline"]:
            for preset, result in raw["pipeline"]["presets"].items():
                columns[f"in-process {preset}"] = pipeline_stages(result["stages"])
            section(report, f"Pipeline backend (--backend {args.backend} --precision {args.precision})",
                    json.dumps(raw["pipeline"]["inference"]))
        if not args.skip_served:
            sequential, levels = run_served(serving_file, model, args, jpeg.read_bytes(), folder)
            raw["served"] = {"sequential": sequential, "throughput": [vars(level) for level in levels]}
            for preset, result in sequential.items():
                columns[f"served {preset}"] = served_stages(result["stages"])
        floor = model_only_column(raw)
        if floor:
            columns.update(floor)
        if not args.skip_rembg and importlib.util.find_spec("rembg"):
            raw["rembg"] = in_subprocess("rembg", {"onnx": str(serving_file), "jpeg": str(jpeg), "runs": args.runs})
            if "error" not in raw["rembg"]:
                columns["rembg remove()"] = {"model": raw["rembg"]["predict_s"], "total": raw["rembg"]["total_s"]}
        section(report, "Per stage, 4000x4000 JPEG (s, medians)", stage_table(columns))
        if "served" in raw:
            section(report, "Throughput against bentoml serve", throughput_table(raw["served"]["throughput"]))
        if args.soak:
            raw["soak"] = run_soak(args, folder)
            section(report, f"Memory over {raw['soak']['requests']} requests (tiny model, "
                    f"{args.soak_photo_size}px JPEG, 8 clients)", soak_table(raw["soak"]))
        section(report, "Goals", goals(columns, raw))
    report.append(f"Load average at end: {load_average()}")
    (out / "bench.md").write_text("\n\n".join(report) + "\n")
    (out / "bench.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"\nLoad average at end: {load_average()}\nwritten: {out / 'bench.md'}, {out / 'bench.json'}")


def section(report: list[str], title: str, body: str) -> None:
    """Append a titled section to the report and print it at once."""
    text = f"## {title}\n\n{body}"
    report.append(text)
    print(f"\n{text}", flush=True)


def peak_text(peak: dict) -> str:
    """Measured matmul throughput and what it allows for the model's FLOP count."""
    gflop = peak["model_gflop"]
    rows = [[precision, rate, gflop / rate] for precision, rate in peak["gflops_per_s"].items()]
    return (f"The model costs {gflop:.0f} GFLOP per image (torch FlopCounterMode). Dense 2048^2 matmul on all cores "
            "(fp32: the better of numpy BLAS and torch; bf16: torch/oneDNN) reaches:\n\n"
            + table(["precision", "GFLOP/s", "model floor s"], rows))


def throughput_table(levels: list[dict]) -> str:
    """Requests per second, latency and server memory per concurrency level."""
    base = levels[0]["requests"] / levels[0]["seconds"]
    rows = [[level["clients"], level["requests"], level["seconds"], level["requests"] / level["seconds"],
             ratio(level["requests"] / level["seconds"], base), level["latency_p50_s"], level["peak_rss_mb"],
             level["errors"]] for level in levels]
    return table(["clients", "requests", "seconds", "req/s", "vs 1 client", "latency p50 s", "server peak RSS MB",
                  "errors"], rows)


def goals(columns: dict[str, dict], raw: dict) -> str:
    """The issue's goals, each with the measured value."""
    rows = []
    rembg = columns.get("rembg remove()", {}).get("total")
    for name, column in columns.items():
        if name.startswith(("served", "in-process")):
            total = column["total"]
            rows.append([f"end to end ({name}) <= {GOAL_SECONDS} s", f"{total:.2f} s",
                         "met" if total <= GOAL_SECONDS else "not met"])
            if rembg:
                rows.append([f"rembg / ours ({name}) >= {GOAL_VS_REMBG}x", ratio(rembg, total),
                             "met" if rembg / total >= GOAL_VS_REMBG else "not met"])
        if name.startswith(("served", "in-process")):
            share = non_model(column) / column["model"]
            rows.append([f"non-model / model ({name}) <= {GOAL_NON_MODEL:.0%}", f"{share:.0%}",
                         "met" if share <= GOAL_NON_MODEL else "not met"])
    if "served" in raw:
        levels = raw["served"]["throughput"]
        rates = {level["clients"]: level["requests"] / level["seconds"] for level in levels}
        top = max(rates)
        rows.append([f"throughput at {top} clients >= 1 client", f"{rates[top]:.3f} vs {rates[min(rates)]:.3f} req/s",
                     "met" if rates[top] >= rates[min(rates)] else "not met"])
    if "soak" in raw:
        samples = raw["soak"]["rss_mb"]
        half, end = samples[len(samples) // 2][1], samples[-1][1]
        rows.append([f"no memory growth over {raw['soak']['requests']} requests (second half <= +{GOAL_GROWTH:.0%})",
                     f"{end - half:+.0f} MB", "met" if end <= half * (1 + GOAL_GROWTH) else "not met"])
    return table(["goal", "measured", "verdict"], rows)


if __name__ == "__main__":
    main()
