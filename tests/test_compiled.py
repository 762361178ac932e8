"""``torch.compile`` over the packed products: ``set_fast_path(True, compiled=True)`` and a user's own
``torch.compile(model)``. The compiled graphs call ``kernels.packed_linear`` on the eager path's packs,
so they give the reference's numbers and follow every weight change (no frozen copies)."""

from __future__ import annotations

import copy
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from model_helpers import batch, perturb, reference_model, tiny

import roberta_prelayernorm as rp
from roberta_prelayernorm.torch import kernels, modeling, precision

pytestmark = [
    pytest.mark.slow,  # each compile takes seconds
    pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                       reason="no C++ compiler: inductor cannot build its CPU kernels"),
]
ATOL = 1e-5
MLM = "RobertaPreLayerNormForMaskedLM"


def compiled_mlm(tmp_folder: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    ref = reference_model(MLM)
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_folder).eval()
    ours.set_fast_path(True, compiled=True)
    return ref, ours


def test_compiled_fast_path_gives_the_reference_numbers(tmp_folder: Path) -> None:
    """One text, then texts of one length (a new shape class), compiled; a padded batch runs eagerly."""
    ref, ours = compiled_mlm(tmp_folder)
    encoder = ours.roberta_prelayernorm.encoder
    ids, mask = batch(3, 9)
    with torch.inference_mode():
        for inputs in ({"input_ids": ids[:1]}, {"input_ids": ids[:, :7]}, {"input_ids": ids[:2, :5],
                                                                          "attention_mask": mask[:2, :5]}):
            torch.testing.assert_close(ours(**inputs).logits, ref(**inputs).logits, atol=ATOL, rtol=0)
        assert modeling._COMPILED.get(encoder) is not None  # the compiled layers ran, and did not fail
        assert kernels.pack_of((encoder.layer[0].intermediate.dense,)).weight is not None  # on the packs
        del modeling._COMPILED[encoder]
        got = ours(ids, mask).logits  # padding: the eager packed layout, nothing compiled
        assert encoder not in modeling._COMPILED
    torch.testing.assert_close(got[mask.bool()], ref(ids, mask).logits[mask.bool()], atol=ATOL, rtol=0)


def test_compiled_layers_follow_weight_changes(tmp_folder: Path) -> None:
    """An in-place change, a training step and ``load_state_dict`` after compiling: the next compiled
    call runs the new weights (the graph reads the parameters, and the packs are restamped)."""
    _, ours = compiled_mlm(tmp_folder)
    ids = batch(1, 9)[0]
    plain = copy.deepcopy(ours)
    plain.set_fast_path(True)
    with torch.no_grad():
        before = ours(ids).logits
        for model in (ours, plain):
            model.roberta_prelayernorm.encoder.layer[0].intermediate.dense.weight.mul_(1.5)
        changed = ours(ids).logits
        torch.testing.assert_close(changed, plain(ids).logits, atol=ATOL, rtol=0)
        assert (changed - before).abs().max() > 1e-2
    ours.train()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.5)
    ours(ids, labels=ids).loss.backward()  # training runs the eager layers: autograd is on
    optimizer.step()
    ours.eval()
    plain.load_state_dict(ours.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, plain(ids).logits, atol=ATOL, rtol=0)


def test_hooks_added_after_compiling_run(tmp_folder: Path) -> None:
    """Dynamo does not guard on hooks: with a forward hook on a layer the eager layers run, so the hook
    does; without it the compiled ones again."""
    _, ours = compiled_mlm(tmp_folder)
    eager = copy.deepcopy(ours)
    eager.set_fast_path(True)
    ids = batch(1, 9)[0]
    zero = lambda module, inputs, output: torch.zeros_like(output)  # noqa: E731
    with torch.inference_mode():
        before = ours(ids).logits  # compiles
        handles = [m.roberta_prelayernorm.encoder.layer[0].intermediate.dense.register_forward_hook(zero)
                   for m in (ours, eager)]
        hooked = ours(ids).logits
        torch.testing.assert_close(hooked, eager(ids).logits, atol=ATOL, rtol=0)
        assert (hooked - before).abs().max() > 1e-3
        for handle in handles:
            handle.remove()
        torch.testing.assert_close(ours(ids).logits, before, atol=ATOL, rtol=0)


def test_a_failed_compile_warns_and_runs_the_eager_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where inductor cannot compile (here: its compiler raising), a RuntimeWarning names the failure and
    the answer is the eager one, then and on every later call."""
    def broken(*args: object, **kwargs: object) -> object:
        def run(*a: object, **k: object) -> object:
            raise RuntimeError("C++ compile error: no compiler found")
        return run

    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids = batch(2, 9)[0]
    with torch.no_grad():
        expected = model(ids).last_hidden_state
        model.set_fast_path(True, compiled=True)
        monkeypatch.setattr(torch, "compile", broken)
        with pytest.warns(RuntimeWarning, match="torch.compile of the encoder failed.*no compiler found"):
            got = model(ids).last_hidden_state
        again = model(ids).last_hidden_state  # no second attempt, no second warning
    assert modeling._COMPILED[model.encoder] is None
    torch.testing.assert_close(got, expected, atol=0, rtol=0)
    torch.testing.assert_close(again, expected, atol=0, rtol=0)


def test_users_torch_compile_runs_the_packed_operator(tmp_folder: Path) -> None:
    """``torch.compile(model)`` with padding (compiled graphs take the padded layout): the products are
    ``packed_linear`` calls, and real tokens equal the reference."""
    ref, ours = compiled_mlm(tmp_folder)
    ours.set_fast_path(True)
    ids, mask = batch(3, 9)
    compiled = torch.compile(ours)
    with torch.inference_mode():
        compiled(ids, mask)
        with torch.profiler.profile() as profile:
            got = compiled(ids, mask).logits
    calls = [e for e in profile.events() if e.name == "roberta_prelayernorm::packed_linear"]
    assert len(calls) == 4 * 2 + 1  # q/k/v joined, output, FFN in and out, per layer; the LM head's dense
    real = mask.bool()
    torch.testing.assert_close(got[real], ref(ids, mask).logits[real], atol=ATOL, rtol=0)


def test_packed_operator_without_a_pack_gives_the_plain_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU or build without oneDNN's kernel: the operator computes the plain joined product."""
    torch.manual_seed(0)
    modules = [torch.nn.Linear(16, n) for n in (8, 4)]
    x, residual = torch.randn(5, 16), torch.randn(5, 12)
    monkeypatch.setattr(kernels, "_pack", lambda *args: None)
    weights, biases = [m.weight for m in modules], [m.bias for m in modules]
    with torch.no_grad():
        expected = torch.cat([m(x) for m in modules], dim=-1)
        got = torch.ops.roberta_prelayernorm.packed_linear(x, weights, biases, "gelu", None)
        torch.testing.assert_close(got, torch.nn.functional.gelu(expected), atol=ATOL, rtol=0)
        got = torch.ops.roberta_prelayernorm.packed_linear(x, weights, biases, "", residual)
        torch.testing.assert_close(got, residual + expected, atol=ATOL, rtol=0)


def test_set_fast_path_arguments_and_copies() -> None:
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny())).eval()
    with pytest.raises(ValueError, match="compiled layers are part of the fast path"):
        model.set_fast_path(False, compiled=True)
    with pytest.raises(TypeError, match="set_fast_path takes bools"):
        model.set_fast_path("yes")
    model.set_fast_path(True, compiled=True)
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert other.compile_fast_path and other.encoder not in modeling._COMPILED


@pytest.mark.skipif(precision.Int8Linear is None, reason="this torch has no torch.ao dynamic quantisation")
def test_int8_models_run_eagerly() -> None:
    """Quantising turns the compiled layers off; asking for them on an int8 model is a ValueError."""
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny())).eval()
    model.set_fast_path(True, compiled=True)
    precision.to_precision(model, "int8")
    assert not model.compile_fast_path
    with pytest.raises(ValueError, match="this one is int8"):
        model.set_fast_path(True, compiled=True)
