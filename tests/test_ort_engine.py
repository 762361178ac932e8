"""``set_fast_path(True, engine="onnxruntime")``: batches without padding run their whole forward in one ONNX
Runtime session on the model's own parameters (``roberta_prelayernorm.torch.ort_engine``). It gives the
reference's numbers, runs only where it computes what the model would, and never runs stale weights."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from model_helpers import batch, reference_model

import roberta_prelayernorm as rp
from roberta_prelayernorm.torch import kernels, modeling, ort_engine, precision
from roberta_prelayernorm.torch.precision import to_precision

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytestmark = pytest.mark.onnx
ATOL = 1e-5


def pair(tmp_path: Path, head: str = "RobertaPreLayerNormModel", **config: object
         ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The reference model and ours on its weights, ours on the onnxruntime engine."""
    ref = reference_model(head, **config)
    ref.save_pretrained(tmp_path)
    ours = getattr(rp, head).from_pretrained(tmp_path).eval()
    ours.set_fast_path(True, engine="onnxruntime")
    return ref, ours


@pytest.fixture
def torch_path_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch encoder raises: what passes ran in onnxruntime."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the torch encoder ran")
    monkeypatch.setattr(modeling.RobertaPreLayerNormEncoder, "forward", fail)


@pytest.fixture
def engine_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session raises: what passes ran torch's path."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the onnxruntime engine ran")
    monkeypatch.setattr(ort_engine.Session, "run", fail)


def stops_spinning(model: torch.nn.Module) -> bool:
    """Whether the session of base ``model`` stops its threads' spinning when a run returns."""
    options = ort_engine._SESSIONS[model].session.get_session_options()
    try:
        return options.get_session_config_entry("session.force_spinning_stop") == "1"
    except RuntimeError:  # (not set: onnxruntime's default, spinning on)
        return False


def ids_of(batch_size: int, length: int, seed: int = 0) -> torch.Tensor:
    ids, _ = batch(batch_size, length, seed=seed)
    ids[:, 1:-1] = ids[:, 1:-1].clamp(min=3)  # no padding id inside
    ids[:, -1] = 2
    return ids


@pytest.mark.parametrize("act", ["gelu", "relu", "silu", "gelu_new"])
def test_engine_gives_the_reference_numbers(tmp_path: Path, act: str, torch_path_fails: None) -> None:
    ref, ours = pair(tmp_path, hidden_act=act)
    for ids in (ids_of(1, 7), ids_of(3, 9, seed=1)):
        types = (torch.arange(ids.numel()).view(ids.shape) % 2)
        with torch.inference_mode():
            want, got = ref(ids, token_type_ids=types), ours(ids, token_type_ids=types)
        assert torch.allclose(got.last_hidden_state, want.last_hidden_state, atol=ATOL, rtol=0)
        assert torch.allclose(got.pooler_output, want.pooler_output, atol=ATOL, rtol=0)
        assert got.last_hidden_state.dtype == torch.float32 and got.pooler_output.shape == want.pooler_output.shape
        with torch.inference_mode():  # embeddings given: the same graph
            got = ours(inputs_embeds=ours.get_input_embeddings()(ids), token_type_ids=types)
        assert torch.allclose(got.last_hidden_state, want.last_hidden_state, atol=ATOL, rtol=0)
    assert isinstance(ort_engine._SESSIONS.get(ours), ort_engine.Session)
    assert not stops_spinning(ours)  # nothing runs in torch after the base model's own forward


@pytest.mark.parametrize("head", ["RobertaPreLayerNormForMaskedLM", "RobertaPreLayerNormForSequenceClassification",
                                  "RobertaPreLayerNormForQuestionAnswering"])
def test_heads_read_the_engines_states(tmp_path: Path, head: str, torch_path_fails: None) -> None:
    ref, ours = pair(tmp_path, head)
    ids = ids_of(2, 8)
    with torch.inference_mode():
        want, got = ref(ids), ours(ids)
    for field in ("logits", "start_logits", "end_logits"):
        if field in want:
            assert torch.allclose(got[field], want[field], atol=ATOL, rtol=0), field
    assert isinstance(ort_engine._SESSIONS.get(ours.base_model), ort_engine.Session)
    assert stops_spinning(ours.base_model)  # the head's torch work after it gets the cores


@pytest.fixture
def torch_checks_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's torch input checks and layout raise: what passes was checked and laid out in NumPy."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the torch checks ran")
    monkeypatch.setattr(modeling.RobertaPreLayerNormModel, "check_inputs", fail)
    monkeypatch.setattr(modeling.RobertaPreLayerNormModel, "plan", fail)


def test_ids_are_checked_and_laid_out_in_numpy(tmp_path: Path, torch_path_fails: None, torch_checks_fail: None
                                               ) -> None:
    """Token ids without padding reach the session with no torch operator: a mask of ones (integer, bool or
    float), token types, positions (B, L) or (1, L) for every row, int32 ids, padding ids inside a text
    (their positions stay the padding index, as the reference counts them): the reference's numbers."""
    ref, ours = pair(tmp_path, type_vocab_size=2)
    ids = ids_of(3, 9)
    inside = ids.clone()
    inside[1, 3:5] = ours.config.pad_token_id  # (no mask: the reference attends to them)
    types = torch.arange(27).view(3, 9) % 2
    cases = [dict(input_ids=ids), dict(input_ids=ids, attention_mask=torch.ones(3, 9, dtype=torch.long)),
             dict(input_ids=ids, attention_mask=torch.ones(3, 9, dtype=torch.bool)),
             dict(input_ids=ids, attention_mask=torch.ones(3, 9)), dict(input_ids=ids, token_type_ids=types),
             dict(input_ids=ids, position_ids=torch.arange(5, 14)[None]),
             dict(input_ids=ids, position_ids=torch.arange(27).view(3, 9) + 2),
             dict(input_ids=ids.int()), dict(input_ids=inside)]
    for kwargs in cases:
        with torch.inference_mode():
            want, got = ref(**{**kwargs, "input_ids": kwargs["input_ids"].long()}), ours(**kwargs)
        assert torch.allclose(got.last_hidden_state, want.last_hidden_state, atol=ATOL, rtol=0), kwargs
        assert torch.allclose(got.pooler_output, want.pooler_output, atol=ATOL, rtol=0), kwargs


def test_positions_of_one_row_serve_every_row_on_the_general_path(tmp_path: Path, torch_path_fails: None) -> None:
    """(1, L) positions with a batch of B rows reach the session as (B, L) from the general checks too
    (inputs embeddings): once an onnxruntime broadcast error."""
    ref, ours = pair(tmp_path)
    ids, positions = ids_of(3, 8), torch.arange(3, 11)[None]
    with torch.inference_mode():
        want = ref(ids, position_ids=positions).last_hidden_state
        got = ours(inputs_embeds=ours.get_input_embeddings()(ids), position_ids=positions).last_hidden_state
    assert torch.allclose(got, want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_ids=torch.tensor([[0, 5, 99, 2]])), "input_ids holds token id 99"),
    (dict(input_ids=torch.tensor([[0, -1, 7, 2]])), "input_ids holds token id -1"),
    (dict(input_ids=torch.tensor([[0, 5, 7, 2]]), token_type_ids=torch.tensor([[0, 0, 2, 0]])),
     "token_type_ids holds type 2"),
    (dict(input_ids=torch.tensor([[0, 5, 7, 2]]), position_ids=torch.tensor([[2, 3, 4, 40]])), "position id 40"),
    (dict(input_ids=torch.tensor([[0, 5.0, 7, 2]])), "input_ids must hold integers"),
    (dict(input_ids=torch.tensor([[0, 5, 7, 2]]), attention_mask=torch.tensor([[1, 1, 2, 1]])),
     "attention_mask holds values other than 0 and 1"),
    (dict(input_ids=torch.tensor([[0, 5, 7, 2]]), token_type_ids=torch.zeros(1, 3, dtype=torch.long)),
     "token_type_ids has shape"),
])
def test_bad_ids_on_the_engine_raise_the_models_errors(tmp_path: Path, kwargs: dict, message: str,
                                                       engine_fails: None) -> None:
    """Out-of-range values raise the model's ``ValueError`` from the NumPy checks; a wrong type, shape or mask
    value goes on to the model's own checks, which name it. Nothing reaches the session."""
    _, ours = pair(tmp_path)
    with torch.inference_mode(), pytest.raises((ValueError, TypeError), match=message):
        ours(**kwargs)


@pytest.fixture
def runs_ahead(monkeypatch: pytest.MonkeyPatch) -> list[ort_engine.Session]:
    """The sessions whose runs started ahead of their checks, in order."""
    started: list[ort_engine.Session] = []
    start = ort_engine._AHEAD.start

    def spy(session: ort_engine.Session, feed: tuple) -> object:
        started.append(session)
        return start(session, feed)
    monkeypatch.setattr(ort_engine._AHEAD, "start", spy)
    return started


def test_a_run_ahead_of_its_checks_is_dropped_when_they_fail(tmp_path: Path, runs_ahead: list,
                                                             torch_path_fails: None) -> None:
    """Once a call found the session current, the next runs it while checking; a weight written through
    ``.data`` in between makes the checks fail, and that run's output is dropped for a new session's."""
    ref, ours = pair(tmp_path)
    ids = ids_of(2, 7)
    with torch.inference_mode():
        ours(ids)
        first = ort_engine._SESSIONS[ours]
        assert torch.allclose(ours(ids).last_hidden_state, ref(ids).last_hidden_state, atol=ATOL, rtol=0)
        assert runs_ahead == [first]
        for model in (ours, ref):
            model.encoder.layer[1].output.dense.weight.data.mul_(1.5)
        assert torch.allclose(ours(ids).last_hidden_state, ref(ids).last_hidden_state, atol=ATOL, rtol=0)
        assert runs_ahead == [first, first] and ort_engine._SESSIONS[ours] is not first


def test_a_model_in_training_mode_wastes_one_run_at_most(tmp_path: Path, runs_ahead: list) -> None:
    """After ``train()`` the first call's run ahead is dropped (the checks find dropout on) and later calls
    start none: they run torch's path, with dropout."""
    _, ours = pair(tmp_path, hidden_dropout_prob=0.1)
    ids = ids_of(2, 7)
    with torch.inference_mode():
        ours(ids), ours(ids)
        assert len(runs_ahead) == 1
        ours.train()
        a, b, c = (ours(ids).last_hidden_state for _ in range(3))
    assert len(runs_ahead) == 2 and not torch.equal(a, b)


def test_an_error_of_a_run_ahead_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ours = pair(tmp_path)
    ids = ids_of(1, 5)
    with torch.inference_mode():
        ours(ids)

        def fail(*args: object) -> None:
            raise MemoryError("the session ran out of memory")
        monkeypatch.setattr(ort_engine.Session, "run", fail)
        with pytest.raises(MemoryError, match="ran out of memory"):
            ours(ids)
        monkeypatch.undo()
        assert ours(ids).last_hidden_state.shape == (1, 5, ours.config.hidden_size)  # (the thread goes on)


def test_threads_share_the_model(tmp_path: Path, torch_path_fails: None) -> None:
    """Calls from several threads at once: one runs ahead, the others run the session themselves."""
    from concurrent.futures import ThreadPoolExecutor

    ref, ours = pair(tmp_path)
    texts = [ids_of(1, 6, seed=i) for i in range(16)]
    with torch.inference_mode():
        ours(texts[0])
        want = [ref(ids).last_hidden_state for ids in texts]

        def call(ids: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return ours(ids).last_hidden_state
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(call, texts))
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=ATOL, rtol=0)


def _call_in_child(model: torch.nn.Module, ids: torch.Tensor, out: object) -> None:
    with torch.inference_mode():
        out.put(model(ids).last_hidden_state.numpy())


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_runs_the_engine(tmp_path: Path) -> None:
    """A child forked after runs ahead began (a data loader's, a preforking server's) has no such thread:
    it starts its own and gets the reference's numbers, rather than waiting forever."""
    import multiprocessing

    ref, ours = pair(tmp_path)
    ids = ids_of(1, 6)
    with torch.inference_mode():
        ours(ids), ours(ids)  # (the thread has started)
        want = ref(ids).last_hidden_state
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_call_in_child, args=(ours, ids, out))
    child.start()
    got = out.get(timeout=60)
    child.join(30)
    assert child.exitcode == 0
    assert torch.allclose(torch.from_numpy(got), want, atol=ATOL, rtol=0)


def test_torch_path_runs_where_the_engine_does_not_apply(tmp_path: Path, engine_fails: None) -> None:
    """Padding, extra outputs, autograd, training mode, forward hooks, another dtype."""
    ref, ours = pair(tmp_path, hidden_dropout_prob=0.1)
    ids, mask = batch(3, 9)
    dense = ids_of(2, 9)

    def same(**kwargs: object) -> None:
        with torch.no_grad():
            want, got = ref(**kwargs), ours(**kwargs)
        real = kwargs.get("attention_mask", torch.ones(kwargs["input_ids"].shape)).bool()
        assert torch.allclose(got.last_hidden_state[real], want.last_hidden_state[real], atol=ATOL, rtol=0)

    with torch.inference_mode():
        same(input_ids=ids, attention_mask=mask)  # padded
        got = ours(dense, output_hidden_states=True)
        assert len(got.hidden_states) == ours.config.num_hidden_layers + 1
    out = ours(dense)  # autograd on
    out.last_hidden_state.sum().backward()
    assert ours.embeddings.word_embeddings.weight.grad is not None
    handle = ours.encoder.layer[0].output.dense.register_forward_hook(lambda m, i, o: None)
    with torch.inference_mode():
        same(input_ids=dense)
    handle.remove()
    ours.train()  # dropout
    with torch.inference_mode():
        a, b = ours(dense).last_hidden_state, ours(dense).last_hidden_state
    assert not torch.equal(a, b)
    ours.eval().to(torch.bfloat16)
    with torch.inference_mode():
        got = ours(dense).last_hidden_state
    assert got.dtype == torch.bfloat16
    assert ort_engine._SESSIONS.get(ours) is None


def test_a_changed_or_replaced_weight_makes_a_new_session(tmp_path: Path, torch_path_fails: None) -> None:
    """An optimizer's in-place step, a write through ``.data``, a replaced module, a replaced parameter and
    another thread count each remake the session; ``kernels.release`` drops it. The word embeddings are
    read before each run, not held by the session: a change to them is seen without a new session."""
    ref, ours = pair(tmp_path)
    ids = ids_of(2, 7)

    def check() -> ort_engine.Session:
        with torch.inference_mode():
            got, want = ours(ids).last_hidden_state, ref(ids).last_hidden_state
        assert torch.allclose(got, want, atol=ATOL, rtol=0)
        return ort_engine._SESSIONS[ours]

    first = check()
    assert check() is first  # kept while nothing changes
    changes = [
        lambda m: m.encoder.layer[1].output.dense.weight,
        lambda m: m.encoder.layer[0].attention.self.key.bias,
        lambda m: m.embeddings.position_embeddings.weight,
        lambda m: m.LayerNorm.weight,
    ]
    with torch.no_grad():
        for i, at in enumerate(changes):
            delta = torch.randn(at(ours).shape, generator=torch.Generator().manual_seed(i))
            at(ours).add_(delta), at(ref).add_(delta)  # through the tensor API (the version counter moves)
            before = ort_engine._SESSIONS[ours]
            assert check() is not before
            at(ours).data.copy_(at(ours) * 1.5), at(ref).data.copy_(at(ref) * 1.5)  # through .data
            before = ort_engine._SESSIONS[ours]
            assert check() is not before
        kept = ort_engine._SESSIONS[ours]
        for at in (lambda m: m.embeddings.word_embeddings.weight.add_(0.5),
                   lambda m: m.embeddings.word_embeddings.weight.data.mul_(1.5)):
            at(ours), at(ref)
            assert check() is kept
        new = torch.nn.Linear(32, 32).eval()  # (a new module is in training mode: that runs torch)
        ours.encoder.layer[0].attention.output.dense = new
        ref.encoder.layer[0].attention.output.dense = copy.deepcopy(new)
        before = ort_engine._SESSIONS[ours]
        assert check() is not before
        weight = torch.nn.Parameter(torch.randn(37, 32))
        ours.encoder.layer[1].intermediate.dense.weight = weight
        ref.encoder.layer[1].intermediate.dense.weight = torch.nn.Parameter(weight.clone())
        before = ort_engine._SESSIONS[ours]
        assert check() is not before
    threads = torch.get_num_threads()
    before = ort_engine._SESSIONS[ours]
    try:
        torch.set_num_threads(1 if threads > 1 else 2)
        session = check()
        assert session is not before and session.threads == torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)
    kernels.release(ours)
    assert ours not in ort_engine._SESSIONS


def test_a_model_loaded_under_inference_mode_runs_and_follows_changes(tmp_path: Path, torch_path_fails: None
                                                                        ) -> None:
    """Parameters made under ``torch.inference_mode`` (a model loaded or converted there) have no version
    counter: the engine runs on them all the same, in fp32 and int8, and a change made there in place
    shows in the sampled values and makes a new session."""
    ref, _ = pair(tmp_path)
    ids = ids_of(2, 7)
    with torch.inference_mode():
        ours = rp.RobertaPreLayerNormModel.from_pretrained(tmp_path).eval()
        assert ours.encoder.layer[1].output.dense.weight.is_inference()
        ours.set_fast_path(True, engine="onnxruntime")
        assert torch.allclose(ours(ids).last_hidden_state, ref(ids).last_hidden_state, atol=ATOL, rtol=0)
        first = ort_engine._SESSIONS[ours]
        for model in (ours, ref):
            model.encoder.layer[1].output.dense.weight.mul_(1.5)
        assert torch.allclose(ours(ids).last_hidden_state, ref(ids).last_hidden_state, atol=ATOL, rtol=0)
        assert ort_engine._SESSIONS[ours] is not first
        int8 = to_precision(copy.deepcopy(ours), "int8")
        want = simulated(ref, int8)(ids).last_hidden_state
        assert torch.allclose(int8(ids).last_hidden_state, want, atol=ATOL, rtol=0)
        assert isinstance(ort_engine._SESSIONS.get(int8), ort_engine.Session)


def test_a_module_the_graph_does_not_compute_runs_torch(tmp_path: Path, engine_fails: None) -> None:
    """A wrapped linear layer (an adapter, say) is not an ``nn.Linear``: the model's own modules run."""
    ref, ours = pair(tmp_path)

    class Scaled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Linear) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) * 2

    layer = ours.encoder.layer[0].intermediate
    layer.dense = Scaled(layer.dense)
    ref_layer = ref.encoder.layer[0].intermediate
    ref_layer.dense = Scaled(ref_layer.dense)
    ids = ids_of(1, 6)
    with torch.inference_mode():
        assert torch.allclose(ours(ids).last_hidden_state, ref(ids).last_hidden_state, atol=ATOL, rtol=0)


def test_set_fast_path_names_a_bad_engine_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ours = pair(tmp_path)
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'"):
        ours.set_fast_path(True, engine="tensorrt")
    with pytest.raises(ValueError, match="choose one"):
        ours.set_fast_path(True, compiled=True, engine="onnxruntime")
    with pytest.raises(ValueError, match="onnxruntime engine is part of the fast path"):
        ours.set_fast_path(False, engine="onnxruntime")
    quantized = to_precision(copy.deepcopy(ours), "int8")
    assert quantized.base_model.fast_engine == "onnxruntime"  # (int8 runs there too)
    with pytest.raises(ValueError, match="int8"):
        quantized.set_fast_path(True, compiled=True)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"onnxruntime is missing.*\[onnx\]"):
        ours.set_fast_path(True, engine="onnxruntime")
    assert ours.base_model.fast_engine == "onnxruntime"  # (set by the first call: unchanged by the failed ones)


def test_a_session_that_cannot_be_made_warns_and_runs_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref, ours = pair(tmp_path)
    import onnxruntime

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no kernel for this CPU")
    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    ids = ids_of(1, 5)
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="no kernel for this CPU"):
        got = ours(ids).last_hidden_state
    with torch.inference_mode():
        assert torch.allclose(got, ref(ids).last_hidden_state, atol=ATOL, rtol=0)
        ours(ids)  # no second attempt, no second warning
    assert ort_engine._SESSIONS[ours] is None



class SimulatedInt8(torch.nn.Module):
    """An int8 layer as ONNX Runtime's ``DynamicQuantizeMatMul`` defines it, computed independently: the
    input quantised to uint8 over its whole range and zero (scale and zero point in float32, rounded half
    to even), times the dequantised int8 weights of ``layer``, in float64."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
        scale = (hi - lo) / 255
        zero = torch.clamp(torch.round(-lo / scale), 0, 255)
        q = torch.clamp(torch.round(x / scale) + zero, 0, 255)
        weight, bias = self.layer.weight().dequantize().double(), self.layer.bias().double()
        return (((q - zero) * scale).double() @ weight.T + bias).float()


def simulated(ref: torch.nn.Module, int8: torch.nn.Module) -> torch.nn.Module:
    """The reference model with each linear layer replaced by :class:`SimulatedInt8` on ``int8``'s layer of
    the same name (the checkpoint's names are the same in both)."""
    for name, module in list(ref.named_modules()):
        if isinstance(module, torch.nn.Linear):
            ref.set_submodule(name, SimulatedInt8(int8.get_submodule(name)))
    return ref


@pytest.mark.parametrize("form", ["int8", "uint8"])
def test_int8_model_runs_its_int8_products_in_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         form: str, torch_path_fails: None) -> None:
    """An int8 model (``to_precision``) on the engine: its per-channel int8 weights and float biases in
    ``DynamicQuantizeMatMul``, against the reference with the same int8 products computed independently;
    as uint8 weights too (``set_int8_weights``; the default on CPUs without VNNI). A replaced int8 weight
    makes a new session, and so does the other form of the weights."""
    exact = ["uint8", "int8"] if precision.full_range_int8() else ["uint8"]
    if form not in exact:
        pytest.skip("this CPU has no VNNI: MLAS's int8 x int8 kernel adds pairs of products in 16 bits, which "
                    "saturates, so its numbers are not the exact products (the uint8 case runs)")
    monkeypatch.setattr(ort_engine, "_int8_weights", None)
    ort_engine.set_int8_weights(form)
    ref, ours = pair(tmp_path)
    int8 = to_precision(ours, "int8")
    want_model = simulated(ref, int8)
    ids = ids_of(2, 9)

    def check() -> ort_engine.Session:
        with torch.inference_mode():
            got, want = int8(ids), want_model(ids)
        # (where x / scale lands within float32 rounding of a half, the two sides could quantise one
        # element a step apart, ~1e-4 here; it does not happen on these inputs)
        for field in ("last_hidden_state", "pooler_output"):
            assert torch.allclose(got[field], want[field], atol=ATOL, rtol=0), field
        return ort_engine._SESSIONS[int8]

    session = check()
    assert len(session.quantized) == 6 * int8.config.num_hidden_layers + 1  # every product, the pooler's too
    assert session.int8_weights == form
    layer = int8.encoder.layer[1].output.dense
    shape = layer.weight().shape
    weight = torch.quantize_per_channel(torch.randn(shape), torch.full((shape[0],), 0.02, dtype=torch.double),
                                        torch.zeros(shape[0], dtype=torch.long), 0, torch.qint8)
    layer.set_weight_bias(weight, layer.bias() + 1)
    replaced = check()
    assert replaced is not session
    session = replaced
    assert check() is session
    other = next(f for f in ort_engine.INT8_WEIGHTS if f != form)
    ort_engine.set_int8_weights(other)
    if other in exact:
        remade = check()
    else:  # (saturating sums here: the session's form is checked, its numbers are not exact products)
        with torch.inference_mode():
            int8(ids)
        remade = ort_engine._SESSIONS[int8]
    assert remade is not session and remade.int8_weights == other


@pytest.mark.parametrize("form", ["uint", "INT8", 8, "fp32"])
def test_set_int8_weights_names_a_bad_value(form: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_engine, "_int8_weights", None)
    with pytest.raises(ValueError, match="set_int8_weights: the weights are 'int8' or 'uint8'"):
        ort_engine.set_int8_weights(form)  # type: ignore[arg-type]
    assert ort_engine._int8_weights is None
    assert ort_engine.int8_weights() == ("int8" if precision.full_range_int8() else "uint8")


@pytest.mark.parametrize("capability, default", [("AVX512", ort_engine.AVX512_MAX_ROWS), ("AVX2", None),
                                                 ("DEFAULT", None)])
def test_float_batches_beyond_the_cpus_row_limit_run_the_torch_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capability: str, default: int | None) -> None:
    """fp32: batches of up to ``max_rows()`` rows (the CPU's default: AVX-512 only) run in the session,
    larger ones the torch path (the same numbers either way); an int8 model runs in it at any size."""
    monkeypatch.setattr(kernels, "_cpu_capability", lambda: capability)
    assert ort_engine.max_rows() == default
    ref, ours = pair(tmp_path)
    runs: list[int] = []
    session_run = ort_engine.Session.run

    def counted(self, inputs_embeds, *rest):
        runs.append(inputs_embeds.shape[0] * inputs_embeds.shape[1])
        return session_run(self, inputs_embeds, *rest)

    monkeypatch.setattr(ort_engine.Session, "run", counted)
    monkeypatch.setattr(ort_engine, "_max_rows", 10)
    for ids in (ids_of(1, 10), ids_of(2, 8), ids_of(1, 11)):
        with torch.inference_mode():
            want, got = ref(ids), ours(ids)
        assert torch.allclose(got.last_hidden_state, want.last_hidden_state, atol=ATOL, rtol=0)
        assert torch.allclose(got.pooler_output, want.pooler_output, atol=ATOL, rtol=0)
    assert runs == [10]
    int8 = to_precision(copy.deepcopy(ours), "int8")
    with torch.inference_mode():
        int8(ids_of(2, 8))
    assert runs == [10, 16]
    ort_engine.set_max_rows(None)  # (monkeypatch restores the default afterwards)
    with torch.inference_mode():
        got = ours(ids_of(2, 8))
    assert runs == [10, 16, 16]
    assert torch.allclose(got.last_hidden_state, ref(ids_of(2, 8)).last_hidden_state, atol=ATOL, rtol=0)


@pytest.mark.parametrize("rows", [0, -3, 2.5, "64", True])
def test_set_max_rows_names_a_bad_value(rows: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_engine, "_max_rows", False)
    with pytest.raises(ValueError, match="set_max_rows: rows must be a positive integer"):
        ort_engine.set_max_rows(rows)  # type: ignore[arg-type]
    assert ort_engine._max_rows is False
