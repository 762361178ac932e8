"""Precision options: bf16/fp16 (weights or autocast) and int8 against fp32, and their errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import roberta_prelayernorm as rp
from roberta_prelayernorm.torch import precision
from roberta_prelayernorm.torch.precision import autocast, is_quantized, resolve_precision, to_precision

from model_helpers import batch, perturb, tiny

# Tolerances, as a share of the largest |output| of the fp32 model on real tokens.
# bf16 keeps 8 significant bits: each stored weight and activation is off by up to u = 2^-9 ≈ 2.0e-3
# of its value. Matmuls accumulate in fp32, so the error of a layer is a few u, and LayerNorm rescales
# it rather than letting it grow; through embeddings, 2 layers and the head, measured errors are at most
# 1.3e-2 (about 6u). fp16 keeps 11 bits, u = 2^-11 ≈ 4.9e-4; measured at most 1.7e-3 (about 3.5u).
# We allow 20u for both: real mistakes (a mask cast to the wrong dtype, a LayerNorm skipped, fp32 weights
# left behind) move these outputs by O(1), which is 25x (bf16) to 100x (fp16) above these bounds.
RELATIVE_TOLERANCE = {"bf16": 20 * 2**-9, "fp16": 20 * 2**-11}
HEADS = ["RobertaPreLayerNormModel", "RobertaPreLayerNormForMaskedLM",
         "RobertaPreLayerNormForSequenceClassification", "RobertaPreLayerNormForQuestionAnswering"]


def make(head: str = "RobertaPreLayerNormForMaskedLM", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    config = rp.RobertaPreLayerNormConfig(**tiny(num_labels=2 if "Question" in head else 5))
    return perturb(getattr(rp, head)(config), seed).eval()


def output(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The head's main output at real tokens (per-sequence outputs whole), in fp32."""
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    value = next(getattr(out, n) for n in ("logits", "start_logits", "last_hidden_state") if hasattr(out, n))
    value = value.float()
    return value[mask.bool()] if value.shape[:2] == mask.shape else value


@pytest.mark.parametrize("name", ["bf16", "fp16"])
@pytest.mark.parametrize("mode", ["weights", "autocast"])
@pytest.mark.parametrize("head", HEADS, ids=[h.removeprefix("RobertaPreLayerNorm") or "Model" for h in HEADS])
def test_low_precision_is_close_to_fp32(name: str, mode: str, head: str) -> None:
    # allow_emulated: a CPU without fp16 arithmetic computes the same numbers, only slower
    model = make(head)
    ids, mask = batch(4, 12)
    expected = output(model, ids, mask)
    if mode == "weights":
        converted = to_precision(copy.deepcopy(model), name, allow_emulated=True)
        assert {p.dtype for p in converted.parameters()} == {precision.PRECISIONS[name]}
        got = output(converted, ids, mask)
    else:
        with autocast(name, allow_emulated=True):
            got = output(model, ids, mask)
        assert {p.dtype for p in model.parameters()} == {torch.float32}  # autocast leaves the weights alone
    scale = expected.abs().max().item()
    error = (got - expected).abs().max().item() / scale
    assert error <= RELATIVE_TOLERANCE[name], f"{name} ({mode}): max error {error:.1e} of the largest output"
    assert error > 0  # it did compute in lower precision


@pytest.mark.parametrize("head", HEADS, ids=[h.removeprefix("RobertaPreLayerNorm") or "Model" for h in HEADS])
def test_autocast_fast_path_is_torch_autocast(head: str) -> None:
    """Under bf16 autocast the fast path computes what torch's autocast computes module by module (every
    ``nn.Linear`` hooked, so none is bypassed or packed): every output in the same dtype (the pooler's and
    the heads' products in bf16), the numbers within the bf16 tolerance (they differ by rounding steps:
    the fast path's GELU and tanh run before the output is rounded, torch's after)."""
    model = make(head)
    ids, mask = batch(4, 12)
    with torch.no_grad(), autocast("bf16", allow_emulated=True):
        fast = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hooks = [m.register_forward_hook(lambda *_: None) for m in model.modules() if isinstance(m, nn.Linear)]
        plain = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    for hook in hooks:
        hook.remove()
    assert fast.keys() == plain.keys()
    for name in fast.keys():
        for got, want in zip(*((v if isinstance(v, tuple) else (v,)) for v in (fast[name], plain[name]))):
            assert got.dtype == want.dtype, name
            error = (got.float() - want.float()).abs().max().item() / want.float().abs().max().item()
            assert error <= RELATIVE_TOLERANCE["bf16"], f"{name}: {error:.1e} of the largest output"


BF16_MISSING = precision.unsupported_reason("bf16")  # None where this CPU runs bf16 natively


@pytest.mark.skipif(BF16_MISSING is not None, reason=f"this CPU has no native bf16: {BF16_MISSING}")
def test_fp32_round_trip() -> None:
    model = make()
    ids, mask = batch()
    expected = output(model, ids, mask)
    assert to_precision(model, "fp32") is model
    assert torch.equal(output(model, ids, mask), expected)
    to_precision(model, "bf16")
    to_precision(model, "fp32")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_int8_agrees_with_fp32_on_most_positions() -> None:
    model = make()
    ids, mask = batch(4, 12)
    expected = output(model, ids, mask)
    quantized = to_precision(copy.deepcopy(model), "int8")
    assert is_quantized(quantized) and not is_quantized(model)
    assert not any(type(m) is nn.Linear for m in quantized.modules())  # the LM head's decoder too
    assert quantized.roberta_prelayernorm.embeddings.word_embeddings.weight.dtype == torch.float32
    got = output(quantized, ids, mask)  # the fast path: fused_qkv falls back to the three modules
    agreement = (got.argmax(-1) == expected.argmax(-1)).float().mean().item()
    # int8 weights per tensor: each weight off by up to max|w|/254, activations likewise; measured 100%
    # agreement and 4e-2 relative error here (cf. bf16's 1e-2). "Most positions": at least 90%.
    assert agreement >= 0.9, agreement
    assert (got - expected).abs().max().item() <= 0.1 * expected.abs().max().item()


def test_int8_exact_path_runs() -> None:
    quantized = to_precision(make(), "int8")
    quantized.set_fast_path(False)
    ids, mask = batch()
    assert torch.isfinite(output(quantized, ids, mask)).all()


def test_names() -> None:
    assert resolve_precision("bfloat16") == resolve_precision(torch.bfloat16) == resolve_precision("BF16") == "bf16"
    assert resolve_precision("torch.float16") == "fp16"
    with pytest.raises(ValueError, match=r"unknown precision 'fp8'; choose one of fp32, bf16, fp16, int8"):
        to_precision(make(), "fp8")


# ------------------------------------------------------------------------------------------- errors
def test_int8_on_gpu_is_an_error() -> None:
    model = make()
    with pytest.raises(ValueError, match=r"precision 'int8' .* CPUs only, not on cuda"):
        to_precision(model, "int8", device="cuda")
    assert not is_quantized(model)
    with pytest.raises(ValueError, match="precision 'int8' has no autocast"):
        autocast("int8")


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_dtype_the_cpu_lacks_is_an_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_cpu_native", lambda _: False)  # as on a CPU without these instructions
    model = make()
    with pytest.raises(ValueError, match=rf"precision '{name}' is not supported natively by this CPU"):
        to_precision(model, name)
    with pytest.raises(ValueError, match=rf"precision '{name}'"):
        autocast(name)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # left as it was
    to_precision(model, name, allow_emulated=True)  # the explicit way to run it anyway


def test_dtype_that_does_not_run_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_trial", lambda dtype, device: '"addmm" not implemented for \'Half\'')
    with pytest.raises(ValueError, match=r"precision 'fp16' does not run on cpu: \"addmm\" not implemented"):
        to_precision(make(), "fp16", allow_emulated=True)


def test_this_cpu_is_probed() -> None:
    # whatever this machine has, fp32 and int8 run, and the answer for bf16/fp16 is a reason or None
    assert precision.unsupported_reason("fp32") is None and precision.unsupported_reason("int8") is None
    for name in ("bf16", "fp16"):
        reason = precision.unsupported_reason(name)
        assert reason is None or name in reason


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is missing")
def test_cuda_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"precision 'bf16' was asked for on cuda, but CUDA is not available"):
        to_precision(make(), "bf16", device="cuda")


def test_quantized_model_cannot_go_back() -> None:
    quantized = to_precision(make(), "int8")
    with pytest.raises(ValueError, match="already int8"):
        to_precision(quantized, "fp32")


def _independent_int8(linear: nn.Linear, x: torch.Tensor, levels: int) -> torch.Tensor:
    """``linear(x)`` as dynamic int8 computes it, written out: per-channel symmetric int8 weights, the
    input per-tensor asymmetric over 0..``levels``, the products summed exactly (float64)."""
    weight, x = linear.weight.double(), x.double()
    w_scale = weight.abs().amax(1, keepdim=True) / 127
    w = (weight / w_scale).round().clamp(-128, 127) * w_scale
    low, high = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    scale = (high - low) / levels
    zero = round(-low / scale)
    xq = ((x / scale).round() + zero).clamp(0, levels)
    return (((xq - zero) * scale) @ w.T + linear.bias.double()).float()


def test_int8_inputs_use_all_8_bits_where_the_cpu_accumulates_in_32_bits() -> None:
    """With VNNI the quantised input spans 0..255 (torch's own module takes 0..127 everywhere), checked
    against an independent computation of the product (per-channel symmetric int8 weights, per-tensor
    asymmetric uint8 input over either range); the full range nearly halves the error against fp32."""
    if not precision.full_range_int8():
        pytest.skip("this CPU has no VNNI: int8 inputs keep 7 bits (fbgemm would saturate 16-bit pair sums)")
    torch.manual_seed(0)
    linear, x = nn.Linear(64, 48), torch.randn(20, 64)
    quantized = to_precision(nn.Sequential(copy.deepcopy(linear)), "int8")[0]
    assert isinstance(quantized, precision.Int8Linear) and quantized.reduce_range is False

    independent = lambda levels: _independent_int8(linear, x, levels)  # noqa: E731
    with torch.no_grad():
        exact, full = linear(x), quantized(x)
        quantized.reduce_range = True
        reduced = quantized(x)
    # each is the computation of its own range (up to the observers' rounding of the scales: measured
    # 0.01 here) and far from the other's (0.04)
    gap = lambda a, b: (a - b).abs().max().item()  # noqa: E731
    assert gap(full, independent(255)) < 0.5 * gap(full, independent(127))
    assert gap(reduced, independent(127)) < 0.5 * gap(reduced, independent(255))
    assert (full - exact).abs().mean() < 0.75 * (reduced - exact).abs().mean()


def test_int8_inputs_of_many_rows_run_on_onednn_packs_with_the_same_arithmetic() -> None:
    """From ``INT8_ONEDNN_ROWS`` rows a product runs on a oneDNN copy of the int8 weights (faster there,
    ``precision.py``), made once and remade when the weights are replaced: the same computation as the
    default engine's, checked against the independent one, and never stale."""
    if not precision.full_range_int8() or "onednn" not in torch.backends.quantized.supported_engines:
        pytest.skip("oneDNN int8 packs are used only where int8 inputs take 8 bits (VNNI) and torch has oneDNN")
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    quantized = to_precision(nn.Sequential(copy.deepcopy(linear)), "int8")[0]
    few, many = torch.randn(precision.INT8_ONEDNN_ROWS - 1, 64), torch.randn(precision.INT8_ONEDNN_ROWS, 64)
    gap = lambda a, b: (a - b).abs().max().item()  # noqa: E731
    with torch.no_grad():
        quantized(few)
        assert "_int8_onednn" not in quantized.__dict__  # few rows: the default engine's packs
        on_onednn = quantized(many)
        assert "_int8_onednn" in quantized.__dict__
        precision.set_int8_engine("x86")
        on_x86 = quantized(many)
        precision.set_int8_engine(None)
        for y in on_onednn, on_x86:  # (the observers round the scales: 0.01 off, against 0.04 for 7 bits)
            assert gap(y, _independent_int8(linear, many, 255)) < 0.5 * gap(y, _independent_int8(linear, many, 127))
        assert gap(on_onednn, on_x86) < 0.5 * gap(on_onednn, _independent_int8(linear, many, 127))
        quantized.set_weight_bias(quantized.weight(), quantized.bias() + 1)  # new packs: the copy is remade
        torch.testing.assert_close(quantized(many), on_onednn + 1, rtol=0, atol=1e-5)
    from roberta_prelayernorm.torch import kernels

    kernels.release(quantized)  # drops the copy with the other packs
    assert "_int8_onednn" not in quantized.__dict__


def test_int8_engine_choice() -> None:
    """``set_int8_engine`` forces either engine where it can run, and names what it cannot take."""
    with pytest.raises(ValueError, match="unknown int8 engine 'fbgemm'"):
        precision.set_int8_engine("fbgemm")
    assert precision.int8_engine(1, reduce_range=True) == "x86"  # 7-bit inputs: the default engine only
    if "onednn" in torch.backends.quantized.supported_engines:
        precision.set_int8_engine("onednn")
        assert precision.int8_engine(1, reduce_range=False) == "onednn"
        precision.set_int8_engine("x86")
        assert precision.int8_engine(10**6, reduce_range=False) == "x86"


def test_int8_query_key_value_run_as_one_product_with_the_same_numbers() -> None:
    """The three int8 projections share one quantised input and one product; replacing one module's
    weights (``set_weight_bias``) remakes the joined product."""
    from roberta_prelayernorm.torch import kernels

    quantized = to_precision(make(), "int8")
    attention = quantized.roberta_prelayernorm.encoder.layer[0].attention.self
    modules = (attention.query, attention.key, attention.value)
    x = torch.randn(7, attention.query.in_features)
    with torch.no_grad():
        joined = kernels.linears(modules, x)
        assert "_int8_group" in attention.query.__dict__
        for got, module in zip(joined, modules):
            assert torch.equal(got, module(x))
        many = torch.randn(precision.INT8_ONEDNN_ROWS, attention.query.in_features)  # (oneDNN's packs, if used)
        for got, module in zip(kernels.linears(modules, many), modules):
            assert torch.equal(got, module(many))
        weight = attention.key.weight()
        attention.key.set_weight_bias(weight, attention.key.bias() + 1)
        assert torch.equal(kernels.linears(modules, x)[1], attention.key(x))
