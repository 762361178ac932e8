"""The encoder's matrix products alone, in every GEMM library at hand: where one short text's time goes.

    python benchmarks/bench_gemm.py [--rows 8,32,128,1024] [--work products|layers] [--repeats 9]
                                    [--precision fp32|bf16|int8] [--threads 2] [--out benchmarks/results]

A chain of the 48 products of a RoBERTa-base-size encoder (per layer: query/key/value joined 768→2304,
attention output 768→768, FFN 768→3072 and 3072→768, each with its bias; the next product reads the first
768 columns of the joined q/k/v, so that one input flows through all of them), run on ``--rows`` rows by:
- ``onednn-packed``: oneDNN on weights in its blocked layout, what our CPU fast path runs in bf16 and on
  other CPUs (``torch.ops.mkldnn._linear_pointwise`` on ``_reorder_linear_weight``);
- ``mkl-packed``: MKL's packed SGEMM (``torch.ops.mkl._mkl_linear``), packed for exactly ``rows`` rows:
  torch uses an MKL pack only for inputs of the row count it was made for (any other runs ``F.linear``),
  so a model serving texts of any length cannot use it without a pack per length;
- ``mkl-any-rows``: the same MKL kernel called through its CBLAS interface (``cblas_sgemm_pack`` and
  ``cblas_sgemm_compute``, exported by torch's own ``libtorch_cpu``; where they are not, no column),
  packed once for ``kernels.MKL_PACK_ROWS`` rows and run on any row count, which MKL allows and torch's
  wrapper does not: what our fast path runs in fp32 on Intel CPUs (``roberta_prelayernorm.torch.kernels``);
- ``torch-linear``: torch's default ``F.linear`` on the plain weights (MKL SGEMM);
- ``torch-mm-wx``: the same product transposed, ``Y.T = W @ X.T`` (``torch.addmm`` with the bias as a
  column), the chain carried in that layout: whether MKL's kernel does better with the weight as A;
- ``onnxruntime``: the same chain as an ONNX graph (MatMul + Add) in ONNX Runtime, whose MLAS kernels
  prepack the weights: what its session runs for the same products.

``--precision bf16`` runs the chain in bfloat16 (weights and activations) instead: ``onednn-packed``
(what our bf16 fast path runs where ``kernels.bf16_compute()`` is bf16), ``torch-linear``, and
``mkl-bf16`` (MKL's ``cblas_gemm_bf16bf16f32``, bf16 inputs and an fp32 output preloaded with the bias,
where torch's library exports it); beside them our fp32 products (``fp32 mkl-any-rows`` or ``fp32
onednn-packed``, by ``kernels.gemm_library()``: also what a bf16 model runs on widened packs) and ``fp32
onnxruntime``, which our bf16 is meant to beat where the CPU has native bf16. ``--precision int8`` runs
torch's dynamic int8 products (int8 weights per output channel, each input quantised on the fly, as
``to_precision(model, "int8")`` makes them) on each quantised engine at hand (``x86``, torch's default,
``fbgemm`` and ``onednn``), against ONNX Runtime on its own dynamic int8 quantisation of the chain's ONNX
graph (``onnxruntime-int8``, ``quantize_dynamic`` with int8 weights, as ``bench_inference.py`` quantises
the model), and our fp32 products.

``--work layers`` adds the elementwise work the encoder does beside each product: the attention output and
the FFN's second product add the residual, the FFN's first applies GELU. Each library does it the way it
can: oneDNN fused into the product (post-ops), ONNX Runtime with its graph fusions, MKL with the bias (and
the residual) preloaded into the output (``beta = 1``) and GELU after, ``F.linear`` after the product. Only
this compares the libraries as a model runs them. It adds ``onednn-after``: oneDNN's packs with the work
after the product, in place, as our fp32 products run where ``kernels.fused_epilogues()`` is False.

Runs are interleaved as in ``bench_inference.py`` (``common.interleaved_times``), so every library's 340 MB
of weights is evicted by the others' before it runs: larger than this machine's L3 or not, the weights
come from memory, as in a served model that shares the machine. Reports per row count each library's
median ms, GFLOP/s, the weight bytes it read per second, each other library's time over the baseline's
(``onednn-packed``; in int8 our engine, torch's default) and its largest difference from the fp32 chain
(``F.linear``); and the machine's read bandwidth (a sum over 340 MB), the bound for products on a few
rows. Writes ``gemm.json`` (``gemm-layers.json`` for ``--work layers``; ``-bf16`` and ``-int8`` before
``.json`` for the other precisions).
"""

from __future__ import annotations

import copy
import ctypes
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


Product = Callable[[torch.Tensor, object, str, "torch.Tensor | None"], torch.Tensor]


def first_columns(y: torch.Tensor) -> torch.Tensor:
    return y[:, :HIDDEN].contiguous()


def run_chain(x: torch.Tensor, weights: list, product: Product, layers: bool = False,
              take: Callable = first_columns) -> torch.Tensor:
    """The chain on ``x`` (rows, 768): each product reads the previous output (``take``: the joined
    q/k/v's first 768 columns). ``product(x, weights, work, residual)`` computes ``x @ W.T + b``, then for
    ``work`` ``"gelu"`` GELU of it and for ``"residual"`` ``residual +`` it; with ``layers`` false every
    product's work is ``"bias"``."""
    for i in range(0, len(weights), len(SHAPES)):
        qkv, out, up, down = weights[i:i + len(SHAPES)]
        a = take(product(x, qkv, "bias", None))
        h = product(a, out, "residual", x) if layers else product(a, out, "bias", None)
        g = product(h, up, "gelu" if layers else "bias", None)
        x = product(g, down, "residual", h) if layers else product(g, down, "bias", None)
    return x


def after(y: torch.Tensor, work: str, residual: torch.Tensor | None) -> torch.Tensor:
    """The elementwise work on a product's output ``y`` (with its bias), in place."""
    if work == "gelu":
        return torch.ops.aten.gelu_(y)
    return y.add_(residual) if work == "residual" else y


def mkl_any_rows(weights: Weights) -> Product:
    """``product`` on MKL's packed SGEMM through CBLAS, as our fast path runs it (``kernels._mkl_pack`` and
    ``kernels._mkl_product``: C preloaded with the bias, or the bias and the residual; GELU after)."""
    from roberta_prelayernorm.torch import kernels

    packs = {}
    for w, b in weights:
        pack = packs[w.data_ptr()] = kernels.Pack()
        pack.weight, pack.bias, pack.shape = kernels._mkl_pack(w), b, tuple(w.shape)

    def product(x: torch.Tensor, p: tuple, work: str, residual: torch.Tensor | None) -> torch.Tensor:
        pack = packs[p[0].data_ptr()]
        return kernels._mkl_product(pack, x, "gelu" if work == "gelu" else "", residual, pack.bias)

    return product


def onednn_product(x: torch.Tensor, p: tuple, work: str, residual: torch.Tensor | None) -> torch.Tensor:
    if work == "residual":
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, p[0], p[1], "add")
    return torch.ops.mkldnn._linear_pointwise(x, p[0], p[1], "gelu" if work == "gelu" else "none", [],
                                              "none" if work == "gelu" else "")


def torch_engines(weights: Weights, rows: int, layers: bool) -> dict[str, Callable]:
    """``name → run(x)`` for the torch libraries, their packs made for ``rows`` rows."""
    onednn = [(torch.ops.mkldnn._reorder_linear_weight(w, rows), b) for w, b in weights]
    engines = {
        "onednn-packed": lambda x: run_chain(x, onednn, onednn_product, layers),
        "torch-linear": lambda x: run_chain(x, weights, lambda x, p, work, r: after(F.linear(x, *p), work, r), layers),
    }
    if layers:  # (the same products as onednn-packed without layer work)
        engines["onednn-after"] = lambda x: run_chain(x, onednn, lambda x, p, work, r: after(
            torch.ops.mkldnn._linear_pointwise(x, p[0], p[1], "none", [], ""), work, r), layers)
    cols = [(w, b[:, None].contiguous()) for w, b in weights]
    engines["torch-mm-wx"] = lambda x: run_chain(x, cols, lambda x, p, work, r: after(
        torch.addmm(p[1], p[0], x.t()).t(), work, r), layers)
    if torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear"):
        mkl = [(torch.ops.mkl._mkl_reorder_linear_weight(w, rows), w, b) for w, b in weights]
        engines["mkl-packed"] = lambda x: run_chain(x, mkl, lambda x, p, work, r: after(
            torch.ops.mkl._mkl_linear(x, p[0], p[1], p[2], rows), work, r), layers)
    from roberta_prelayernorm.torch import kernels

    if kernels._mkl() is not None:
        any_rows = mkl_any_rows(weights)
        engines["mkl-any-rows"] = lambda x: run_chain(x, weights, any_rows, layers)
    return engines


def linear_product(x: torch.Tensor, p: tuple, work: str, residual: torch.Tensor | None) -> torch.Tensor:
    return after(F.linear(x, *p), work, residual)


def mkl_bf16() -> Product | None:
    """``product`` on MKL's bf16 GEMM (``cblas_gemm_bf16bf16f32``: bf16 inputs, an fp32 output preloaded
    with the bias, or the bias and the residual; GELU after; the result back in bf16 for the next
    product), or None where torch's library does not export it."""
    from roberta_prelayernorm.torch import kernels

    lib = kernels._mkl()
    gemm = getattr(lib, "cblas_gemm_bf16bf16f32", None) if lib is not None else None
    if gemm is None:
        return None
    integer, pointer = ctypes.c_int, ctypes.c_void_p
    gemm.restype = None
    gemm.argtypes = [integer] * 6 + [ctypes.c_float, pointer, integer, pointer, integer, ctypes.c_float, pointer,
                                     integer]

    def product(x: torch.Tensor, p: tuple, work: str, residual: torch.Tensor | None) -> torch.Tensor:
        (w, b), rows = p, x.shape[0]
        (n, k), x = w.shape, x.contiguous()
        out = (b.float() if residual is None else residual.float() + b.float()).expand(rows, n).contiguous()
        gemm(kernels._ROW_MAJOR, kernels._NO_TRANS, kernels._TRANS, rows, n, k, 1.0, x.data_ptr(), k, w.data_ptr(),
             k, 1.0, out.data_ptr(), n)
        return (torch.ops.aten.gelu_(out) if work == "gelu" else out).bfloat16()

    return product


def bf16_engines(weights: Weights, rows: int, layers: bool) -> dict[str, Callable]:
    """``name → run(x)`` for the bf16 products (``x`` in fp32, converted first, as a bf16 model's
    embeddings are), oneDNN's packed for ``rows`` rows."""
    half = [(w.bfloat16(), b.bfloat16()) for w, b in weights]
    onednn = [(torch.ops.mkldnn._reorder_linear_weight(w, rows), b) for w, b in half]
    engines = {"onednn-packed": lambda x: run_chain(x.bfloat16(), onednn, onednn_product, layers),
               "torch-linear": lambda x: run_chain(x.bfloat16(), half, linear_product, layers)}
    mkl = mkl_bf16()
    if mkl is not None:
        engines["mkl-bf16"] = lambda x: run_chain(x.bfloat16(), half, mkl, layers)
    return engines


def int8_engines(weights: Weights, layers: bool) -> dict[str, Callable]:
    """``name → run(x)`` for torch's dynamic int8 products on each x86 quantised engine at hand, made as
    ``to_precision(model, "int8")`` makes a model's (the engine that packed them also runs them)."""
    from roberta_prelayernorm.torch.precision import to_precision

    linears = torch.nn.ModuleList(torch.nn.Linear(w.shape[1], w.shape[0]) for w, _ in weights)
    with torch.no_grad():
        for module, (w, b) in zip(linears, weights):
            module.weight.copy_(w), module.bias.copy_(b)
    default, engines = torch.backends.quantized.engine, {}
    for engine in ("x86", "fbgemm", "onednn"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        try:
            modules = to_precision(copy.deepcopy(linears), "int8")
        finally:
            torch.backends.quantized.engine = default

        def run(x: torch.Tensor, engine: str = engine, modules: torch.nn.ModuleList = modules) -> torch.Tensor:
            torch.backends.quantized.engine = engine
            try:
                return run_chain(x, list(modules), lambda x, m, work, r: after(m(x), work, r), layers)
            finally:
                torch.backends.quantized.engine = default

        engines[engine] = run
    return engines


def onnx_chain(weights: Weights, path: str, layers: bool) -> None:
    """The chain as an ONNX graph of MatMul + Add (+ Gelu, + Add of the residual), weights transposed to
    (in, out) as exporters write them: ``run_chain`` on tensor names, each product adding its nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def node(op: str, inputs: list[str], name: str) -> str:
        nodes.append(helper.make_node(op, inputs, [name]))
        return name

    def constant(name: str, value: object) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def product(x: str, i: int, work: str, residual: str | None) -> str:
        w, b = weights[i]
        y = node("MatMul", [x, constant(f"w{i}", w.t().contiguous().numpy())], f"m{i}")
        y = node("Add", [y, constant(f"b{i}", b.numpy())], f"y{i}")
        if work == "gelu":
            return node("Gelu", [y], f"g{i}")
        return node("Add", [y, residual], f"r{i}") if work == "residual" else y

    def take(y: str) -> str:
        bounds = [constant(f"{y}_{k}", np.array([v], dtype=np.int64)) for k, v in (("start", 0), ("end", HIDDEN), ("axis", 1))]
        return node("Slice", [y, *bounds], f"{y}_first")

    out = run_chain("x", list(range(len(weights))), product, layers, take)
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", HIDDEN])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["rows", HIDDEN])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)


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


def onnx_sessions(weights: Weights, folder: str, layers: bool, precision: str, threads: int) -> dict[str, object]:
    """ONNX Runtime sessions on the chain: fp32, and for int8 on its dynamic int8 quantisation too."""
    try:
        path = os.path.join(folder, "chain.onnx")
        onnx_chain(weights, path, layers)
        sessions = {"onnxruntime": ort_session(path, threads)}
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(path, os.path.join(folder, "chain-int8.onnx"), weight_type=QuantType.QInt8)
            sessions["onnxruntime-int8"] = ort_session(os.path.join(folder, "chain-int8.onnx"), threads)
        return sessions
    except ImportError:
        print("onnx/onnxruntime are not installed: no onnxruntime column", file=sys.stderr)
        return {}


def engines_for(precision: str, weights: Weights, rows: int, layers: bool, sessions: dict) -> dict[str, Callable]:
    """``name → run(x)`` for ``precision``; in bf16 and int8 with the fp32 products beside them (named
    ``fp32 …``): ours in the library this CPU's fp32 products use (``kernels.gemm_library()``), and ONNX
    Runtime's in bf16."""
    def ort(name: str) -> dict[str, Callable]:
        session = sessions.get(name)
        if session is None:
            return {}
        return {name: lambda x: torch.from_numpy(session.run(None, {"x": x.numpy()})[0])}

    if precision == "fp32":
        return {**torch_engines(weights, rows, layers), **ort("onnxruntime")}
    from roberta_prelayernorm.torch import kernels

    if kernels.gemm_library() == "mkl":
        any_rows = mkl_any_rows(weights)
        fp32 = {"fp32 mkl-any-rows": lambda x: run_chain(x, weights, any_rows, layers)}
    else:
        onednn = [(torch.ops.mkldnn._reorder_linear_weight(w, rows), b) for w, b in weights]
        fp32 = {"fp32 onednn-packed": lambda x: run_chain(x, onednn, onednn_product, layers)}
    if precision == "bf16":
        return {**bf16_engines(weights, rows, layers), **fp32,
                **{f"fp32 {k}": v for k, v in ort("onnxruntime").items()}}
    return {**int8_engines(weights, layers), **ort("onnxruntime-int8"), **fp32}


BYTES = {"fp32": 4, "bf16": 2, "int8": 1}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--rows", default="8,32,128,1024")
    parser.add_argument("--work", choices=("products", "layers"), default="products")
    parser.add_argument("--precision", choices=tuple(BYTES), default="fp32")
    parser.add_argument("--repeats", type=int, default=9)
    args = parse(parser)
    layers = args.work == "layers"
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; flags {' '.join(cpu['flags'])}; {args.threads} threads; torch {torch.__version__}")
    weights = chain_weights()
    weight_bytes = sum(w.numel() * w.element_size() for w, _ in weights)
    flops_per_row = 2 * sum(w.numel() for w, _ in weights)
    bandwidth = read_bandwidth(weight_bytes)
    print(f"read bandwidth (sum over {weight_bytes / 1e6:.0f} MB): {bandwidth / 1e9:.1f} GB/s, "
          f"so reading the weights once takes {weight_bytes / bandwidth * 1e3:.1f} ms", flush=True)
    baseline = torch.backends.quantized.engine if args.precision == "int8" else "onednn-packed"
    rows_out = []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        sessions = onnx_sessions(weights, folder, layers, args.precision, args.threads)
        for rows in (int(r) for r in args.rows.split(",")):
            engines = engines_for(args.precision, weights, rows, layers, sessions)
            x = torch.randn(rows, HIDDEN, generator=torch.Generator().manual_seed(1))
            exact = run_chain(x, weights, linear_product, layers)
            diffs = {name: float((run(x).float() - exact).abs().max()) for name, run in engines.items()}
            times = {name: statistics.median(ts) for name, ts in interleaved_times(
                {name: (lambda run=run: run(x)) for name, run in engines.items()}, args.repeats).items()}
            nbytes = {k: weight_bytes * (1 if k.startswith("fp32 ") else BYTES[args.precision] / 4) for k in times}
            base = baseline if baseline in times else next(iter(times))
            row = {"rows": rows,
                   "ms": {k: t * 1e3 for k, t in times.items()},
                   "gflops": {k: rows * flops_per_row / t / 1e9 for k, t in times.items()},
                   "weight_gb_per_s": {k: nbytes[k] / t / 1e9 for k, t in times.items()},
                   "baseline": base, "over_baseline": {k: t / times[base] for k, t in times.items() if k != base},
                   "max_abs_diff_vs_fp32": diffs}
            rows_out.append(row)
            print(f"{rows:5d} rows  " + "  ".join(f"{k} {v:6.1f} ms" for k, v in row["ms"].items())
                  + f"  | {base} against: " + "  ".join(f"{k} {v:.2f}x" for k, v in row["over_baseline"].items()),
                  flush=True)
            del engines
    os.makedirs(args.out, exist_ok=True)
    name = "gemm" + ("-layers" if layers else "") + ("" if args.precision == "fp32" else f"-{args.precision}")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump({"cpu": cpu, "torch": torch.__version__, "work": args.work, "precision": args.precision,
                   "weight_bytes_fp32": weight_bytes, "read_bandwidth_gb_per_s": bandwidth / 1e9, "rows": rows_out},
                  f, indent=2)
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
