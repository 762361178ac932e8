"""ONNX Runtime as the fast path's engine for inputs without padding: ``set_fast_path(True, engine="onnxruntime")``.

The base model's forward (embeddings, the pre-LN layers, the final LayerNorm and the pooler) is one ONNX
graph written here from the config, not exported: its initializers are the model's own parameters under
their checkpoint names, handed to ONNX Runtime as external initializers (no file, no serialised copy of
the weights). ONNX Runtime keeps its own copy of them, the products' weights packed for MLAS, its GEMM
library: one extra copy of the encoder's weights, as the oneDNN packs are (+351 MB at base size). The
word embeddings stay out of it: their rows are looked up in NumPy before each run. Query, key and value
are one product, attention one ``Attention`` operator per layer.

It runs in inference (no autograd) on a CPU, in float32 or for a model ``to_precision(model, "int8")`` made
(its int8 products ``DynamicQuantizeMatMul`` on the model's own int8 weights), for a batch without padding
(one text, or texts of one length; ids or ``inputs_embeds``; in float32 of at most :func:`max_rows` rows),
when nothing but the final states (and the pooler's output) is asked for, and while no module of the model
has forward hooks. Anything else runs the torch fast path.
The session is made on the first such call (about a second for base size) and made again when a parameter
changes: replaced, changed through the tensor API (storage and version counter), or through ``.data`` (or in
place, where the model was made under ``torch.inference_mode``) where a sampled value shows it (as the oneDNN
packs are checked; :func:`roberta_prelayernorm.torch.kernels.release` drops the session too).
Those checks read every module and parameter, which the forward before evicted from the caches (0.9 ms on
one text, after 10 to 35 ms of session). So once a call found the session current, the next one starts it
on a thread of this module (the session releases the GIL) and checks meanwhile; a run whose checks fail is
dropped and the call goes on as without it (a new session, or the torch path).
Token ids reach the session through NumPy (:func:`ids_without_padding`): no torch operator runs before it.

Why: on CPUs without AVX-512 (an AMD EPYC Zen 3, 2 cores) MLAS's fp32 products at 8-32 rows took 0.68x-0.75x
the time of oneDNN's, the best kernels torch carries; called per product from torch, the two libraries'
thread pools took turns on the cores. The whole forward in one session keeps torch's threads idle meanwhile.
"""

from __future__ import annotations

import os
import queue
import threading
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

from ..core.inputs import check_id_ranges
from . import kernels
from .precision import Int8Linear, full_range_int8, is_quantized

Tensor = torch.Tensor
# Attention is an ONNX operator from 23 on (Gelu from 20). Its CPU kernel gave the numbers of the MatMul,
# Softmax, MatMul it replaced (and their five Transposes, Split and Squeezes) to the bit, in 0.94x-0.96x
# the session's time on one text of 8 to 128 tokens (Xeon with AMX, int8 and fp32).
OPSET = 23
ENGINES = ("torch", "onnxruntime")

# hidden_act → how the FFN's activation is written (ops on the product ``y``); others run the torch fast path
ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "gelu": ("Gelu", {}),
    "gelu_new": ("Gelu", {"approximate": "tanh"}),
    "gelu_pytorch_tanh": ("Gelu", {"approximate": "tanh"}),
    "relu": ("Relu", {}),
    "silu": ("Silu", {}),
    "swish": ("Silu", {}),
    "tanh": ("Tanh", {}),
}


# The most rows (tokens in the batch) of a float32 forward in the session where torch runs AVX-512 code:
# beyond, oneDNN's packed products beat MLAS's. On an AMD EPYC (Zen 4), one text, session / torch path
# time: 32 tokens 0.93, 48 0.97, 64 0.99, 96 1.03, 128 1.07, 2 x 64 1.07, 4 x 32 1.05; on an Intel Xeon (AMX)
# 32 tokens 0.89, 128 1.09, 8 x 128 1.10. Where torch runs AVX2 code at most (AMD EPYC Zen 3) the session was
# faster at every size measured (8 x 128: 0.94), and int8 models run there at any size (Zen 4 8 x 128: 0.90).
AVX512_MAX_ROWS = 64
_max_rows: int | None | bool = False  # set_max_rows's choice; False: max_rows() chooses


def max_rows() -> int | None:
    """The most rows (batch x length) of a float32 model's forward that run in the session: the choice of
    :func:`set_max_rows`, else ``AVX512_MAX_ROWS`` where torch runs AVX-512 code and None (any) elsewhere
    (AVX2, and CPUs not measured: ARM).
    Larger batches run the torch fast path; int8 models run in the session at any size."""
    if _max_rows is not False:
        return _max_rows
    return AVX512_MAX_ROWS if kernels._cpu_capability() == "AVX512" else None


def set_max_rows(rows: int | None | bool = False) -> None:
    """Run float32 forwards of at most ``rows`` rows in the session (``None``: any), or let :func:`max_rows`
    choose (``False``, the default).

    Raises:
        ValueError: ``rows`` is not a positive integer, None or False.
    """
    global _max_rows
    if rows is not None and rows is not False and (type(rows) is not int or rows < 1):
        raise ValueError(f"set_max_rows: rows must be a positive integer, None (any) or False (the CPU's "
                         f"default), not {rows!r}")
    _max_rows = rows


# The form of int8 products' weights in the session. MLAS's int8 x int8 kernel for CPUs without VNNI (AVX2)
# adds pairs of products in 16 bits, which saturates on inputs quantised to all 8 bits; its uint8 x uint8
# kernel adds exactly, slower. On an AMD EPYC (Zen 3), base size, random weights (``bench_inference.py
# --precisions fp32,int8 --engines onnxruntime,ours-onnxruntime,ours-onnxruntime-int8-weights``), mean
# |difference| of the states from fp32 on 8 x 128 / one 32-token text: uint8 weights 0.0144 / 0.0133, int8
# weights 0.0178 / 0.0193, ONNX Runtime on its own int8 quantisation (int8 weights per tensor) 0.0192 /
# 0.0185; speed against it: uint8 weights 1.05x / 0.95x, int8 weights 1.26x / 1.03x (other runs of uint8
# weights 0.76x-0.85x / 0.84x-0.94x).
INT8_WEIGHTS = ("int8", "uint8")
_int8_weights: str | None = None  # set_int8_weights's choice; None: int8_weights() chooses


def int8_weights() -> str:
    """The form of int8 products' weights in the session: :func:`set_int8_weights`'s choice, else
    ``"int8"`` where int8 inputs may take all 8 bits (VNNI: the kernel adds in 32 bits) and ``"uint8"``
    elsewhere (the same values shifted by 128, on a kernel whose sums cannot saturate)."""
    if _int8_weights is not None:
        return _int8_weights
    return "int8" if full_range_int8() else "uint8"


def set_int8_weights(form: str | None) -> None:
    """Give int8 products ``"int8"`` or ``"uint8"`` weights in the session (made again on the next call),
    or let :func:`int8_weights` choose (``None``). ``"int8"`` on a CPU without VNNI runs ONNX Runtime's
    own kernel for its int8 quantisation: faster than ``"uint8"`` there, and less accurate, since its
    16-bit pair sums saturate (see ``INT8_WEIGHTS``).

    Raises:
        ValueError: ``form`` is not one of ``INT8_WEIGHTS`` or None.
    """
    global _int8_weights
    if form is not None and form not in INT8_WEIGHTS:
        raise ValueError(f"set_int8_weights: the weights are 'int8' or 'uint8' (or None: the CPU's default), "
                         f"not {form!r}")
    _int8_weights = form


def require_onnxruntime() -> None:
    """Raise an ``ImportError`` naming the missing package and the extra that installs it."""
    try:
        import onnx  # noqa: F401 - the graph is written with its helpers
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ImportError(f"engine='onnxruntime' needs the packages onnx and onnxruntime ({e.name} is missing): "
                          "pip install 'roberta-prelayernorm[onnx]'") from None


# ------------------------------------------------------------------------------------------ the graph
def _parameters(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, nn.Module]] | None:
    """The float parameters the graph reads, by checkpoint name (relative to the base model), and its int8
    linear modules by name (an int8 model's, :func:`~roberta_prelayernorm.torch.precision.to_precision`);
    None where a module is not the plain one the graph computes (adapted, a custom LayerNorm, half
    precision). The word embeddings are not among them: their rows are looked up before the graph runs
    (the session would copy the whole table: 154 MB at base size)."""
    config = model.config
    expected = {"embeddings.position_embeddings": nn.Embedding,
                "embeddings.token_type_embeddings": nn.Embedding, "embeddings.LayerNorm": nn.LayerNorm,
                "LayerNorm": nn.LayerNorm}
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        expected.update({p + "attention.LayerNorm": nn.LayerNorm, p + "intermediate.LayerNorm": nn.LayerNorm})
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense"):
            expected[p + name] = nn.Linear
    if model.pooler is not None:
        expected["pooler.dense"] = nn.Linear
    modules = dict(model.named_modules())
    params, quantized = {}, {}
    for name, kind in expected.items():
        module = modules.get(name)
        if kind is nn.Linear and Int8Linear is not None and type(module) is Int8Linear:
            quantized[name] = module
            continue
        if type(module) is not kind:
            return None
        for key in ("weight",) if kind is nn.Embedding else ("weight", "bias"):
            t = module._parameters.get(key)
            if t is None or t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
                return None
            params[f"{name}.{key}"] = t
    if quantized and len(quantized) != sum(kind is nn.Linear for kind in expected.values()):
        return None  # (some linear layers int8, others not: not a model to_precision made)
    return params, quantized


def _int8_initializers(name: str, module: nn.Module, form: str) -> dict[str, np.ndarray]:
    """The initializers of ``DynamicQuantizeMatMul`` for an int8 linear layer: its weights transposed to
    (in, out), their per-output-channel scales and zero points, and the float bias; as uint8 (zero point
    + 128: the same values) where :func:`int8_weights` says so."""
    weight = module.weight()  # (out, in), quantised per output channel (or per tensor)
    if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        scales = torch.full((weight.shape[0],), weight.q_scale(), dtype=torch.float64)
        zeros = torch.full((weight.shape[0],), weight.q_zero_point(), dtype=torch.int64)
    else:
        scales, zeros = weight.q_per_channel_scales(), weight.q_per_channel_zero_points()
    values, zeros = weight.int_repr().t().contiguous().numpy(), zeros.numpy()
    if form == "uint8":
        values, zeros = (values.astype(np.int16) + 128).astype(np.uint8), (zeros + 128).astype(np.uint8)
    bias = module.bias()
    bias = np.zeros(weight.shape[0], np.float32) if bias is None else bias.detach().float().numpy()
    return {f"{name}.weight": values, f"{name}.weight_scale": scales.float().numpy(),
            f"{name}.weight_zero_point": zeros.astype(values.dtype), f"{name}.bias": bias}


def graph(config: Any, values: dict[str, np.ndarray], quantized: set[str], pooled: bool) -> Any:
    """The ONNX model of the forward: inputs ``inputs_embeds`` (float32, (batch, length, hidden)),
    ``token_type_ids`` and ``position_ids`` (int64, (batch, length)), outputs ``last_hidden_state`` (and
    ``pooler_output``). ``values`` are declared as external initializers (handed to the session, not
    stored in the graph); the linear layers named in ``quantized`` are int8 (``DynamicQuantizeMatMul``:
    the input quantised to uint8 per tensor on the fly, as torch's dynamic quantisation does)."""
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads = config.hidden_size, config.num_attention_heads
    eps, act, act_attrs = config.layer_norm_eps, *ACTIVATIONS[config.hidden_act]
    nodes, constants = [], []

    def op(kind: str, *inputs: str, outputs: int = 1, name: str = "", **attrs: Any) -> Any:  # output name(s)
        names = [name] if name else [f"{kind}_{len(nodes)}_{j}" for j in range(outputs)]
        nodes.append(helper.make_node(kind, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def const(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(value, name))
        return name

    def norm(x: str, module: str) -> str:
        return op("LayerNormalization", x, module + ".weight", module + ".bias", axis=-1, epsilon=eps)

    def linear(x: str, *modules: str) -> str:  # x @ W.T + b on (rows, features); several: one joined product
        def joined(key: str, axis: int = 0) -> str:  # (a constant: folded at load)
            return op("Concat", *(m + key for m in modules), axis=axis) if len(modules) > 1 else modules[0] + key

        if modules[0] in quantized:  # W as (in, out) int8 with per-column scales (and zero points, if not 0)
            zeros = joined(".weight_zero_point") if modules[0] + ".weight_zero_point" in values else ""
            return op("DynamicQuantizeMatMul", x, joined(".weight", axis=1), joined(".weight_scale"), zeros,
                      joined(".bias"), domain="com.microsoft")
        return op("Gemm", x, joined(".weight"), joined(".bias"), transB=1)  # W as stored: (out, in)

    const("rows", np.array([-1], np.int64))
    const("features", np.array([hidden], np.int64))
    const("joined", np.array([3 * hidden], np.int64))
    const("context", np.array([-1, hidden], np.int64))
    batch_length = op("Shape", "token_type_ids")
    qkv_shape = op("Concat", batch_length, "joined", axis=0)  # (batch, length, 3 hidden)

    def gather(table: str, ids: str) -> str:
        return op("Gather", f"embeddings.{table}.weight", op("Reshape", ids, "rows"))

    x = op("Add", op("Reshape", "inputs_embeds", "context"), gather("token_type_embeddings", "token_type_ids"))
    x = norm(op("Add", x, gather("position_embeddings", "position_ids")), "embeddings.LayerNorm")  # (rows, hidden)
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}."
        names = [p + f"attention.self.{t}" for t in ("query", "key", "value")]
        qkv = op("Reshape", linear(norm(x, p + "attention.LayerNorm"), *names), qkv_shape)  # (B, L, 3 hidden)
        q, k, v = op("Split", qkv, axis=2, num_outputs=3, outputs=3)
        context = op("Reshape", op("Attention", q, k, v, q_num_heads=heads, kv_num_heads=heads), "context")
        x = op("Add", x, linear(context, p + "attention.output.dense"))
        inner = linear(norm(x, p + "intermediate.LayerNorm"), p + "intermediate.dense")
        inner = op("Mul", inner, op("Sigmoid", inner)) if act == "Silu" else op(act, inner, **act_attrs)
        x = op("Add", x, linear(inner, p + "output.dense"))
    states = op("Reshape", norm(x, "LayerNorm"), op("Concat", batch_length, "features", axis=0),
                name="last_hidden_state")
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "length", hidden])]
    if pooled:
        first = op("Gather", states, const("first", np.array(0, np.int64)), axis=1)  # token 0: (batch, hidden)
        op("Tanh", linear(first, "pooler.dense"), name="pooler_output")
        outputs.append(helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", hidden]))
    inputs = [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch", "length", hidden])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "length"])
               for n in ("token_type_ids", "position_ids")]
    placeholders = [_external(name, v) for name, v in values.items()]
    g = helper.make_graph(nodes, "roberta_prelayernorm", inputs, outputs, constants + placeholders)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)])


def _external(name: str, value: np.ndarray) -> Any:
    """An initializer whose data is external: the session is handed the array (and copies it)."""
    from onnx import TensorProto, helper

    p = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype), dims=list(value.shape),
                    data_location=TensorProto.EXTERNAL)
    for key, v in (("location", "parameters"), ("offset", "0"), ("length", str(value.nbytes))):
        entry = p.external_data.add()
        entry.key, entry.value = key, v
    return p


# ------------------------------------------------------------------------------------------ the session
class Session:
    """An ONNX Runtime session on the model's parameters, and what tells whether it still holds them: the
    modules it was made for, their parameters' storages and version counters, and sampled values (as
    :func:`kernels.products` checks its packs); for int8 layers, their packed weights (replaced, never
    changed in place, by ``set_weight_bias``)."""

    def __init__(self, config: Any, modules: tuple[nn.Module, ...], params: dict[str, Tensor],
                 quantized: dict[str, nn.Module], pooled: bool, threads: int, spin_after: bool) -> None:
        import onnxruntime as ort

        self.modules, self.threads = tuple(map(id, modules)), threads
        self.quantized = [(m._packed_params, m._packed_params._packed_params) for m in quantized.values()]
        # (module, key) of each parameter, to read them again before each run without walking the names
        owners = {id(t): m for m in modules for t in m._parameters.values() if t is not None}
        self.slots = [(owners[id(t)], name.rsplit(".", 1)[1]) for name, t in params.items()]
        tensors = list(params.values())
        self.stamp = kernels.stamp(tensors)
        views = kernels.sample_views(tensors)  # (None only for a non-contiguous one: never taken here)
        self.runs = [v for v in views if v.dim() == 2 and v.shape[1] == kernels.RUN]  # compared as one
        self.whole = [v for v in views if v.dim() != 2 or v.shape[1] != kernels.RUN]  # (small tensors)
        self.saved = torch.cat(self.runs) if self.runs else None
        self.saved_whole = [v.clone() for v in self.whole]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        # Its threads spin while it runs (an 8-token text took 1.3x longer without). Before a head, they stop
        # when it returns, leaving the cores to torch's (the pooler in torch after it: 41.1 against 36.1 ms);
        # for the base model alone they spin on, as onnxruntime's own do (stopping them slows the run itself:
        # int8 8 / 32 tokens 14.4 / 22.6 ms against 9.9 / 17.4 spinning; fp32 22.0 / 43.3 against 21.0 / 42.1)
        if not spin_after:
            options.add_session_config_entry("session.force_spinning_stop", "1")
        values = {name: t.detach().numpy() for name, t in params.items()}
        self.int8_weights = int8_weights() if quantized else None
        for name, module in quantized.items():
            values.update(_int8_initializers(name, module, self.int8_weights))
        zeros = [k for k in values if k.endswith(".weight_zero_point")]
        if all(values[k].dtype == np.int8 and not values[k].any() for k in zeros):
            for k in zeros:  # (symmetric int8, as to_precision makes: an all-zero zero point is left out)
                del values[k]
        options.add_external_initializers(list(values), [ort.OrtValue.ortvalue_from_numpy(v) for v in values.values()])
        model = graph(config, values, set(quantized), pooled)
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.current = False  # whether the last call found it current (then the next runs ahead of its checks)

    def holds(self, modules: tuple[nn.Module, ...], threads: int) -> bool:
        """Whether the session still computes what ``modules`` (the model's, as they are now) compute, in
        the form :func:`int8_weights` asks for now."""
        if (threads != self.threads or tuple(map(id, modules)) != self.modules
                or (self.int8_weights is not None and self.int8_weights != int8_weights())):
            return False
        tensors = [m._parameters.get(key) for m, key in self.slots]
        return (all(t is not None for t in tensors) and kernels.stamp(tensors) == self.stamp
                and all(owner._packed_params is packed for owner, packed in self.quantized)
                and (self.saved is None or torch.equal(torch.cat(self.runs), self.saved))
                and all(torch.equal(v, s) for v, s in zip(self.whole, self.saved_whole)))

    def run(self, inputs_embeds: np.ndarray, token_type_ids: np.ndarray, position_ids: np.ndarray
            ) -> list[np.ndarray]:
        feed = {"inputs_embeds": inputs_embeds, "token_type_ids": token_type_ids, "position_ids": position_ids}
        return self.session.run(self.outputs, feed)


class _Run:
    """One session run handed to :class:`_Ahead`'s thread: its outputs or its error once ``done`` is released."""

    def __init__(self, session: Session, feed: tuple[np.ndarray, ...]) -> None:
        self.session, self.feed = session, feed
        self.out: list[np.ndarray] | None = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()

    def result(self) -> list[np.ndarray]:
        with self.done:
            pass
        if self.error is not None:
            raise self.error
        return self.out


class _Ahead:
    """A thread that runs a session while the calling thread checks that the session still computes what
    the model does (:meth:`Session.holds` and the module walk: some 0.9 ms, as the forward before evicted
    what they read from the caches); the session releases the GIL while it runs. One run at a time: a
    caller that finds one in flight (another thread's) runs the session itself, after the checks. Made
    anew in a forked child, which has no such thread."""

    def __init__(self) -> None:
        self.busy = threading.Lock()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None

    def start(self, session: Session, feed: tuple[np.ndarray, ...]) -> _Run | None:
        if not self.busy.acquire(blocking=False):
            return None
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self.work, name="rpln-onnxruntime", daemon=True)
            self.thread.start()
        job = _Run(session, feed)
        self.jobs.put(job)
        return job

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job.out = job.session.run(*job.feed)
            except BaseException as e:  # (handed to the caller, who raises it)
                job.error = e
            finally:
                job.session = job.feed = None
                self.busy.release()
                job.done.release()


_AHEAD = _Ahead()
os.register_at_fork(after_in_child=_AHEAD.__init__)


# ------------------------------------------------------------------------------------------ the inputs
_INTEGERS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_MASKS = _INTEGERS + (torch.bool, torch.float32, torch.float64)  # (the dtypes NumPy shares with torch)


def _int64(ids: Tensor | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``ids`` ((batch, length), or (1, length) for positions) as a contiguous int64 (batch, length) array."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(ids, dtype=np.int64), shape))


def _host(x: object, dtypes: tuple[torch.dtype, ...]) -> bool:
    return isinstance(x, Tensor) and x.device.type == "cpu" and x.dtype in dtypes and not x.requires_grad


def ids_without_padding(config: Any, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None,
                        position_ids: Tensor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(ids, token types, positions)``, int64 (batch, length) arrays, of a CPU batch of token ids without
    padding (no mask, or one of all ones), checked and laid out in NumPy; None for anything else, which the
    model's own checks and layout take (the padded batch, a mask of other values, inputs on another device
    or of another type: they raise there where they must). Values outside their tables raise the model's
    ``ValueError`` here.

    Why: on one short text the torch operators of the general checks, positions and layout took 0.5 ms,
    their code and data evicted from the caches by the forward before (a 32-token text: 10 ms in int8)."""
    if not _host(input_ids, _INTEGERS) or input_ids.dim() != 2 or not input_ids.shape[1]:
        return None
    shape = tuple(input_ids.shape)
    if attention_mask is not None and not (_host(attention_mask, _MASKS) and tuple(attention_mask.shape) == shape
                                           and (attention_mask.numpy() == 1).all()):
        return None
    for given, shapes in ((token_type_ids, (shape,)), (position_ids, (shape, (1, shape[1])))):
        if given is not None and not (_host(given, _INTEGERS) and tuple(given.shape) in shapes):
            return None
    ids = _int64(input_ids, shape)
    types = np.zeros(shape, np.int64) if token_type_ids is None else _int64(token_type_ids, shape)
    if position_ids is None:  # real tokens count up from pad + 1, padding ids keep pad (as the model's)
        real = ids != config.pad_token_id
        positions = np.cumsum(real, axis=1) * real + config.pad_token_id
    else:
        positions = _int64(position_ids, shape)
    check_id_ranges(config, ids, types, positions, shape[1])
    return ids, types, positions


def run_ids(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None,
            position_ids: Tensor | None, spin_after: bool = False) -> tuple[Tensor, Tensor | None] | None:
    """:func:`run` on token ids whose checks and layout :func:`ids_without_padding` does (with no torch
    operator before the session runs), or None where it does not apply: then the model checks the
    inputs, chooses the layout and may call :func:`run`. The caller has checked that the forward asks
    for nothing but the final states and that autograd is off."""
    config = model.config
    if config.is_decoder or config.position_embedding_type != "absolute" or config.hidden_act not in ACTIVATIONS:
        return None
    arrays = ids_without_padding(config, input_ids, attention_mask, token_type_ids, position_ids)
    return None if arrays is None else run(model, arrays[0], None, arrays[1], arrays[2], spin_after)


_SESSIONS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # base model → its Session, or None once one failed


def run(model: nn.Module, input_ids: Tensor | np.ndarray | None, inputs_embeds: Tensor | None,
        token_type_ids: Tensor | np.ndarray, position_ids: Tensor | np.ndarray, spin_after: bool = False
        ) -> tuple[Tensor, Tensor | None] | None:
    """``(last_hidden_state, pooler_output)`` of the base ``model`` through its session (made or remade
    here), or None where the engine does not apply to this model now (the torch fast path runs then): the
    caller has checked the inputs (ids or embeddings, without padding; positions (batch, length) or
    (1, length)) and that autograd is off.
    ``spin_after``: no torch work follows (the base model's own forward), so that the session's threads
    may spin on after a run; chosen when the session is made (a later call of the other kind keeps it)."""
    config, given = model.config, input_ids if input_ids is not None else inputs_embeds
    if (config.hidden_act not in ACTIVATIONS or config.is_decoder
            or (isinstance(given, Tensor) and given.device.type != "cpu")
            or torch.is_autocast_enabled("cpu") or _SESSIONS.get(model, False) is None):
        return None
    if inputs_embeds is None:  # the rows are looked up before the run: a plain fp32 table on the CPU
        table = model.embeddings.word_embeddings
        weight = table.weight if type(table) is nn.Embedding else None
        if weight is None or weight.dtype != torch.float32 or weight.device.type != "cpu":
            return None
    elif inputs_embeds.dtype != torch.float32:
        return None
    limit = max_rows()
    if limit is not None and given.shape[0] * given.shape[1] > limit and not is_quantized(model):
        return None  # a float32 batch that the torch path runs faster
    if inputs_embeds is None:
        embeds = weight.detach().numpy()[np.asarray(input_ids)]  # (in NumPy: no torch threads woken)
    else:
        embeds = np.ascontiguousarray(inputs_embeds.detach().numpy())
    shape = embeds.shape[:2]
    feed = (embeds, _int64(token_type_ids, shape), _int64(position_ids, shape))
    threads = torch.get_num_threads()
    session = _SESSIONS.get(model)
    if session is not None and session.current and (job := _AHEAD.start(session, feed)) is not None:
        modules = kernels.inference_modules(model)  # (while the session runs)
        current = modules is not None and session.holds(modules, threads)
        out = job.result()
        if current:
            return _outputs(out)
        session.current = False  # (its run is dropped; the checks below say what runs now)
    modules = kernels.inference_modules(model)  # None in training mode (dropout) or with forward hooks
    if modules is None:
        return None
    if session is None or not session.holds(modules, threads):
        _SESSIONS.pop(model, None)  # the old session's packs go before the new ones are made
        found = _parameters(model)
        if found is None:
            return None
        try:
            session = _SESSIONS[model] = Session(config, modules, *found, model.pooler is not None, threads,
                                                 spin_after)
        except Exception as e:  # onnxruntime's own failure (the inputs are ours): say so, then run torch's path
            _SESSIONS[model] = None
            reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
            warnings.warn(f"the onnxruntime engine could not be made ({type(e).__name__}: {reason[:200]}); "
                          "the torch fast path runs instead", RuntimeWarning, stacklevel=4)
            return None
    out = session.run(*feed)
    session.current = True  # (checked before this run: the next one may start before its checks)
    return _outputs(out)


def _outputs(out: list[np.ndarray]) -> tuple[Tensor, Tensor | None]:
    """``(last_hidden_state, pooler_output or None)`` as tensors, made in the caller's thread (and modes)."""
    return torch.from_numpy(out[0]), (torch.from_numpy(out[1]) if len(out) > 1 else None)


def release(model: nn.Module) -> None:
    """Drop the sessions of ``model`` and of every base model in it."""
    for module in model.modules():
        _SESSIONS.pop(module, None)
