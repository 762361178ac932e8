"""Helpers shared by the benchmarks: their command line, the CPU, models with identical weights,
interleaved timing, matmul peak."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Callable

import torch

# RoBERTa-base size with the published checkpoints' conventions (514 positions, one token type)
BASE = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5)

RESULTS = os.path.join(os.path.dirname(__file__), "results")


def command_line(doc: str) -> argparse.ArgumentParser:
    """A benchmark's arguments: its docstring as help, ``--threads`` (2) and ``--out`` (``results/``); see
    :func:`parse`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=RESULTS)
    return parser


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with torch set to ``--threads`` threads."""
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "asimd",
             "sve", "bf16")


def cpu_description() -> dict[str, object]:
    """The CPU model and the ISA flags that matter for GEMM kernels (from /proc/cpuinfo where there is one)."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and model == "unknown":
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags |= set(value.split())
    except OSError:
        pass
    return {"model": model, "flags": [f for f in ISA_FLAGS if f in flags], "threads": torch.get_num_threads()}


def model_pair(head: str = "RobertaPreLayerNormModel", seed: int = 0, **config: object):
    """The newest ``transformers`` model (default attention) and ours, loaded from the same weights."""
    import transformers

    import roberta_prelayernorm as rp

    torch.manual_seed(seed)
    ref = getattr(transformers, head)(transformers.RobertaPreLayerNormConfig(**{**BASE, **config}))
    with tempfile.TemporaryDirectory() as folder:
        ref.save_pretrained(folder)
        ours = getattr(rp, head).from_pretrained(folder)
    return ref.eval(), ours.eval()


class OutputField(torch.nn.Module):
    """``model(input_ids=..., attention_mask=...).<field>`` as a module of those two tensors: what an
    engine computes, in the form ``torch.onnx.export`` and ``torch.compile`` take."""

    def __init__(self, model: torch.nn.Module, field: str) -> None:
        super().__init__()
        self.model, self.field = model, field

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask), self.field)


def export_onnx(module: torch.nn.Module, example: tuple[torch.Tensor, torch.Tensor], path: str) -> None:
    """``module(input_ids, attention_mask)`` to ONNX the way a user exports it: ``torch.onnx.export`` with the
    dynamo exporter, dynamic batch and sequence axes, opset 20."""
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    program = torch.onnx.export(module.eval(), example, None, input_names=["input_ids", "attention_mask"],
                                dynamic_shapes={"input_ids": axes, "attention_mask": axes}, dynamo=True,
                                opset_version=20, verbose=False)
    program.save(path)


def ort_session(path: str, threads: int) -> object:
    """An ONNX Runtime CPU session on ``path``: all graph optimisations, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


PAUSE_S = 0.25


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2,
                      pause: float = PAUSE_S) -> dict[str, list[float]]:
    """Seconds of each function over ``repeats`` rounds, each running every function once, so that drift
    hits all alike. The order rotates by one each round, so that no function always follows the same
    one, and every timed run starts after the same ``pause``: ONNX Runtime's threads spin for a while
    after a run returns (measured here, they slowed the next engine by 40% 20 ms later), and the time
    a run waits changes what it costs (an int8 text took 30% longer after 250 ms idle than back to back), so
    every engine waits alike."""
    names = list(fns)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            time.sleep(pause)
            times[name].append(timed(fns[name]))
    return times


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each function (see :func:`interleaved_times`)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(fns, repeats, warmup).items()}


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Measured FLOP/s of one large square matmul in ``dtype`` on this machine."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def encoder_flops(lengths: list[int], hidden: int = 768, intermediate: int = 3072, layers: int = 12) -> float:
    """Useful FLOPs of the encoder on real tokens only: projections, FFN, and attention per sequence."""
    tokens = sum(lengths)
    linear = 2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = sum(4 * n * n * hidden for n in lengths)
    return layers * (linear + attention)
