"""One text after the process has been idle: what a request costs when requests are sparse.

    python benchmarks/bench_idle.py [--model src/roberta_prelayernorm/models/default | base] [--tokens 8]
                                    [--pauses 0,0.05,0.25,1] [--runs 15] [--threads 2]
    GOMP_SPINCOUNT=10000000 python benchmarks/bench_idle.py     # the same with spinning OpenMP threads
    OMP_PROC_BIND=true python benchmarks/bench_idle.py          # the same with OpenMP threads bound to CPUs

Runs ours and ONNX Runtime (on our own export of the same model, all graph optimisations) on one text
(``--model``: a model folder, the bundled model by default, or ``base``: RoBERTa-base size, random weights),
each run after ``--pauses`` seconds of sleep, and reports the median ms per pause; then how much CPU the
process burns while idle (its CPU seconds over 2 s of sleep), which is what spinning threads cost.
Environment variables that govern torch's OpenMP threads (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``) are
read when torch loads, so they are set on the command line, not here. Adds its entry to ``idle.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_inference import make_batch  # noqa: E402
from common import BASE, command_line, ort_session, parse, timed  # noqa: E402

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "..", "src", "roberta_prelayernorm", "models", "default")
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OMP_PLACES", "KMP_BLOCKTIME", "OMP_NUM_THREADS")


def after_pauses(fn: Callable[[], object], pauses: list[float], runs: int) -> dict[str, float]:
    """Median ms of ``fn`` run after each pause (``runs`` times each, the pauses interleaved)."""
    times: dict[float, list[float]] = {p: [] for p in pauses}
    for _ in range(runs):
        for pause in pauses:
            time.sleep(pause)
            times[pause].append(timed(fn) * 1e3)
    return {str(p): statistics.median(ts) for p, ts in times.items()}


def idle_cpu(seconds: float = 2.0) -> float:
    """The share of one core this process used while sleeping ``seconds`` (1.0: one core busy)."""
    start = time.process_time()
    time.sleep(seconds)
    return (time.process_time() - start) / seconds


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--pauses", default="0,0.05,0.25,1")
    parser.add_argument("--runs", type=int, default=15)
    args = parse(parser)
    import roberta_prelayernorm as rp
    from roberta_prelayernorm.torch.onnx import export_onnx

    if args.model == "base":
        torch.manual_seed(0)
        model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**BASE)).eval()
    else:
        model = rp.RobertaPreLayerNormModel.from_pretrained(args.model).eval()
    inputs = make_batch([args.tokens], vocab=model.config.vocab_size)
    pauses = [float(p) for p in args.pauses.split(",")]
    environment = {k: os.environ[k] for k in OPENMP_VARIABLES if k in os.environ}
    print(f"{args.model}: one text of {args.tokens} tokens, {args.threads} threads, environment {environment or 'default'}")
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        path = os.path.join(folder, "model.onnx")
        export_onnx(model, path)
        session = ort_session(path, args.threads)
        feeds = {k: v.numpy() for k, v in inputs.items() if k in {i.name for i in session.get_inputs()}}
        engines = {"ours": lambda: model(**inputs), "onnxruntime": lambda: session.run(None, feeds)}
        for fn in engines.values():
            for _ in range(3):
                fn()
        results = {}
        for name, fn in engines.items():
            results[name] = after_pauses(fn, pauses, args.runs)
            fn()
            results[name]["idle_cpu"] = idle_cpu()
            print(f"{name:12s} " + "  ".join(f"after {p} s: {results[name][str(p)]:.1f} ms" for p in pauses)
                  + f"  idle CPU {results[name]['idle_cpu']:.0%} of a core", flush=True)
    os.makedirs(args.out, exist_ok=True)
    name = os.path.basename(os.path.normpath(args.model))
    tag = f"{name}, {args.tokens} tokens, {args.threads} threads, " + (
        " ".join(f"{k}={v}" for k, v in environment.items()) or "default environment")
    path = os.path.join(args.out, "idle.json")  # one entry per model, length, threads and environment
    saved = {}
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
    saved[tag] = {"model": name, "tokens": args.tokens, "threads": args.threads, "environment": environment,
                  "ms_after_pause_s": results}
    with open(path, "w") as f:
        json.dump(saved, f, indent=2)


if __name__ == "__main__":
    main()
