"""Inference precision: fp32, bf16 and fp16 (converted weights or autocast), and int8 for CPUs.

    model = to_precision(model, "bf16")             # weights in bfloat16; the forward follows them
    with autocast("bf16"):                          # weights stay fp32; matmuls run in bfloat16,
        outputs = model(**inputs)                   # LayerNorm and softmax stay in fp32
    model = to_precision(model, "int8")             # nn.Linear → int8 weights, int8 activations (CPU)

Converted weights halve the memory and are the fastest; autocast keeps the fp32 weights and is a little
more accurate (normalisations stay in fp32). int8 is dynamic quantisation: each ``nn.Linear`` gets
per-channel int8 weights and quantises its input on the fly, so no calibration data is needed. The
input uses all 8 bits where the CPU's int8 dot products accumulate in 32 bits (x86 with VNNI); without
VNNI they multiply pairs into 16 bits, which full-range inputs could saturate, so inputs keep 7 bits.

A precision the processor has no arithmetic for is an error rather than a silent slowdown: fp16 on a
CPU without AVX512-FP16/AMX-FP16 runs emulated, slower than fp32 (``allow_emulated=True`` runs it
anyway, e.g. to measure its accuracy), and int8 dynamic quantisation runs on CPUs only.
The accuracy cost of each option against fp32 is measured by ``benchmarks/bench_precision.py``.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import Any, TypeVar

import torch
from torch import nn

from ..core.dtypes import dtype_name

try:
    from torch.ao.nn.quantized.dynamic import Linear as _DynamicLinear
except ImportError:  # a torch without torch.ao quantisation: to_precision(..., "int8") says so
    _DynamicLinear = None

M = TypeVar("M", bound=nn.Module)

# precision name → the dtype of weights and activations (int8: of the quantised weights)
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "int8": torch.qint8,
}
_SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}  # core.dtypes names → precision names


def resolve_precision(precision: str | torch.dtype) -> str:
    """``"bf16"``, ``"bfloat16"`` or ``torch.bfloat16`` → ``"bf16"``; anything else is a ValueError."""
    if precision is torch.qint8 or (isinstance(precision, str) and precision.lower() in ("int8", "qint8")):
        return "int8"
    try:
        return _SHORT[dtype_name(precision)]
    except ValueError:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}") from None


def _cpu_native(precision: str) -> bool:
    """Whether this CPU has matmul kernels for ``precision`` (oneDNN's own check where torch has it)."""
    if precision in ("fp32", "int8"):
        return True
    probe = "_is_mkldnn_bf16_supported" if precision == "bf16" else "_is_mkldnn_fp16_supported"
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):  # a torch without these probes: ask for the instructions directly
        cpu = torch.cpu
        if precision == "bf16":
            checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        else:
            checks = ("_is_amx_fp16_supported",)
        return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)


def _trial(dtype: torch.dtype, device: torch.device) -> str | None:
    """Run a tiny matmul in ``dtype`` on ``device``; the error text if it cannot."""
    try:
        a = torch.ones(4, 4, dtype=dtype, device=device)
        (a @ a).sum().item()
    except (RuntimeError, TypeError, NotImplementedError) as e:
        return str(e).splitlines()[0]
    return None


def unsupported_reason(precision: str | torch.dtype, device: str | torch.device | None = None, *,
                       allow_emulated: bool = False) -> str | None:
    """Why ``precision`` cannot run on ``device`` (default: CPU), or None when it can.

    Args:
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"`` (or the matching torch dtype).
        device: Where the model runs.
        allow_emulated: Accept a dtype that this processor only emulates (slower than fp32).
    """
    name = resolve_precision(precision)
    device = torch.device("cpu" if device is None else device)
    if name == "int8":
        if device.type != "cpu":
            return (f"precision 'int8' (dynamic quantisation) runs on CPUs only, not on {device}; "
                    f"use 'bf16' or 'fp16' there")
        engine = torch.backends.quantized.engine
        if engine == "none" or engine not in torch.backends.quantized.supported_engines:
            return "precision 'int8' needs a quantised CPU engine (fbgemm/x86/onednn/qnnpack), and this torch has none"
        return None
    if name == "fp32":
        return None
    dtype = PRECISIONS[name]
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return f"precision {name!r} was asked for on {device}, but CUDA is not available"
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            return f"precision 'bf16' is not supported by this GPU ({torch.cuda.get_device_name(device)}); use 'fp16'"
        return None
    error = _trial(dtype, device)
    if error is not None:
        return f"precision {name!r} does not run on {device}: {error}"
    if device.type == "cpu" and not allow_emulated and not _cpu_native(name):
        need = "AVX512 or ARM BF16" if name == "bf16" else "AVX512-FP16, AMX-FP16 or an ARM CPU with FP16"
        other = "'bf16' or 'fp32'" if name == "fp16" and _cpu_native("bf16") else "'fp32'"
        return (f"precision {name!r} is not supported natively by this CPU (it needs {need}): it would run "
                f"emulated, slower than fp32. Use {other}, or pass allow_emulated=True to run it anyway")
    return None


def check_supported(precision: str | torch.dtype, device: str | torch.device | None = None, *,
                    allow_emulated: bool = False) -> str:
    """Like :func:`unsupported_reason`, but raises; returns the canonical precision name.

    Raises:
        ValueError: naming the precision, when it is unknown or cannot run on ``device``.
    """
    name = resolve_precision(precision)
    reason = unsupported_reason(name, device, allow_emulated=allow_emulated)
    if reason is not None:
        raise ValueError(reason)
    return name


def is_quantized(model: nn.Module) -> bool:
    """Whether ``model`` holds int8 dynamically quantised modules."""
    ours = (Int8Linear,) if Int8Linear is not None else ()  # a subclass defined here, not in torch.ao
    return any(isinstance(m, ours) or type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def full_range_int8() -> bool:
    """Whether int8 products may quantise their inputs to all 8 bits: an x86 quantised engine on a CPU
    with VNNI, whose int8 dot products accumulate in 32 bits."""
    vnni = getattr(torch.cpu, "_is_vnni_supported", lambda: False)
    return torch.backends.quantized.engine in ("x86", "fbgemm", "onednn") and bool(vnni())


# int8 products run on the packs of torch's default quantised engine (x86: fbgemm), or, from
# INT8_ONEDNN_ROWS rows on where the input uses all 8 bits, on a oneDNN copy of them, made on the first such
# product (one more copy of the int8 weights: +85 MB at base size). Measured on a 2-core Xeon with VNNI,
# base size, the whole model, the two interleaved: oneDNN took 1.08x the time on one 32-token text, 1.00x
# on 64, 0.95x on 128, 0.92x on 256, 0.88x on 2 × 128, 0.77x-0.90x on 8 × 128 (three runs), with the same
# accuracy (mean difference from fp32 0.01357 against 0.01358 at 128 tokens). On a 2-core AMD EPYC (Zen 4)
# the products alone ran alike on both from 64 to 1,024 rows (oneDNN 0.89x-1.01x; one run 1.10x at 1,024).
# Without VNNI (7-bit inputs) it was not measured: the default engine stays.
INT8_ONEDNN_ROWS = 128
INT8_ENGINES = ("x86", "onednn")
_int8_engine: str | None = None  # set_int8_engine's choice; None: by rows


@functools.cache
def _has_onednn() -> bool:
    return "onednn" in torch.backends.quantized.supported_engines  # (a list built on each read: 48 a forward)


def set_int8_engine(engine: str | None) -> None:
    """Run int8 products on ``"x86"`` (the default engine's packs), ``"onednn"`` (oneDNN's, where the input
    uses all 8 bits, see :func:`full_range_int8`) or, with None, on oneDNN's from ``INT8_ONEDNN_ROWS`` rows.

    Raises:
        ValueError: for another name, or ``"onednn"`` where this torch has no oneDNN quantised engine.
    """
    global _int8_engine
    if engine is not None and engine not in INT8_ENGINES:
        raise ValueError(f"unknown int8 engine {engine!r}; choose one of {', '.join(INT8_ENGINES)} (or None)")
    if engine == "onednn" and not _has_onednn():
        raise ValueError("int8 engine 'onednn' is not in this torch build "
                         f"(its quantised engines: {', '.join(torch.backends.quantized.supported_engines)})")
    _int8_engine = engine


def int8_engine(rows: int, reduce_range: bool) -> str:
    """The engine whose packs run an int8 product on ``rows`` rows (see :func:`set_int8_engine`)."""
    if reduce_range or not _has_onednn():
        return "x86"
    if _int8_engine is not None:
        return _int8_engine
    return "onednn" if rows >= INT8_ONEDNN_ROWS else "x86"


def int8_packs(owner: dict, key: str, packed: Any, x: torch.Tensor, reduce_range: bool) -> Any:
    """``packed`` (int8 weights packed by the engine the model was quantised under) or, where
    :func:`int8_engine` says oneDNN for ``x``'s rows, a oneDNN copy of them: made once and kept in
    ``owner[key]`` (``owner``: a module's ``__dict__``) until ``packed`` is replaced."""
    if int8_engine(x.numel() // max(x.shape[-1], 1) if x.dim() else 1, reduce_range) == "x86":
        return packed
    kept = owner.get(key)
    if kept is not None and kept[0] is packed:
        return kept[1]
    weight, bias = torch.ops.quantized.linear_unpack(packed)
    default = torch.backends.quantized.engine  # (the engine that packs is the one that runs them)
    torch.backends.quantized.engine = "onednn"
    try:
        copy = torch.ops.quantized.linear_prepack(weight, bias)
    finally:
        torch.backends.quantized.engine = default
    owner[key] = (packed, copy)
    return copy


if _DynamicLinear is not None:
    class Int8Linear(_DynamicLinear):
        """torch's dynamically quantised Linear, with the input's range chosen per CPU (``reduce_range``:
        7 bits instead of 8, see :func:`full_range_int8`) and its engine by rows (:func:`int8_engine`);
        torch's own always takes 7 bits and its default engine."""

        reduce_range = True

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            packed = int8_packs(self.__dict__, "_int8_onednn", self._packed_params._packed_params, x,
                                self.reduce_range)
            y = torch.ops.quantized.linear_dynamic(x, packed, reduce_range=self.reduce_range)
            return y.to(x.dtype)
else:
    Int8Linear = None  # type: ignore[assignment,misc]


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def to_precision(model: M, precision: str | torch.dtype, *, device: str | torch.device | None = None,
                 allow_emulated: bool = False) -> M:
    """Convert ``model`` in place for inference in ``precision`` (and move it to ``device``); returns it.

    ``"fp32"``, ``"bf16"`` and ``"fp16"`` convert every floating-point weight (``model.to(dtype)``);
    the forward then computes in that dtype. ``"int8"`` replaces each ``nn.Linear`` (the LM head's
    decoder included) by a dynamically quantised one, on CPU; embeddings and LayerNorms stay fp32. An
    int8 model runs eagerly: it turns off ``set_fast_path(True, compiled=True)``.

    Args:
        model: Any ``nn.Module``, usually one of the seven model classes.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"`` (or the torch dtype).
        device: Move the model there first (default: where it is).
        allow_emulated: Accept a dtype this processor only emulates (slower than fp32, same numbers).

    Returns:
        ``model`` itself, converted.

    Raises:
        ValueError: naming the precision, when it is unknown, not supported by the processor, int8
            on a GPU, or when ``model`` is already int8 (quantisation cannot be undone: load it again).
    """
    name = resolve_precision(precision)
    target = torch.device(device) if device is not None else _model_device(model)
    check_supported(name, target, allow_emulated=allow_emulated)
    if is_quantized(model):
        raise ValueError(f"the model is already int8 (dynamically quantised) and cannot become {name!r}; "
                         f"load it again in floating point")
    model.to(device=target, dtype=torch.float32 if name == "int8" else PRECISIONS[name])
    if name == "int8":
        quantize_dynamic, qconfig = _quantize_dynamic()
        modes = {n: m.training for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao on each call
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_(tensor|channel).*")
            quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8, mapping={nn.Linear: Int8Linear},
                             inplace=True)
        reduce_range = not full_range_int8()
        for n, module in model.named_modules():
            if isinstance(module, Int8Linear):
                module.reduce_range = reduce_range
                module.train(modes.get(n, model.training))  # (torch makes them in training mode)
            if getattr(module, "compile_fast_path", False):  # compiled layers are for float weights
                module.compile_fast_path = False
    return model


def _quantize_dynamic() -> tuple[Any, Any]:
    """torch's ``quantize_dynamic`` and its per-channel int8 configuration."""
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:
        quantize_dynamic = None
    if quantize_dynamic is None or Int8Linear is None:
        raise ValueError(f"precision 'int8' needs torch.ao.quantization.quantize_dynamic, which torch "
                         f"{torch.__version__} no longer has")
    return quantize_dynamic, per_channel_dynamic_qconfig


def autocast(precision: str | torch.dtype, *, device: str | torch.device | None = None,
             allow_emulated: bool = False) -> contextlib.AbstractContextManager:
    """A context in which an fp32 model computes in ``precision``: matmuls in bf16/fp16, norms in fp32.

    ``"fp32"`` turns any enclosing autocast off. ``"int8"`` is a weight conversion: use :func:`to_precision`.

    Raises:
        ValueError: naming the precision, as :func:`to_precision` does, or for ``"int8"``.
    """
    name = resolve_precision(precision)
    device = torch.device("cpu" if device is None else device)
    if name == "int8":
        raise ValueError("precision 'int8' has no autocast: it converts the weights, use to_precision(model, 'int8')")
    check_supported(name, device, allow_emulated=allow_emulated)
    if name == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=PRECISIONS[name])


__all__ = ["PRECISIONS", "Int8Linear", "autocast", "check_supported", "full_range_int8", "is_quantized",
           "resolve_precision", "to_precision", "unsupported_reason"]
