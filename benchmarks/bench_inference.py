"""Inference speed: ours against the engines a user would pick instead, on identical weights and inputs.

    python benchmarks/bench_inference.py [--repeats 5] [--threads 2] [--precisions fp32,int8,bf16]
                                         [--engines reference,compiled,onnxruntime,ours-compiled,ours-onnxruntime]
                                         [--cases "single 32,fixed 8 x 128"] [--out benchmarks/results]

Peers, interleaved with ours in one process (A B C, B C A, … so that drift hits all alike, each run after
the same pause; see ``common.interleaved_times``):
- ``reference``: the newest ``transformers`` (default SDPA attention);
- ``compiled``: ``torch.compile`` of the reference (dynamic shapes, default inductor settings);
- ``onnxruntime``: ONNX Runtime on the reference's own export (``torch.onnx.export(dynamo=True)``, dynamic
  batch and sequence axes), all graph optimisations; ``onnxruntime-opt``: the same after onnxruntime's
  transformer optimiser, when its fusions apply to this model (the script reports how many it made).

Ours: ``ours`` as it comes; ``ours-compiled``, the same model with ``set_fast_path(True, compiled=True)``
(inputs without padding run compiled layers; padded batches are the same as ``ours``); ``ours-onnxruntime``
(fp32 and int8), with ``set_fast_path(True, engine="onnxruntime")`` (inputs without padding run their whole forward in
one ONNX Runtime session on the model's parameters, in fp32 up to ``ort_engine.max_rows()`` rows; padded
batches, and larger fp32 ones, are the same as ``ours``); ``ours-onnxruntime-int8-weights`` (int8, only when
asked for), the same with ``ort_engine.set_int8_weights("int8")``: the default on CPUs with VNNI, and on
others ONNX Runtime's own kernel for its int8 quantisation (faster, its 16-bit pair sums saturate). The first call
of every engine on each input mix is timed apart (``first_call_s``: the compiled engines compile there, ours
on onnxruntime makes its session).

Precisions: ``fp32`` (every engine); ``bf16`` (transformers and torch.compile with bfloat16 weights, and
ours; ONNX Runtime's CPU kernels have no bf16); ``int8``: ONNX Runtime on its own dynamic int8
quantisation of that export (``onnxruntime.quantization.quantize_dynamic``, int8 weights) against ours
(``to_precision(model, "int8")``). Each row also gives every engine's largest and mean absolute difference
from our fp32 output on real tokens (the accuracy each precision costs; ``bench_precision.py`` measures
agreement).

Reports, per input mix and precision, real (non-padding) tokens/s of every engine and ours / best peer,
and for bf16 ours against the best peer at its fastest float precision (fp32 or bf16); single-text
latency p50 and p99 for 8, 32 and 128 tokens; the CPU model and its ISA flags. Writes ``inference.json``
and ``inference.png`` into ``--out`` and prints the README table.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import (OutputField, command_line, cpu_description, export_onnx, interleaved_times,  # noqa: E402
                    model_pair, ort_session, parse)

def make_batch(lengths: list[int], vocab: int = 50265, seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded ids with <s> ... </s> and an attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), 1, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, vocab, (n,), generator=gen)
        ids[i, 0], ids[i, n - 1] = 0, 2
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def cases() -> dict[str, list[int]]:
    """The issue's three mixes, plus one random draw of lengths.

    "16 texts of 16-256 tokens" is taken as 16 lengths spread evenly over the range (mean 136, so 47%
    of a padded batch is padding). A single random draw can land far from that (seed 0: mean 171, 33%
    padding), so it is reported as a separate row.
    """
    gen = torch.Generator().manual_seed(0)
    return {
        "variable 16 x 16-256": torch.linspace(16, 256, 16).round().long().tolist(),
        "variable random 16-256": torch.randint(16, 257, (16,), generator=gen).tolist(),
        "fixed 8 x 128": [128] * 8,
        "single 32": [32],
    }


# --------------------------------------------------------------------------------------------- engines
def ort_run(path: str, threads: int) -> Callable:
    """``run(inputs) -> last_hidden_state`` on one ONNX file (see ``common.ort_session``)."""
    session = ort_session(path, threads)
    return lambda inputs: session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


def onnx_int8_session(folder: str, threads: int) -> Callable:
    """ONNX Runtime on its dynamic int8 quantisation of the reference's export (made by ``onnx_sessions``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = os.path.join(folder, "reference-int8.onnx")
    quantize_dynamic(os.path.join(folder, "reference.onnx"), path, weight_type=QuantType.QInt8)
    return ort_run(path, threads)


def onnx_sessions(ref: torch.nn.Module, folder: str, threads: int) -> dict[str, Callable]:
    """ONNX Runtime sessions on the reference's export: plain, and after the transformer optimiser if it
    fuses anything; each as ``run(inputs) -> last_hidden_state``."""
    path = os.path.join(folder, "reference.onnx")
    example = make_batch([12, 9])
    export_onnx(OutputField(ref, "last_hidden_state"), (example["input_ids"], example["attention_mask"]), path)
    paths = {"onnxruntime": path}
    try:
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(path, model_type="bert", num_heads=ref.config.num_attention_heads,
                                             hidden_size=ref.config.hidden_size)
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        print(f"onnxruntime transformer optimiser: fused {fused or 'nothing'}", flush=True)
        if any(k in fused for k in ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu")):
            paths["onnxruntime-opt"] = os.path.join(folder, "reference-opt.onnx")
            optimized.save_model_to_file(paths["onnxruntime-opt"])
    except Exception as e:  # the optimiser's patterns are BERT's post-LN: report, do not fail
        print(f"onnxruntime transformer optimiser did not apply: {type(e).__name__}: {e}", flush=True)
    return {name: ort_run(file, threads) for name, file in paths.items()}


def engines(ref: torch.nn.Module, ours: torch.nn.Module, precision: str, wanted: list[str], threads: int,
            folder: str) -> dict[str, Callable]:
    """``name → run(inputs) -> last_hidden_state`` for the engines asked for, in ``precision``: fp32 and
    bf16 convert ``ref`` and ``ours`` in place; int8 quantises a copy of ours and the fp32 export."""
    from roberta_prelayernorm.torch.precision import to_precision

    runs: dict[str, Callable] = {}
    if precision == "int8":
        if "onnxruntime" in wanted:
            if not os.path.isfile(os.path.join(folder, "reference.onnx")):
                onnx_sessions(ref.float(), folder, threads)
            runs["onnxruntime-int8"] = onnx_int8_session(folder, threads)
        quantized = to_precision(copy.deepcopy(ours.float()), "int8")  # (eager: int8 is never compiled)
        runs["ours"] = ours_run(quantized, compiled=False)
        if "ours-onnxruntime" in wanted:
            runs["ours-onnxruntime"] = ours_run(quantized, compiled=False, engine="onnxruntime")
        if INT8_WEIGHTS in wanted:  # (a model of its own: the form is the session's, chosen when it is made)
            runs[INT8_WEIGHTS] = ours_run(copy.deepcopy(quantized), compiled=False, engine="onnxruntime",
                                          int8_weights="int8")
        return runs
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    ref.to(dtype), ours.to(dtype)
    if "reference" in wanted:
        runs["reference"] = lambda inputs: ref(**inputs).last_hidden_state
    if "compiled" in wanted:
        compiled = torch.compile(OutputField(ref, "last_hidden_state"), dynamic=True)
        runs["compiled"] = lambda inputs: compiled(inputs["input_ids"], inputs["attention_mask"])
    if "onnxruntime" in wanted and precision == "fp32":  # ONNX Runtime's CPU kernels have no bf16
        runs.update(onnx_sessions(ref, folder, threads))
    runs["ours"] = ours_run(ours, compiled=False)
    if "ours-compiled" in wanted:
        runs["ours-compiled"] = ours_run(ours, compiled=True)
    if "ours-onnxruntime" in wanted and precision == "fp32":
        runs["ours-onnxruntime"] = ours_run(ours, compiled=False, engine="onnxruntime")
    return runs


def ours_run(model: torch.nn.Module, compiled: bool, engine: str = "torch", int8_weights: str | None = None
             ) -> Callable:
    """Our model as it comes (``compiled=False``), or with ``set_fast_path(True, compiled=True)``: inputs
    without padding through torch.compile, or with ``engine="onnxruntime"`` (its int8 products' weights in
    the form ``int8_weights``, or the CPU's default). All on the same model, so on the same weights (and,
    but for onnxruntime's, the same packs)."""
    from roberta_prelayernorm.torch import ort_engine

    def run(inputs: dict) -> torch.Tensor:
        model.set_fast_path(True, compiled=compiled, engine=engine)
        ort_engine.set_int8_weights(int8_weights)
        return model(**inputs).last_hidden_state
    return run


def is_ours(name: str) -> bool:
    return name.startswith("ours")


INT8_WEIGHTS = "ours-onnxruntime-int8-weights"
OURS_VARIANTS = ("ours-compiled", "ours-onnxruntime", INT8_WEIGHTS)  # beside ``ours``, each against the best peer


def ratio_key(name: str) -> str:
    """``ours-compiled`` → ``ours_compiled_over_best_peer``."""
    return name.replace("-", "_") + "_over_best_peer"


def on(runs: dict[str, Callable], inputs: dict) -> dict[str, Callable[[], object]]:
    """Each run bound to ``inputs``, for ``common.interleaved_times``."""
    return {name: (lambda run=run: run(inputs)) for name, run in runs.items()}


def as_numpy(x: object) -> np.ndarray:
    return x.float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", default="fp32,int8,bf16")
    parser.add_argument("--engines", default="reference,compiled,onnxruntime,ours-compiled,ours-onnxruntime")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--cases", default=",".join(cases()), help="input mixes, comma-separated (default: all)")
    args = parse(parser)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; flags {' '.join(cpu['flags'])}; {args.threads} threads; torch {torch.__version__}")
    ref, ours = model_pair()
    rows, latency, fp32_out = [], [], {}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for precision in args.precisions.split(","):  # int8 before bf16: it quantises the fp32 weights
            runs = engines(ref, ours, precision, args.engines.split(","), args.threads, folder)
            for name, lengths in cases().items():
                if name not in args.cases.split(","):
                    continue
                inputs = make_batch(lengths)
                mask = inputs["attention_mask"].numpy().astype(bool)
                outputs, first_call_s = {}, {}
                for k, run in runs.items():  # the first call: the compiled engines compile for this shape here
                    start = time.perf_counter()
                    outputs[k] = as_numpy(run(inputs))[mask]
                    first_call_s[k] = time.perf_counter() - start
                if precision == "fp32":
                    fp32_out[name] = outputs["ours"]
                errors = {k: np.abs(out - fp32_out[name]) for k, out in outputs.items()} if name in fp32_out else {}
                diffs = {k: float(e.max()) for k, e in errors.items()}
                mean_diffs = {k: float(e.mean()) for k, e in errors.items()}
                repeats = args.repeats * (10 if len(lengths) == 1 else 1)
                times = {k: statistics.median(v) for k, v in interleaved_times(on(runs, inputs), repeats).items()}
                tokens = sum(lengths)
                peers = {k: t for k, t in times.items() if not is_ours(k)}
                best = min(peers, key=peers.get)
                row = {"case": name, "precision": precision, "real_tokens": tokens,
                       "tokens_per_s": {k: tokens / t for k, t in times.items()},
                       "best_peer": best, "ours_over_best_peer": peers[best] / times["ours"],
                       "max_abs_diff_vs_ours_fp32": diffs, "mean_abs_diff_vs_ours_fp32": mean_diffs,
                       "first_call_s": first_call_s}
                for k in OURS_VARIANTS:
                    if k in times:
                        row[ratio_key(k)] = peers[best] / times[k]
                rows.append(row)
                print(f"{name:22s} {precision:5s} " + "  ".join(f"{k} {v:7.0f}" for k, v in row["tokens_per_s"].items())
                      + f"  tok/s; ours / {best} {row['ours_over_best_peer']:.2f}x"
                      + "".join(f", {k} {row[ratio_key(k)]:.2f}x" for k in OURS_VARIANTS if k in times)
                      + ("; mean |difference| from ours in fp32: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                                               mean_diffs.items())
                         if precision != "fp32" and mean_diffs else ""), flush=True)
            if precision == "fp32":
                for n in (8, 32, 128):
                    inputs = make_batch([n])
                    times = interleaved_times(on(runs, inputs), args.latency_runs)
                    for k, ts in times.items():
                        ms = np.array(ts) * 1e3
                        latency.append({"tokens": n, "engine": k, "p50_ms": float(np.percentile(ms, 50)),
                                        "p99_ms": float(np.percentile(ms, 99))})
                    print(f"latency {n:3d} tokens  " + "  ".join(
                        f"{r['engine']} p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms" for r in latency[-len(times):]),
                        flush=True)
            del runs
    fastest = fastest_float_peers(rows)
    for r in fastest:
        print(f"{r['case']:22s} ours bf16 {r['ours_bf16']:7.0f} tok/s; fastest float peer {r['peer']} "
              f"{r['peer_tokens_per_s']:7.0f}: {r['ratio']:.2f}x", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "inference.json"), "w") as f:
        json.dump({"cpu": cpu, "torch": torch.__version__, "rows": rows, "latency": latency,
                   "bf16_vs_fastest_float_peer": fastest}, f, indent=2)
    print(readme_table(rows, latency, fastest))
    plot(rows, os.path.join(args.out, "inference.png"))


def fastest_float_peers(rows: list[dict]) -> list[dict]:
    """Per input mix: our bf16 against the fastest peer run in fp32 or bf16 (its fastest float precision)."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        ours = [r for r in rows if r["case"] == case and r["precision"] == "bf16"]
        peers = [(r["tokens_per_s"][k], f"{k} {r['precision']}") for r in rows if r["case"] == case
                 and r["precision"] in ("fp32", "bf16") for k in r["tokens_per_s"] if not is_ours(k)]
        if ours and peers:
            speed, name = max(peers)
            out.append({"case": case, "ours_bf16": ours[0]["tokens_per_s"]["ours"], "peer": name,
                        "peer_tokens_per_s": speed, "ratio": ours[0]["tokens_per_s"]["ours"] / speed})
    return out


def readme_table(rows: list[dict], latency: list[dict], fastest: list[dict]) -> str:
    names = list(dict.fromkeys(k for r in rows for k in r["tokens_per_s"] if not is_ours(k)))
    variants = [k for k in OURS_VARIANTS if any(k in r["tokens_per_s"] for r in rows)]
    names += ["ours"] + variants
    lines = ["| input | precision | " + " | ".join(names) + " | ours / best peer | "
             + "".join(f"{k} / best peer | " for k in variants),
             "|---|---|" + "---|" * (len(names) + 1 + len(variants))]
    for r in rows:
        cells = [f"{r['tokens_per_s'][k]:.0f}" if k in r["tokens_per_s"] else "" for k in names]
        ratios = [f"**{r[ratio_key(k)]:.2f}x**" if ratio_key(k) in r else "" for k in variants]
        lines.append(f"| {r['case']} | {r['precision']} | " + " | ".join(cells)
                     + f" | **{r['ours_over_best_peer']:.2f}x** ({r['best_peer']}) | "
                     + "".join(c + " | " for c in ratios))
    if fastest:
        lines += ["", "| input | ours bf16 | fastest peer in fp32 or bf16 | ours / it |", "|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['ours_bf16']:.0f} | {r['peer_tokens_per_s']:.0f} ({r['peer']}) | "
                  f"**{r['ratio']:.2f}x** |" for r in fastest]
    engines = [k for k in names if any(r["engine"] == k for r in latency)]
    lines += ["", "| one text, p50 / p99 ms | " + " | ".join(engines) + " |", "|---|" + "---|" * len(engines)]
    for n in sorted({r["tokens"] for r in latency}):
        by = {r["engine"]: r for r in latency if r["tokens"] == n}
        lines.append(f"| {n} tokens | " + " | ".join(f"{by[k]['p50_ms']:.1f} / {by[k]['p99_ms']:.1f}" for k in engines)
                     + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    names = list(dict.fromkeys(k for r in rows for k in r["tokens_per_s"]))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i, r in enumerate(rows) if name in r["tokens_per_s"]]
        ys = [r["tokens_per_s"][name] for r in rows if name in r["tokens_per_s"]]
        ax.bar(xs, ys, width, label=name)
    for i, r in enumerate(rows):
        ax.text(i + (len(names) - 1) / 2 * width, r["tokens_per_s"]["ours"], f"{r['ours_over_best_peer']:.2f}x",
                ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), [f"{r['case']}\n{r['precision']}" for r in rows], fontsize=7)
    ax.set_ylabel("real tokens / s")
    ax.set_title("RoBERTa-base size, CPU inference (higher is better; label: ours / best peer)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
