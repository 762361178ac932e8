"""CPU matrix products with prepacked weights: MKL's packed SGEMM or oneDNN's layout for this CPU, with
the bias and activation (or the bias and residual) done in the same call; and the LM head's decoder
product for training.

``linear(module, x, act=..., residual=...)`` computes ``act(x @ W.T + b)`` or ``residual + x @ W.T + b``.
On a CPU whose torch has oneDNN (x86-64, and ARM builds with it), in inference (no autograd) and in
float32 or bfloat16, the weight is packed once for the GEMM library chosen for this CPU
(:func:`gemm_library`: MKL for fp32 on Intel, oneDNN's blocked layout otherwise; bf16 products in the
arithmetic of :func:`bf16_compute`: fp32 packs of the bf16 weights where bf16 kernels are slow; under
bf16 autocast, as autocast runs ``nn.Linear``, on the weights rounded to bf16, to a bf16 output) and kept
beside the parameter (one extra copy of each packed weight: the cost is stated in the README); anywhere else it is
the plain ``module(x)``. The pack is stamped with the weight's storage and version counter, so
loading, an optimizer step, ``.to()`` or any in-place change repacks before the next product: a packed
product never runs stale weights. Under ``torch.compile`` each packed product is one call of the
custom operator ``packed_linear`` on the same packs (inductor fuses the rest of the graph around it);
under tracing the plain path runs.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _torch_module
from torch.utils.weak import WeakIdKeyDictionary

from .precision import Int8Linear, int8_packs

Tensor = torch.Tensor

# activation name → (oneDNN post-op, its algorithm, the eager function, the same in place)
ACTIVATIONS: dict[str, tuple[str, str, Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "gelu": ("gelu", "none", F.gelu, torch.ops.aten.gelu_),
    "gelu_new": ("gelu", "tanh", lambda x: F.gelu(x, approximate="tanh"),
                 lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "gelu_pytorch_tanh": ("gelu", "tanh", lambda x: F.gelu(x, approximate="tanh"),
                          lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "relu": ("relu", "", F.relu, torch.relu_),
    "silu": ("swish", "", F.silu, lambda x: F.silu(x, inplace=True)),
    "swish": ("swish", "", F.silu, lambda x: F.silu(x, inplace=True)),
    "tanh": ("tanh", "", torch.tanh, torch.tanh_),  # (the pooler's and the classifier's)
}
PACKABLE = (torch.float32, torch.bfloat16)
# The fewest input and output features of an fp32 product that runs packed. Below, oneDNN's cost per
# call outweighs its faster kernel. Measured on a 2-core Xeon (AVX-512), 12 pre-LN layers' products, packed
# against plain time: hidden 256: 1.49x slower at 8 rows, 1.06x at 32, even from 128; hidden 384: even;
# hidden 512: 1.17x and 1.36x faster at 8 and 32 rows; hidden 768: 1.35x and 1.12x.
MIN_FEATURES = 512
# The fewest rows oneDNN is told to expect when packing. Told one row, it keeps an fp32 weight in its plain
# layout, and every later product runs unpacked: on a 2-core Xeon (AVX-512), 12 layers' products on 2 to 8
# rows took 1.3x-1.4x as long as with any hint from 2 to 2048 (alike within noise), and were no faster on one.
PACK_MIN_ROWS = 2
_ENABLED = torch.backends.mkldnn.is_available()
_FRESH = tuple(t for t in (nn.Linear, Int8Linear) if t is not None)  # modules whose output is a new tensor


# ------------------------------------------------------------------------------ the GEMM library
# MKL's packed SGEMM, called through its CBLAS interface, which torch's own library exports where torch was
# built with MKL (x86-64). torch's wrapper (``torch.ops.mkl._mkl_linear``) uses a pack only for the row
# count it was made for; MKL itself runs one pack on any row count. ``benchmarks/bench_gemm.py --work
# layers`` (48 products of a base-size encoder with their bias, GELU and residual work, 2-core Xeon):
# 0.87x-0.96x oneDNN's time on 8 to 256 rows, 0.90x-0.98x on 1024 and 2048.
_ROW_MAJOR, _NO_TRANS, _TRANS, _PACKED, _B_MATRIX = 101, 111, 112, 151, 162  # CBLAS enumerations
MKL_PACK_ROWS = 256  # the rows MKL is told to expect: 64 to 512 ran alike on 8 to 2048 rows, 8 and 16 slower
GEMM_LIBRARIES = ("onednn", "mkl")
_gemm: str | None = None  # set_gemm's choice; None: gemm_library() chooses
_TORCH_CPU = {"linux": "libtorch_cpu.so", "darwin": "libtorch_cpu.dylib", "win32": "torch_cpu.dll"}


@functools.cache
def _mkl() -> object | None:
    """The CBLAS packed-SGEMM functions of torch's MKL (``ctypes``), or None where this torch has none."""
    if not torch.backends.mkl.is_available():
        return None
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", _TORCH_CPU[sys.platform]))
        get_size, pack, compute = lib.cblas_sgemm_pack_get_size, lib.cblas_sgemm_pack, lib.cblas_sgemm_compute
    except (KeyError, OSError, AttributeError):
        return None
    integer, pointer = ctypes.c_int, ctypes.c_void_p  # (MKL_INT is 32 bits in the LP64 interface)
    get_size.restype, get_size.argtypes = ctypes.c_size_t, [integer] * 4
    pack.restype, pack.argtypes = None, [integer] * 6 + [ctypes.c_float, pointer, integer, pointer]
    compute.restype = None
    compute.argtypes = [integer] * 6 + [pointer, integer, pointer, integer, ctypes.c_float, pointer, integer]
    return lib


VENDORS = ("GenuineIntel", "AuthenticAMD")


def vendor_of(description: str) -> str:
    """The CPU vendor named in ``description`` (``/proc/cpuinfo``, or ``platform.processor()``, which on
    Windows reads like "AMD64 Family 25 Model 17 Stepping 1, AuthenticAMD"): one of ``VENDORS``, or ""."""
    return next((vendor for vendor in VENDORS if vendor in description), "")


@functools.cache
def _vendor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return vendor_of(f.read(4096))
    except OSError:
        return vendor_of(platform.processor())


def _intel() -> bool:
    return _vendor() == "GenuineIntel"


def gemm_library() -> str:
    """The library fp32 products are packed for: :func:`set_gemm`'s choice, else MKL on an Intel CPU whose
    torch exports MKL's packed SGEMM and oneDNN anywhere else (MKL was measured faster on Intel only).
    bf16 products computed in fp32 (:func:`bf16_compute`) use it too, bf16 autocast's among them; those
    in bf16 run on oneDNN."""
    if _gemm is not None:
        return _gemm
    return "mkl" if _intel() and _mkl() is not None else "onednn"


def set_gemm(library: str | None) -> None:
    """Pack fp32 products for ``library`` (``"onednn"`` or ``"mkl"``), or let :func:`gemm_library`
    choose (``None``). Products are packed for it on their next call; packs made for the other library
    are kept until :func:`release`.

    Raises:
        ValueError: ``library`` is not one of these, or this torch has no MKL packed SGEMM to call.
    """
    global _gemm
    if library is not None and library not in GEMM_LIBRARIES:
        raise ValueError(f"unknown GEMM library {library!r}: choose one of {GEMM_LIBRARIES} (or None)")
    if library == "mkl" and _mkl() is None:
        raise ValueError("GEMM library 'mkl' is not available: this torch build exports no MKL packed SGEMM "
                         "(cblas_sgemm_pack); use 'onednn'")
    _gemm = library


_bf16_compute: torch.dtype | None = None  # set_bf16_compute's choice; None: bf16_compute() chooses


def bf16_compute() -> torch.dtype:
    """The arithmetic of a bfloat16 model's packed products: :func:`set_bf16_compute`'s choice, else
    bfloat16 where the CPU has AMX tiles (bf16 at several times fp32's rate) or is an AMD CPU with
    AVX512-BF16 (Zen 4 and later), and float32 anywhere else: a base-size bf16 model took 0.54x-0.56x the
    time with the bf16 kernel than with fp32 products on an AMD EPYC (Zen 4), one text of 8 tokens to 16
    of up to 256, while on an Intel Xeon with AVX512-BF16 and no AMX the bf16 kernel was slower beyond a
    few rows (``benchmarks/bench_gemm.py --precision bf16`` shows both on the products alone). Elsewhere
    the products run as fp32 GEMMs on fp32 packs of the bf16 weights (twice a bf16 pack's bytes), the
    input widened and the output rounded to bf16 once. The numbers are a bf16 kernel's: products of bf16
    values are exact in fp32, and both sum in fp32 (only the order of the sums differs). Products under
    bf16 autocast run the same way, on packs of the weights rounded to bf16."""
    if _bf16_compute is not None:
        return _bf16_compute
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    return torch.bfloat16 if amx() or (avx512_bf16() and _vendor() == "AuthenticAMD") else torch.float32


def set_bf16_compute(dtype: torch.dtype | None) -> None:
    """Run bf16 models' packed products in ``dtype`` (``torch.bfloat16`` or ``torch.float32``), or let
    :func:`bf16_compute` choose (``None``). Packs made for the other are remade on their next product.

    Raises:
        ValueError: ``dtype`` is neither.
    """
    global _bf16_compute
    if dtype not in (None, torch.bfloat16, torch.float32):
        raise ValueError(f"bf16 products compute in torch.bfloat16 or torch.float32 (or None), not {dtype!r}")
    _bf16_compute = dtype


_fused: bool | None = None  # set_fused_epilogues's choice; None: fused_epilogues() chooses


def fused_epilogues() -> bool:
    """Whether fp32 products on oneDNN's packs apply their activation or residual add inside the kernel
    (oneDNN post-ops): :func:`set_fused_epilogues`'s choice, else everywhere but on CPUs where torch runs
    AVX2 code at most (no AVX-512). There oneDNN's post-ops cost more than the product alone and torch's
    own kernel in place after it: on an AMD EPYC (Zen 3), 768→3072 with GELU took 1.14x-1.35x the time
    fused, 8 to 512 rows, and 3072→768 with the residual 1.0x-1.35x. bf16 packs always fuse (their
    epilogue rounds once)."""
    if _fused is not None:
        return _fused
    return _cpu_capability() != "AVX2"


@functools.cache
def _cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


def set_fused_epilogues(fused: bool | None) -> None:
    """Fuse oneDNN's fp32 epilogues (``True``), run them after the product (``False``), or let
    :func:`fused_epilogues` choose (``None``).

    Raises:
        ValueError: ``fused`` is not a bool or None.
    """
    global _fused
    if fused is not None and not isinstance(fused, bool):
        raise ValueError(f"fused epilogues are True, False or None, not {fused!r}")
    _fused = fused


def _after(y: Tensor, act: str, residual: Tensor | None) -> Tensor:
    """The epilogue of a product run without one, in place on its fresh output ``y``."""
    if act:
        return ACTIVATIONS[act][3](y)
    return y if residual is None else y.add_(residual)


def _onednn_unfused(weight: Tensor, bias: Tensor, act: str, x: Tensor, residual: Tensor | None = None) -> Tensor:
    return _after(torch.ops.mkldnn._linear_pointwise.default._op(x, weight, bias, "none", [], ""), act, residual)


def _mkl_pack(weight: Tensor) -> Tensor:
    """``weight`` (out, in) packed by MKL as the B of ``x @ weight.T``, in a byte buffer. MKL asks for up to
    2.6x the weight's bytes and writes about the weight's: the pages it never touches are never resident."""
    lib, (n, k) = _mkl(), weight.shape
    weight = weight.contiguous()
    fill = torch.utils.deterministic.fill_uninitialized_memory  # (with deterministic algorithms on, torch
    torch.utils.deterministic.fill_uninitialized_memory = False  # would write all 2.6x: 946 MB for base size)
    try:
        buffer = torch.empty(lib.cblas_sgemm_pack_get_size(_B_MATRIX, MKL_PACK_ROWS, n, k), dtype=torch.uint8)
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill
    lib.cblas_sgemm_pack(_ROW_MAJOR, _B_MATRIX, _TRANS, MKL_PACK_ROWS, n, k, 1.0, weight.data_ptr(), k,
                         buffer.data_ptr())
    return buffer


def _mkl_product(pack: Pack, x: Tensor, act: str, residual: Tensor | None, bias: Tensor,
                 out: Tensor | None = None) -> Tensor:
    """``act(x @ W.T + b)`` or ``residual + x @ W.T + b`` on an MKL pack: the bias (and the residual) are
    the output's starting values, the product is added to them, the activation runs in place after.
    Written into ``out`` where it is a contiguous tensor of the output's shape and dtype (see
    :class:`Product`), else into a new one."""
    (n, k), x = pack.shape, x.contiguous()
    rows, shape = x.numel() // k, (*x.shape[:-1], n)
    if out is None or out.shape != shape or out.dtype != x.dtype or not out.is_contiguous():
        out = torch.empty(shape, dtype=x.dtype)
    # On one row, MKL's packed product with beta = 1 leaves C as it was (torch 2.13's MKL, any shape
    # tried): there it writes the product alone (beta = 0) and the starting values are added after.
    one_row = rows == 1
    if one_row:
        start = torch.add(residual, bias) if residual is not None else bias
    elif residual is not None:
        torch.add(residual, bias, out=out)
    else:  # (copied into a tensor at hand: ``bias.expand(...).contiguous()`` took 1.5x-2.3x the time)
        out.copy_(bias)
    if rows:
        _mkl().cblas_sgemm_compute(_ROW_MAJOR, _NO_TRANS, _PACKED, rows, n, k, x.data_ptr(), k,
                                   pack.weight.data_ptr(), n, 0.0 if one_row else 1.0, out.data_ptr(), n)
    out = out.add_(start) if one_row else out
    return ACTIVATIONS[act][3](out) if act else out


# ------------------------------------------------------------------------------ packs
class Pack:
    """The packed weight of one or more modules (their weights side by side), the library it is packed for,
    the stamp of the weights it was packed from, and a sample of their values (see :func:`sample_views`)."""

    def __init__(self) -> None:
        self.library = "onednn"
        self.shape: tuple[int, int] = (0, 0)  # (out, in) features of the joined weight
        self.stamp: tuple | None = None
        self.views: list[Tensor] | None = None  # of some of the weights' values (see sample_views)
        self.saved: list[Tensor] = []  # those values when packed
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None  # the biases of a group, concatenated
        self.widened = False  # an fp32 pack of bf16 weights (see bf16_compute)
        self.autocast = False  # packed for bf16 autocast: of the weights rounded to bf16, with a bf16 bias copy
        self.refused: set[bool] = set()  # the arithmetics (widened or not) this CPU or build has no kernel for


_CHUNKS, RUN = 4, 16  # values read of each weight before its packed product: 4 runs of 16, spread out
_BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16}


def _bits(t: Tensor) -> Tensor:
    """``t``'s values as integers of the same width (so that equal NaNs compare equal)."""
    return t.view(_BITS[t.dtype]) if t.dtype in _BITS else t


def stamp(tensors: list[Tensor] | tuple[Tensor, ...]) -> tuple:
    """Where each tensor's storage is and its version counter, to tell that none was replaced or changed
    through the tensor API since. An inference tensor (made under ``torch.inference_mode``, a model loaded
    or converted there) has no version counter: its changes show only in the sampled values, as writes
    through ``.data`` do."""
    try:  # (read on every forward: the common case costs no more than the counters)
        return tuple((t.data_ptr(), t._version) for t in tensors)
    except RuntimeError:  # an inference tensor among them
        return tuple((t.data_ptr(), -1 if t.is_inference() else t._version) for t in tensors)


def sample_views(weights: list[Tensor]) -> list[Tensor] | None:
    """Views of a few values of each weight: runs of 16 (a cache line of fp32) at spread rows and
    columns, or all of a small weight; None where one is not contiguous.

    The stamp sees every change made through the tensor API, since such changes move the version
    counter. A write through ``.data`` (``p.data.copy_(...)``, an EMA update, a merged LoRA delta, a
    broadcast) does not move it; these values see any such write that changes one of them, as rewriting
    a whole weight does. A write through ``.data`` to a few elements may be missed: call :func:`release`
    after one."""
    views = []
    for w in weights:
        if not w.is_contiguous():
            return None
        bits, n = _bits(w.detach()), w.numel()
        if n <= _CHUNKS * RUN:
            views.append(bits)
            continue
        step = (n - RUN) // (_CHUNKS - 1)
        if w.dim() > 1 and step % w.shape[-1] == 0:
            step -= 1  # not the same columns in every run
        views.append(torch.as_strided(bits, (_CHUNKS, RUN), (step, 1)))
    return views


def _holds(pack: Pack, biases: list[Tensor]) -> bool:
    """Whether ``pack`` (stamped as current) still holds the weights' sampled values and the biases (a
    single product reads its bias itself; a group's, and autocast's, are a copy, compared whole)."""
    if pack.views is not None and not all(torch.equal(v, s) for v, s in zip(pack.views, pack.saved)):
        return False
    if len(biases) == 1 and not pack.autocast:
        return True
    joined = torch.cat([b.detach() for b in biases]) if len(biases) > 1 else biases[0].detach()
    return torch.equal(_bits(joined.to(pack.bias.dtype)), _bits(pack.bias))  # (autocast's: as rounded)


# first weight of a product → its packs, one per group size, library and autocast. Kept beside the weights,
# not in the modules: a compiled graph reaches its products by their weights (``packed_linear``), and a
# copied or pickled model has new weights, so it packs afresh.
# Tensor → {(group size, library, autocast): Pack} and {group size: the last of these used}
_PACKS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _hooked(modules: Iterable[nn.Module]) -> bool:
    """Whether calling any of ``modules`` would run forward hooks (its own or global ones): then it must be
    called, as the reference calls it, and not bypassed by a packed or joined product."""
    return bool(_torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks
                or any(m._forward_hooks or m._forward_pre_hooks for m in modules))


def _within(module: nn.Module, *, training_too: bool) -> tuple[nn.Module, ...] | None:
    """``module`` and every module within it, or None where any has forward hooks or global ones exist
    (or, ``training_too``, where any is in training mode). Through the modules' own dicts: a third of
    what ``module.modules()`` costs, and this runs before a forward."""
    if _torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks:
        return None
    found, stack = [], [module]
    while stack:
        m = stack.pop()
        if m is None:  # (a child slot set to None)
            continue
        if (training_too and m.training) or m._forward_hooks or m._forward_pre_hooks:
            return None
        found.append(m)
        stack.extend(m._modules.values())
    return tuple(found)


def hooked_within(module: nn.Module) -> bool:
    """Whether ``module`` or any module in it has forward hooks, or global ones exist: compiled graphs do
    not see hooks added after compiling (dynamo does not guard on them), so such layers run eagerly."""
    return _within(module, training_too=False) is None


def inference_modules(module: nn.Module) -> tuple[nn.Module, ...] | None:
    """``module`` and every module within it, or None where any is in training mode or has forward hooks,
    or global forward hooks exist: what a forward that bypasses the module calls checks first."""
    return _within(module, training_too=True)


def _operands(modules: tuple[nn.Module, ...], x: Tensor) -> tuple[list[Tensor], list[Tensor]] | None:
    """The weights and biases of ``modules`` where their products on ``x`` may run packed: CPU inference
    on ``nn.Linear`` modules with biases and no forward hooks, neither traced nor exported, in bfloat16,
    or in float32 with at least ``MIN_FEATURES`` input and joined output features (or under autocast);
    else None. Decided by types and flags only, so also while compiling. (Each attribute is read once:
    this runs before every product.)"""
    if not _ENABLED or x.device.type != "cpu" or x.dtype not in PACKABLE:
        return None
    autocast = _autocast_dtype()
    if autocast is not None and (autocast != torch.bfloat16 or torch.compiler.is_compiling()):
        return None  # (fp16 autocast, and autocast in a compiled graph: the modules' own products)
    weights, biases = [], []
    for module in modules:
        if type(module) is not nn.Linear:
            return None
        weight, bias = module.weight, module.bias
        if (bias is None or weight.numel() == 0  # (0: all heads pruned)
                or (weight.dtype != x.dtype if autocast is None else weight.dtype not in PACKABLE)):
            return None
        weights.append(weight)
        biases.append(bias)
    if _hooked(modules):
        return None
    small = weights[0].shape[1] < MIN_FEATURES or sum(w.shape[0] for w in weights) < MIN_FEATURES
    if small and x.dtype == torch.float32 and autocast is None:
        return None  # (in bf16 and under autocast, packs of any size: their fused epilogues round once)
    if torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in weights)):
        return None
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_exporting():
        return None  # an exported or traced graph holds plain products: it runs without this library
    return weights, biases


def _autocast_dtype() -> torch.dtype | None:
    """The dtype of CPU autocast where it is on, else None."""
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None


def _pack(weights: list[Tensor], biases: list[Tensor], x: Tensor) -> Pack | None:
    """The pack of these weights for this product's library and arithmetic, made or remade when any
    weight or bias changed since (or the bf16 arithmetic did); None where this CPU or build has no packed
    kernel. Under bf16 autocast (the only autocast :func:`_operands` admits) it packs the weights rounded
    to bf16, in the arithmetic of :func:`bf16_compute`, as for a bf16 model. Calls that need different
    packs (fp32 and autocast, say) keep one each rather than remake them in turn."""
    autocast = _autocast_dtype() is not None
    widen = (autocast or x.dtype == torch.bfloat16) and bf16_compute() == torch.float32
    library = gemm_library() if (x.dtype == torch.float32 and not autocast) or widen else "onednn"
    packs = _PACKS.get(weights[0])
    if packs is None:
        packs = _PACKS[weights[0]] = {}
    pack = packs.get((len(weights), library, autocast))
    if pack is None:
        pack = packs[len(weights), library, autocast] = Pack()
    packs[len(weights)] = pack  # (the last one used, for pack_of)
    if widen in pack.refused:
        return None
    operands = (*weights, *biases)
    stamped = (stamp(operands), tuple(t.dtype for t in operands))
    if pack.stamp != stamped or pack.widened != widen or not _holds(pack, biases):
        weight = weights[0].detach() if len(weights) == 1 else torch.cat([w.detach() for w in weights])
        weight = weight.to(torch.bfloat16) if autocast else weight
        weight = weight.float() if widen else weight
        try:
            pack.weight = _mkl_pack(weight) if library == "mkl" else torch.ops.mkldnn._reorder_linear_weight(
                weight, max(x.numel() // x.shape[-1], PACK_MIN_ROWS))
        except RuntimeError:  # this CPU or build has no such kernel: never try it again for these weights
            pack.refused.add(widen)
            return None
        pack.library, pack.shape, pack.widened, pack.autocast = library, tuple(weight.shape), widen, autocast
        pack.bias = biases[0] if len(biases) == 1 else torch.cat([b.detach() for b in biases])
        pack.bias = pack.bias.detach().to(torch.bfloat16) if autocast else pack.bias
        pack.stamp, pack.views = stamped, sample_views(weights)
        pack.saved = [v.clone() for v in pack.views or ()]
    return pack


def _packed_product(pack: Pack, x: Tensor, act: str, residual: Tensor | None) -> Tensor:
    if pack.autocast:  # as autocast runs ``nn.Linear``: bf16 operands, a bf16 output, the residual added after
        y = _rounded_product(pack, x.to(torch.bfloat16), act, None)
        return y if residual is None else residual + y
    return _rounded_product(pack, x, act, residual)


def _rounded_product(pack: Pack, x: Tensor, act: str, residual: Tensor | None) -> Tensor:
    if pack.widened:  # bf16 values on an fp32 pack: widened in, rounded once out
        wide = None if residual is None else residual.float()
        return _library_product(pack, x.float(), act, wide, pack.bias.float()).to(x.dtype)
    return _library_product(pack, x, act, residual, pack.bias)


def _library_product(pack: Pack, x: Tensor, act: str, residual: Tensor | None, bias: Tensor) -> Tensor:
    """The product on ``pack`` in its library (oneDNN's packs also run bf16, with ``x`` and ``bias``)."""
    if pack.library == "mkl":
        return _mkl_product(pack, x, act, residual, bias)
    if x.dtype == torch.float32 and not fused_epilogues():
        return _onednn_unfused(pack.weight, bias, act, x.contiguous(), residual)
    if residual is not None:
        return torch.ops.mkldnn._linear_pointwise.binary(x.contiguous(), residual, pack.weight, bias, "add")
    attr, algorithm = ACTIVATIONS[act][:2] if act else ("none", "")
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), pack.weight, bias, attr, [], algorithm)


def packed_linear(x: Tensor, weights: list[Tensor], biases: list[Tensor], act: str, residual: Tensor | None) -> Tensor:
    """``act(x @ W.T + b)`` or ``residual + x @ W.T + b`` with the weights side by side, on their pack:
    how a ``torch.compile`` graph runs the products (one opaque call each, the rest of the graph fused
    around it; the packs are the eager path's, stamped, so never stale)."""
    pack = _pack(weights, biases, x)
    if pack is not None:
        return _packed_product(pack, x, act, residual)
    y = F.linear(x, torch.cat(weights), torch.cat(biases))
    y = ACTIVATIONS[act][2](y) if act else y
    return y if residual is None else residual + y


def _packed_linear_shape(x: Tensor, weights: list[Tensor], biases: list[Tensor], act: str,
                         residual: Tensor | None) -> Tensor:
    return x.new_empty(*x.shape[:-1], sum(w.shape[0] for w in weights))


# an operator of its own (``torch.ops.roberta_prelayernorm.packed_linear``), registered for CPU only and
# without autograd: a compiled graph calls it in inference only, where its Python costs least
_LIBRARY = torch.library.Library("roberta_prelayernorm", "DEF")
_LIBRARY.define("packed_linear(Tensor x, Tensor[] weights, Tensor[] biases, str act, Tensor? residual) -> Tensor")
_LIBRARY.impl("packed_linear", packed_linear, "CPU")
torch.library.register_fake("roberta_prelayernorm::packed_linear", _packed_linear_shape, lib=_LIBRARY)


def _fits(residual: Tensor | None, x: Tensor, features: int) -> bool:
    """Whether a packed product on ``x`` can take ``residual``: one of the output's shape and dtype,
    contiguous, or any under autocast, whose packed products add it after (elsewhere a residual that
    broadcasts is added after the plain product)."""
    return residual is None or torch.is_autocast_enabled("cpu") or (
        residual.dtype == x.dtype and residual.is_contiguous() and residual.shape == (*x.shape[:-1], features))


def _product(modules: tuple[nn.Module, ...], x: Tensor, act: str | None = None,
             residual: Tensor | None = None) -> Tensor | None:
    """The packed product of ``modules`` (joined), or None where the plain products must run."""
    operands = _operands(modules, x)
    if operands is None or not _fits(residual, x, sum(w.shape[0] for w in operands[0])):
        return None
    if torch.compiler.is_compiling():
        return torch.ops.roberta_prelayernorm.packed_linear(x, *operands, act or "", residual)
    pack = _pack(*operands, x)
    return None if pack is None else _packed_product(pack, x, act or "", residual)


def linear(module: nn.Module, x: Tensor, *, act: str | None = None, residual: Tensor | None = None) -> Tensor:
    """``act(module(x))`` or ``residual + module(x)`` (not both), packed where it can be."""
    y = _product((module,), x, act, residual)
    if y is not None:
        return y
    y = module(x)
    # a fresh product that neither autograd nor a hook holds: the activation and the add may write into it
    owned = type(module) in _FRESH and not (torch.is_grad_enabled() and y.requires_grad) and not _hooked((module,))
    if act is not None and owned:
        y = ACTIVATIONS[act][3](y)
    elif act is not None:
        y = ACTIVATIONS[act][2](y)
    if residual is None:
        return y
    return y.add_(residual) if owned and y.shape == residual.shape and y.dtype == residual.dtype else residual + y


def linears(modules: tuple[nn.Module, ...], x: Tensor) -> tuple[Tensor, ...]:
    """``tuple(m(x) for m in modules)`` as one product where the weights can be packed side by side (the
    pack is a copy anyway, so fusing costs no memory); the results are views of one output. int8
    modules (``precision.Int8Linear``) are joined too: their input is quantised once."""
    y = _product(modules, x)
    if y is None:
        group = _int8_group(modules)
        if group is None:
            return tuple(m(x) for m in modules)
        reduce_range = modules[0].reduce_range
        group = int8_packs(modules[0].__dict__, "_int8_group_onednn", group, x, reduce_range)
        y = torch.ops.quantized.linear_dynamic(x, group, reduce_range=reduce_range)
    return tuple(y.split([m.out_features for m in modules], dim=-1))


def _int8_group(modules: tuple[nn.Module, ...]) -> object | None:
    """The packed int8 weights of ``modules`` side by side (per-channel scales, so joining them changes no
    number), kept on the first module and remade when any of theirs is replaced; None unless all are
    :class:`~roberta_prelayernorm.torch.precision.Int8Linear` with per-channel weights and one input range."""
    if Int8Linear is None or any(type(m) is not Int8Linear for m in modules) or len(
            {m.reduce_range for m in modules}) != 1 or _hooked(modules):
        return None
    packed = tuple(id(m._packed_params._packed_params) for m in modules)
    cached = modules[0].__dict__.get("_int8_group")
    if cached is not None and cached[0] == packed:
        return cached[1]
    weights = [m.weight() for m in modules]
    if any(w.qscheme() != torch.per_channel_affine or w.q_per_channel_axis() != 0 for w in weights):
        return None
    joined = torch._make_per_channel_quantized_tensor(
        torch.cat([w.int_repr() for w in weights]), torch.cat([w.q_per_channel_scales() for w in weights]),
        torch.cat([w.q_per_channel_zero_points() for w in weights]), 0)
    bias = torch.cat([m.bias() for m in modules])
    group = torch.ops.quantized.linear_prepack(joined, bias)
    modules[0].__dict__["_int8_group"] = (packed, group)
    return group


# ------------------------------------------------------------------------------ many products, checked at once
class Product:
    """One product of a model's forward, bound to its modules: ``act(x @ W.T + b)``, ``residual + x @ W.T +
    b``, or for a group (q, k, v) the tuple of the modules' outputs. Runs on ``pack`` where there is one
    (:func:`products` checked it), else as :func:`linear` / :func:`linears` run the modules."""

    __slots__ = ("modules", "pack")

    def __init__(self, modules: tuple[nn.Module, ...], pack: Pack | None) -> None:
        self.modules, self.pack = modules, pack

    def __call__(self, x: Tensor, act: str | None = None, residual: Tensor | None = None
                 ) -> Tensor | tuple[Tensor, ...]:
        if len(self.modules) > 1:
            if self.pack is None:
                return linears(self.modules, x)
            y = _packed_product(self.pack, x, "", None)
            return tuple(y.split([m.out_features for m in self.modules], dim=-1))
        if self.pack is None or not _fits(residual, x, self.pack.shape[0]):
            return linear(self.modules[0], x, act=act, residual=residual)
        return _packed_product(self.pack, x, act or "", residual)

    def bound(self, act: str | None = None, residual: bool = False,
              reuse: list[Tensor | None] | None = None) -> Callable[..., Tensor | tuple[Tensor, ...]]:
        """This product as one callable with its operands bound: ``f(x)`` gives ``act(x @ W.T + b)`` (for a
        group on a pack, the joined output; else as :meth:`__call__` gives it), with ``residual`` ``f(x, r)``
        gives ``r + x @ W.T + b``. On a oneDNN pack it is the library's operator itself, so that no Python
        runs between the caller and the kernel. ``reuse``: a list of one tensor (or None) that an fp32
        product on an MKL pack writes its output into and leaves there for the next product bound to the
        same list. For inputs of the pack's dtype (under autocast, as :meth:`__call__` runs it)."""
        pack = self.pack
        if pack is None or pack.widened or torch.is_autocast_enabled("cpu"):
            return functools.partial(_run, self, act)
        if pack.library == "onednn":
            if pack.weight.dtype == torch.float32 and not fused_epilogues():
                return functools.partial(_onednn_unfused, pack.weight, pack.bias, act or "")
            if residual:
                return functools.partial(torch.ops.mkldnn._linear_pointwise.binary._op, W=pack.weight, B=pack.bias,
                                         attr="add")
            attr, algorithm = ACTIVATIONS[act][:2] if act else ("none", "")
            return functools.partial(torch.ops.mkldnn._linear_pointwise.default._op, W=pack.weight, B=pack.bias,
                                     attr=attr, scalars=[], algorithm=algorithm)
        return functools.partial(_mkl_run, pack, act or "", None if residual else reuse)


def _mkl_run(pack: Pack, act: str, reuse: list[Tensor | None] | None, x: Tensor,
             residual: Tensor | None = None) -> Tensor:
    """:func:`_mkl_product` on ``pack``, into ``reuse[0]`` where it fits, leaving its output there."""
    y = _mkl_product(pack, x, act, residual, pack.bias, None if reuse is None else reuse[0])
    if reuse is not None:
        reuse[0] = y
    return y


def _run(product: Product, act: str | None, x: Tensor, residual: Tensor | None = None) -> Tensor | tuple[Tensor, ...]:
    return product(x, act=act, residual=residual)


class _Products:
    """What :func:`products` keeps per owner: the products, what they were made for, and the values that
    tell whether their packs still hold (every pack's sampled runs and every group's biases, as (n, 16)
    integer views, and those values then, concatenated)."""

    def __init__(self, key: tuple, stamp: tuple, products: list[Product], views: list[Tensor] | None) -> None:
        self.key, self.stamp, self.products, self.views = key, stamp, products, views
        self.saved = torch.cat(views) if views else None

    def holds(self) -> bool:
        """Whether every sampled value is what it was when packed (False where they cannot be compared
        together: then each product is checked as :func:`linear` checks it)."""
        return self.views is not None and (not self.views or torch.equal(torch.cat(self.views), self.saved))


_PRODUCTS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # owner (an encoder) → {products: _Products}


def products(owner: nn.Module, groups: list[tuple[nn.Module, ...]], x: Tensor) -> list[Product]:
    """The products of ``groups`` (each a module, or modules joined side by side) on inputs like ``x``,
    for a forward that runs them all: packed where :func:`linear` would pack them, the packs checked
    together. When no weight was replaced or changed through the tensor API since the last call (their
    storages and version counters) and every sampled value still holds, the check is one comparison for
    all of them, against a few per product on :func:`linear`'s path (a base-size forward runs 48).

    For inference (no autograd) on modules without forward hooks; the caller checks both."""
    modules = [m for group in groups for m in group]
    key = (gemm_library(), bf16_compute(), x.dtype, x.device, MIN_FEATURES, _autocast_dtype(),
           tuple(map(id, modules)), tuple(map(len, groups)))
    # (the modules' own dicts: reading ``m.weight`` goes through ``nn.Module.__getattr__``, 2 µs a time)
    stamped = stamp([t for m in modules for t in m._parameters.values() if t is not None])
    kept = _PRODUCTS.setdefault(owner, {}).get(len(groups))
    if kept is not None and kept.key == key and kept.stamp == stamped and kept.holds():
        return kept.products
    made, views = [], []
    for group in groups:
        operands = _operands(group, x)
        pack = _pack(*operands, x) if operands is not None else None
        made.append(Product(group, pack))
        if pack is not None:
            views += pack.views if pack.views is not None else [None]
            if len(group) > 1 or pack.autocast:  # the bias is a copy: all of each module's is compared
                views += [_bits(b.detach()).view(-1, RUN) if b.numel() % RUN == 0 else None for b in operands[1]]
    if any(v is None or v.dim() != 2 or v.shape[1] != RUN for v in views):
        views = None  # values that cannot be compared together: every call checks each product as linear does
    _PRODUCTS[owner][len(groups)] = _Products(key, stamped, made, views)
    return made


def pack_of(modules: tuple[nn.Module, ...]) -> Pack | None:
    """The pack the joined product of ``modules`` used last, if one was made."""
    return _PACKS.get(modules[0].weight, {}).get(len(modules))


def release(model: nn.Module) -> None:
    """Drop every packed weight of ``model`` (they are rebuilt on the next product), and its onnxruntime
    engine's sessions."""
    from . import ort_engine  # (it imports this module)

    ort_engine.release(model)
    for module in model.modules():
        _PRODUCTS.pop(module, None)
        if isinstance(getattr(module, "weight", None), Tensor):
            _PACKS.pop(module.weight, None)
        for key in [k for k in module.__dict__ if k.startswith("_int8_")]:  # (the joined and oneDNN packs)
            del module.__dict__[key]


# ------------------------------------------------------------------------------ the tied decoder
class _FreshWeightGradLinear(torch.autograd.Function):
    """``x @ W.T + b`` whose weight gradient is a tensor of its own (``F.linear`` gives a transposed
    view). With the decoder tied to the word embeddings, autograd adds the two gradients of that one
    weight: in place into a tensor of its own, but into a new (vocab, hidden) tensor when one is a view."""

    @staticmethod
    def forward(ctx: object, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.addmm(bias, x, weight.t())

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        return (grad @ weight if need_x else None, grad.t() @ x if need_w else None,
                grad.sum(0) if need_b else None)


def decoder_linear(module: nn.Linear, x: Tensor) -> Tensor:
    """``module(x)`` for the LM head's decoder; while training, with a weight gradient of its own."""
    if (not torch.is_grad_enabled() or not module.weight.requires_grad or module.bias is None
            or x.dtype != module.weight.dtype or torch.is_autocast_enabled(x.device.type)
            or torch.compiler.is_compiling() or _hooked((module,))):
        return module(x)
    rows = x.reshape(-1, x.shape[-1])
    return _FreshWeightGradLinear.apply(rows, module.weight, module.bias).view(*x.shape[:-1], -1)
