"""The encoder's matrix products alone, in every GEMM library at hand: where one short text's time goes.

    python benchmarks/bench_gemm.py [--rows 8,32,128,1024] [--repeats 9] [--threads 2] [--out benchmarks/results]

A chain of the 48 products of a RoBERTa-base-size encoder (per layer: query/key/value joined 768→2304,
attention output 768→768, FFN 768→3072 and 3072→768, each with its bias; the next product reads the first
768 columns of the joined q/k/v, so that one input flows through all of them), run on ``--rows`` rows by:
- ``onednn-packed``: oneDNN on weights in its blocked layout, what our CPU fast path runs
  (``torch.ops.mkldnn._linear_pointwise`` on ``_reorder_linear_weight``);
- ``mkl-packed``: MKL's packed SGEMM (``torch.ops.mkl._mkl_linear``), packed for exactly ``rows`` rows:
  torch uses an MKL pack only for inputs of the row count it was made for (any other runs ``F.linear``),
  so a model serving texts of any length cannot use it without a pack per length;
- ``torch-linear``: torch's default ``F.linear`` on the plain weights (MKL SGEMM);
- ``onnxruntime``: the same chain as an ONNX graph (MatMul + Add) in ONNX Runtime, whose MLAS kernels
  prepack the weights: what its session runs for the same products.

Runs are interleaved as in ``bench_inference.py`` (``common.interleaved_times``), so every library's 340 MB
of weights is evicted by the others' before it runs: larger than this machine's L3 or not, the weights
come from memory, as in a served model that shares the machine. Reports per row count each library's
median ms, GFLOP/s, the weight bytes it read per second and onednn / each other library; and the
machine's read bandwidth (a sum over 340 MB), the bound for products on a few rows. Writes ``gemm.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import command_line, cpu_description, interleaved_times, ort_session, parse  # noqa: E402

HIDDEN, INTERMEDIATE, LAYERS = 768, 3072, 12
# (outputs, inputs) of each product of a layer, in the order the chain runs them
SHAPES = ((3 * HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (INTERMEDIATE, HIDDEN), (HIDDEN, INTERMEDIATE))

Weights = list[tuple[torch.Tensor, torch.Tensor]]


def chain_weights(seed: int = 0) -> Weights:
    """(weight (out, in), bias) of the 48 products, in running order; RoBERTa's init scale."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, k, generator=gen) * 0.02, torch.randn(n, generator=gen) * 0.02)
            for _ in range(LAYERS) for n, k in SHAPES]


def run_chain(x: torch.Tensor, weights: list, product: Callable) -> torch.Tensor:
    """The chain on ``x`` (rows, 768): each product reads the previous output (the joined q/k/v's first
    768 columns)."""
    for w in weights:
        x = product(x, w)
        if x.shape[-1] == 3 * HIDDEN:
            x = x[:, :HIDDEN].contiguous()
    return x


def torch_engines(weights: Weights, rows: int) -> dict[str, Callable]:
    """``name → run(x)`` for the torch libraries, their packs made for ``rows`` rows."""
    onednn = [(torch.ops.mkldnn._reorder_linear_weight(w, rows), b) for w, b in weights]
    engines = {
        "onednn-packed": lambda x: run_chain(x, onednn, lambda x, p: torch.ops.mkldnn._linear_pointwise(
            x, p[0], p[1], "none", [], "")),
        "torch-linear": lambda x: run_chain(x, weights, lambda x, p: F.linear(x, p[0], p[1])),
    }
    if torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear"):
        mkl = [(torch.ops.mkl._mkl_reorder_linear_weight(w, rows), w, b) for w, b in weights]
        engines["mkl-packed"] = lambda x: run_chain(x, mkl, lambda x, p: torch.ops.mkl._mkl_linear(
            x, p[0], p[1], p[2], rows))
    return engines


def onnx_chain(weights: Weights, path: str) -> None:
    """The chain as an ONNX graph of MatMul + Add (weights transposed to (in, out), as exporters write them)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "x"
    for i, (w, b) in enumerate(weights):
        inits += [numpy_helper.from_array(w.t().contiguous().numpy(), f"w{i}"), numpy_helper.from_array(b.numpy(), f"b{i}")]
        nodes += [helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"])]
        current = f"y{i}"
        if w.shape[0] == 3 * HIDDEN:
            inits += [numpy_helper.from_array(np.array(v, dtype=np.int64), f"s{i}_{k}")
                      for k, v in (("start", [0]), ("end", [HIDDEN]), ("axis", [1]))]
            nodes.append(helper.make_node("Slice", [current, f"s{i}_start", f"s{i}_end", f"s{i}_axis"], [f"q{i}"]))
            current = f"q{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", HIDDEN])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["rows", HIDDEN])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def read_bandwidth(nbytes: int, repeats: int = 7) -> float:
    """Bytes/s of a sum over ``nbytes`` of fp32 that two alternating buffers keep out of cache."""
    buffers = [torch.randn(nbytes // 4) for _ in range(2)]
    for b in buffers:
        b.sum()
    times = []
    for _ in range(repeats):
        for b in buffers:
            start = time.perf_counter()
            b.sum()
            times.append(time.perf_counter() - start)
    return nbytes / statistics.median(times)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--rows", default="8,32,128,1024")
    parser.add_argument("--repeats", type=int, default=9)
    args = parse(parser)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; flags {' '.join(cpu['flags'])}; {args.threads} threads; torch {torch.__version__}")
    weights = chain_weights()
    weight_bytes = sum(w.numel() * w.element_size() for w, _ in weights)
    flops_per_row = 2 * sum(w.numel() for w, _ in weights)
    bandwidth = read_bandwidth(weight_bytes)
    print(f"read bandwidth (sum over {weight_bytes / 1e6:.0f} MB): {bandwidth / 1e9:.1f} GB/s, "
          f"so reading the weights once takes {weight_bytes / bandwidth * 1e3:.1f} ms", flush=True)
    rows_out = []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        path = os.path.join(folder, "chain.onnx")
        try:
            onnx_chain(weights, path)
            session = ort_session(path, args.threads)
        except ImportError:
            session = None
            print("onnx/onnxruntime are not installed: no onnxruntime column", file=sys.stderr)
        for rows in (int(r) for r in args.rows.split(",")):
            engines = torch_engines(weights, rows)
            if session is not None:
                engines["onnxruntime"] = lambda x: torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
            x = torch.randn(rows, HIDDEN, generator=torch.Generator().manual_seed(1))
            outputs = {name: run(x) for name, run in engines.items()}
            diffs = {name: float((out - outputs["onednn-packed"]).abs().max()) for name, out in outputs.items()}
            times = {name: statistics.median(ts) for name, ts in interleaved_times(
                {name: (lambda run=run: run(x)) for name, run in engines.items()}, args.repeats).items()}
            row = {"rows": rows,
                   "ms": {k: t * 1e3 for k, t in times.items()},
                   "gflops": {k: rows * flops_per_row / t / 1e9 for k, t in times.items()},
                   "weight_gb_per_s": {k: weight_bytes / t / 1e9 for k, t in times.items()},
                   "onednn_over": {k: t / times["onednn-packed"] for k, t in times.items() if k != "onednn-packed"},
                   "max_abs_diff_vs_onednn": diffs}
            rows_out.append(row)
            print(f"{rows:5d} rows  " + "  ".join(f"{k} {v:6.1f} ms" for k, v in row["ms"].items())
                  + "  | onednn-packed against: " + "  ".join(f"{k} {v:.2f}x" for k, v in row["onednn_over"].items()),
                  flush=True)
            del engines, outputs
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gemm.json"), "w") as f:
        json.dump({"cpu": cpu, "torch": torch.__version__, "weight_bytes": weight_bytes,
                   "read_bandwidth_gb_per_s": bandwidth / 1e9, "rows": rows_out}, f, indent=2)
    print(readme_table(rows_out))


def readme_table(rows: list[dict]) -> str:
    names = list(rows[0]["ms"])
    lines = ["| rows | " + " | ".join(f"{k} ms (GB/s of weights)" for k in names) + " |", "|---|" + "---|" * len(names)]
    for r in rows:
        lines.append(f"| {r['rows']} | " + " | ".join(f"{r['ms'][k]:.1f} ({r['weight_gb_per_s'][k]:.1f})" for k in names)
                     + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
