"""Prepacked CPU products (``torch/kernels.py``): the same numbers as the plain modules, never stale."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

import roberta_prelayernorm as rp
from model_helpers import batch, perturb, tiny
from roberta_prelayernorm.torch import kernels, precision

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                                reason="this torch build has no oneDNN: the plain products run")
ATOL = 1e-5
# oneDNN's bf16 kernel, which rounds its fused epilogue once, needs native bf16 arithmetic (AVX512-BF16 or
# AMX); elsewhere its bf16 packs are refused and bf16 products run plain (``_runs_plain`` checks that)
BF16_KERNEL = precision._cpu_native("bf16")
LIBRARIES = [pytest.param(name, marks=pytest.mark.skipif(name == "mkl" and kernels._mkl() is None,
                                                         reason="this torch build exports no MKL packed SGEMM"))
             for name in kernels.GEMM_LIBRARIES]


@pytest.fixture(autouse=True, params=LIBRARIES)
def library(request: pytest.FixtureRequest):
    """Every test here runs with fp32 products packed for each GEMM library this torch has (and the tests
    after them with the CPU's own choice, and its own bf16 arithmetic)."""
    kernels.set_gemm(request.param)
    yield request.param
    kernels.set_gemm(None)
    kernels.set_bf16_compute(None)


@pytest.fixture(autouse=True, params=[True, False], ids=["fused", "unfused"])
def epilogue(request: pytest.FixtureRequest):
    """... and with oneDNN's fp32 activation and residual add fused into the product and after it (each
    CPU takes one of them by default: ``kernels.fused_epilogues``)."""
    kernels.set_fused_epilogues(request.param)
    yield request.param
    kernels.set_fused_epilogues(None)


@pytest.mark.parametrize("act", [None, *kernels.ACTIVATIONS])
def test_packed_product_equals_the_plain_one(act: str | None, library: str) -> None:
    torch.manual_seed(0)
    module, x = torch.nn.Linear(16, 24), torch.randn(2, 5, 16)
    with torch.no_grad():
        got = kernels.linear(module, x, act=act)
        expected = module(x) if act is None else kernels.ACTIVATIONS[act][2](module(x))
    pack = kernels.pack_of((module,))
    assert pack.weight is not None and pack.library == library  # the packed kernel ran
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_packed_products_of_odd_shapes() -> None:
    """One row (MKL's packed product ignores a starting C there), rows in a (batch, length) layout, no
    rows at all, a strided input and a residual that broadcasts."""
    torch.manual_seed(0)
    module = torch.nn.Linear(16, 24)
    wide = torch.randn(3, 4, 32)
    with torch.no_grad():
        for x in (torch.randn(1, 16), torch.randn(1, 1, 16), torch.randn(2, 16), torch.randn(3, 4, 16),
                  torch.randn(0, 16), wide[..., ::2]):
            torch.testing.assert_close(kernels.linear(module, x), module(x), atol=ATOL, rtol=0)
            torch.testing.assert_close(kernels.linear(module, x, act="gelu"), F.gelu(module(x)), atol=ATOL, rtol=0)
            residual = torch.randn(*x.shape[:-1], 24)
            torch.testing.assert_close(kernels.linear(module, x, residual=residual), residual + module(x),
                                       atol=ATOL, rtol=0)
        assert kernels.pack_of((module,)).weight is not None
        x, residual = torch.randn(3, 4, 16), torch.randn(4, 24)
        torch.testing.assert_close(kernels.linear(module, x, residual=residual), residual + module(x),
                                   atol=ATOL, rtol=0)


@pytest.mark.parametrize("compute", [torch.float32, torch.bfloat16])
def test_autocast_products_compute_as_autocast(compute: torch.dtype, library: str) -> None:
    """Under bf16 autocast an fp32 module's product is autocast's: of the input, weight and bias rounded to
    bf16, to a bf16 output (a residual added after, in its own dtype), in the arithmetic of
    ``bf16_compute``: oneDNN's bf16 kernel, or an fp32 pack of the rounded weights for this CPU's fp32
    library. Each gives the exact product of the rounded values, rounded once, within the one rounding step
    that another order of the fp32 sums may move it; torch's own autocast of the module, too."""
    torch.manual_seed(0)
    kernels.set_bf16_compute(compute)
    module, x, residual = torch.nn.Linear(64, 48), torch.randn(7, 64), torch.randn(7, 48)
    rounded = [t.detach().bfloat16().float() for t in (x, module.weight, module.bias)]
    wide = F.linear(*rounded)  # exact: products of bf16 values are exact in fp32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        if compute == torch.bfloat16 and not BF16_KERNEL:  # a refused bf16 pack: autocast's module runs
            assert torch.equal(kernels.linear(module, x, act="gelu"), F.gelu(module(x)))
            assert kernels.pack_of((module,)).refused == {False}
            return
        for act, want in ((None, wide), ("gelu", F.gelu(wide))):
            got, torch_autocast = kernels.linear(module, x, act=act), module(x)
            assert got.dtype == torch_autocast.dtype == torch.bfloat16
            torch.testing.assert_close(got.float(), want.bfloat16().float(), atol=1e-6, rtol=2 ** -8)
            if act is None:
                torch.testing.assert_close(got.float(), torch_autocast.float(), atol=1e-6, rtol=2 ** -8)
        got = kernels.linear(module, x, residual=residual)
        assert got.dtype == (residual + module(x)).dtype == torch.float32
        torch.testing.assert_close(got - residual, wide.bfloat16().float(), atol=1e-6, rtol=2 ** -8)
        pack = kernels.pack_of((module,))
        assert (pack.library, pack.widened, pack.autocast) == (
            library if compute == torch.float32 else "onednn", compute == torch.float32, True)
        plain = module.forward
        module.forward = lambda *_: pytest.fail("the plain module ran")  # a residual of any dtype, or one
        for rows, r in ((x.bfloat16(), residual), (x, residual[0])):  # that broadcasts, is added after the pack
            torch.testing.assert_close(kernels.linear(module, rows, residual=r) - r, wide.bfloat16().float(),
                                       atol=1e-6, rtol=2 ** -8)
        module.forward = plain
        module.bias.data.add_(1.0)  # a write that moves no version counter: the bias copy is remade (torch's
        wide = F.linear(*rounded[:2], module.bias.detach().bfloat16().float())  # autocast's cached copy is not)
        torch.testing.assert_close(kernels.linear(module, x).float(), wide.bfloat16().float(), atol=1e-6, rtol=2 ** -8)


def test_fp16_autocast_runs_the_modules() -> None:
    """fp16 autocast has no packed product: the module's own (autocast's fp16), the same numbers."""
    torch.manual_seed(0)
    module, x = torch.nn.Linear(64, 48), torch.randn(7, 64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        got = kernels.linear(module, x, act="gelu")
        assert got.dtype == torch.float16 and torch.equal(got, F.gelu(module(x)))
    assert kernels.pack_of((module,)) is None


def test_fp32_and_autocast_calls_keep_a_pack_each(library: str) -> None:
    """A model called in fp32 and under autocast in turn keeps the pack of each (autocast's of the weights
    rounded to bf16) instead of remaking one every call."""
    torch.manual_seed(0)
    module, x = torch.nn.Linear(16, 24), torch.randn(5, 16)
    with torch.no_grad():
        for round_ in range(3):
            torch.testing.assert_close(kernels.linear(module, x), module(x), atol=ATOL, rtol=0)
            fp32 = kernels.pack_of((module,))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got, expected = kernels.linear(module, x), module(x)
            assert got.dtype == expected.dtype == torch.bfloat16
            torch.testing.assert_close(got.float(), expected.float(), atol=2 ** -7, rtol=0)
            mixed = kernels.pack_of((module,))
            if round_ == 0:
                first = (fp32, fp32.weight, mixed, mixed.weight)
                widened = kernels.bf16_compute() == torch.float32
                assert (fp32.library, mixed.library) == (library, library if widened else "onednn")
                assert fp32 is not mixed and (fp32.autocast, mixed.autocast, mixed.widened) == (False, True, widened)
            assert all(a is b for a, b in zip((fp32, fp32.weight, mixed, mixed.weight), first))
        module.weight.mul_(2)  # a change remakes each pack on its next use
        torch.testing.assert_close(kernels.linear(module, x), module(x), atol=ATOL, rtol=0)
        assert kernels.pack_of((module,)).weight is not first[1]


def _runs_plain(module: torch.nn.Linear, x: torch.Tensor, residual: torch.Tensor) -> None:
    """Where the CPU has no bf16 kernel, asking for bf16 arithmetic runs the plain module: its numbers, no pack."""
    with torch.no_grad():
        assert torch.equal(kernels.linear(module, x, act="gelu"), F.gelu(module(x)))
        assert torch.equal(kernels.linear(module, x, residual=residual), residual + module(x))
    assert kernels.pack_of((module,)).refused == {False}


def test_bfloat16_products_in_either_arithmetic(library: str) -> None:
    """A bf16 model's products run on oneDNN's bf16 kernel, or (``set_bf16_compute(torch.float32)``, the
    choice without AMX) as fp32 products on an fp32 pack of the bf16 weights for this CPU's library.
    Either gives the exact product of the bf16 values rounded to bf16 once (with the bias, GELU or the
    residual), within the one rounding step that a different order of the fp32 sums may move it."""
    torch.manual_seed(0)
    module = torch.nn.Linear(64, 48).to(torch.bfloat16)
    x, residual = torch.randn(7, 64, dtype=torch.bfloat16), torch.randn(7, 48, dtype=torch.bfloat16)
    wide = F.linear(x.float(), module.weight.float(), module.bias.float())  # the exact fp32 computation
    expected = {None: wide, "gelu": F.gelu(wide), "residual": residual.float() + wide}
    for compute, kernel in ((torch.bfloat16, "onednn"), (torch.float32, library), (torch.bfloat16, "onednn")):
        kernels.set_bf16_compute(compute)
        if compute == torch.bfloat16 and not BF16_KERNEL:
            _runs_plain(module, x, residual)
            continue
        with torch.no_grad():
            for work, want in expected.items():
                got = (kernels.linear(module, x, residual=residual) if work == "residual"
                       else kernels.linear(module, x, act=work))
                assert got.dtype == torch.bfloat16
                torch.testing.assert_close(got.float(), want.bfloat16().float(), atol=1e-6, rtol=2 ** -8)
        pack = kernels.pack_of((module,))  # remade for each arithmetic in turn
        assert (pack.library, pack.widened) == (kernel, compute == torch.float32)
        assert pack.weight is not None
    with pytest.raises(ValueError, match="bf16 products compute in torch.bfloat16 or torch.float32"):
        kernels.set_bf16_compute(torch.float16)


@pytest.mark.parametrize("vendor, amx, avx512_bf16, compute", [
    ("GenuineIntel", True, True, torch.bfloat16),  # AMX tiles: bf16 at several times fp32's rate
    ("AuthenticAMD", True, True, torch.bfloat16),
    ("GenuineIntel", False, True, torch.float32),  # AVX512-BF16 alone: slower than fp32 beyond a few rows
    ("AuthenticAMD", False, True, torch.bfloat16),  # Zen 4: the bf16 kernel at about half fp32's time
    ("AuthenticAMD", False, False, torch.float32),
    ("", False, True, torch.float32),
])
def test_bf16_arithmetic_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, vendor: str, amx: bool,
                                         avx512_bf16: bool, compute: torch.dtype) -> None:
    kernels.set_bf16_compute(None)
    monkeypatch.setattr(kernels, "_vendor", lambda: vendor)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert kernels.bf16_compute() == compute
    kernels.set_bf16_compute(torch.bfloat16)
    assert kernels.bf16_compute() == torch.bfloat16


@pytest.mark.parametrize("description, vendor", [
    ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n", "AuthenticAMD"),  # /proc/cpuinfo
    ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n", "GenuineIntel"),
    ("AMD64 Family 6 Model 85 Stepping 4, GenuineIntel", "GenuineIntel"),  # platform.processor(), Windows
    ("AMD64 Family 25 Model 17 Stepping 1, AuthenticAMD", "AuthenticAMD"),
    ("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n", ""),  # ARM
    ("arm", ""),  # platform.processor(), macOS
])
def test_the_cpu_vendor_is_read_from_its_description(description: str, vendor: str) -> None:
    assert kernels.vendor_of(description) == vendor


def test_widened_bf16_packs_are_never_stale() -> None:
    """An fp32 pack of bf16 weights follows in-place changes of the weight and ``.data`` writes to it and
    to its bias, alone and in a joined group, on the checked-together path as on ``linear``'s."""
    kernels.set_bf16_compute(torch.float32)
    torch.manual_seed(0)
    owner = torch.nn.ModuleList(torch.nn.Linear(32, 16) for _ in range(3)).to(torch.bfloat16)
    x = torch.randn(5, 32, dtype=torch.bfloat16)
    groups = [(owner[0],), (owner[1], owner[2])]

    def check() -> None:
        single, joined = kernels.products(owner, groups, x)
        for got, module in ((single(x), owner[0]), *zip(joined(x), owner[1:])):
            want = F.linear(x.float(), module.weight.float(), module.bias.float()).bfloat16()
            torch.testing.assert_close(got.float(), want.float(), atol=1e-6, rtol=2 ** -8)
            torch.testing.assert_close(kernels.linear(module, x).float(), want.float(), atol=1e-6, rtol=2 ** -8)

    with torch.no_grad():
        check()
        assert kernels.pack_of((owner[0],)).widened and kernels.pack_of((owner[1], owner[2])).widened
        owner[0].weight.mul_(-2)
        check()
        owner[0].bias.data.copy_(torch.randn(16))  # .data: no version counter moves
        owner[2].bias.data.add_(1)
        check()
        owner[1].weight.data.copy_(torch.randn(16, 32))
        check()
        kernels.set_bf16_compute(torch.bfloat16)  # the kept products follow the arithmetic too
        if BF16_KERNEL:
            assert not any(p.pack.widened for p in kernels.products(owner, groups, x))
            check()
        else:
            assert all(p.pack is None for p in kernels.products(owner, groups, x))
            _runs_plain(owner[0], x, torch.randn(5, 16, dtype=torch.bfloat16))


def test_changing_the_library_repacks() -> None:
    torch.manual_seed(0)
    module, x = torch.nn.Linear(16, 24), torch.randn(5, 16)
    with torch.no_grad():
        for name in kernels.GEMM_LIBRARIES if kernels._mkl() is not None else ("onednn",):
            kernels.set_gemm(name)
            torch.testing.assert_close(kernels.linear(module, x, act="gelu"), F.gelu(module(x)), atol=ATOL, rtol=0)
            assert kernels.pack_of((module,)).library == name


def test_the_gemm_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown GEMM library 'blas'"):
        kernels.set_gemm("blas")
    kernels.set_gemm(None)
    monkeypatch.setattr(kernels, "_intel", lambda: False)
    assert kernels.gemm_library() == "onednn"  # MKL was measured faster on Intel CPUs only
    monkeypatch.setattr(kernels, "_intel", lambda: True)
    assert kernels.gemm_library() == ("onednn" if kernels._mkl() is None else "mkl")
    monkeypatch.setattr(kernels, "_mkl", lambda: None)  # a torch without MKL (ARM, say)
    assert kernels.gemm_library() == "onednn"
    with pytest.raises(ValueError, match="'mkl' is not available"):
        kernels.set_gemm("mkl")


@pytest.mark.parametrize("capability, fused", [("AVX2", False), ("AVX512", True), ("DEFAULT", True),
                                               ("SVE256", True)])
def test_the_epilogue_choice(monkeypatch: pytest.MonkeyPatch, capability: str, fused: bool) -> None:
    """oneDNN's post-ops were measured slower than torch's elementwise kernels after the product on an AVX2
    CPU only: only there do they run after it by default."""
    kernels.set_fused_epilogues(None)
    monkeypatch.setattr(kernels, "_cpu_capability", lambda: capability)
    assert kernels.fused_epilogues() is fused
    kernels.set_fused_epilogues(not fused)
    assert kernels.fused_epilogues() is not fused
    with pytest.raises(ValueError, match="fused epilogues are True, False or None, not 'yes'"):
        kernels.set_fused_epilogues("yes")


def test_packed_residual_add() -> None:
    torch.manual_seed(0)
    module, x, residual = torch.nn.Linear(16, 8), torch.randn(7, 16), torch.randn(7, 8)
    with torch.no_grad():
        torch.testing.assert_close(kernels.linear(module, x, residual=residual), residual + module(x),
                                   atol=ATOL, rtol=0)
    assert kernels.pack_of((module,)).weight is not None


def test_changed_weights_are_repacked() -> None:
    torch.manual_seed(0)
    module, x = torch.nn.Linear(16, 8), torch.randn(3, 16)
    with torch.no_grad():
        kernels.linear(module, x)
        module.weight.mul_(2.0)  # in place: the version counter moves
        torch.testing.assert_close(kernels.linear(module, x), F.linear(x, module.weight, module.bias),
                                   atol=ATOL, rtol=0)
        module.load_state_dict({"weight": torch.randn(8, 16), "bias": torch.zeros(8)})
        torch.testing.assert_close(kernels.linear(module, x), F.linear(x, module.weight, module.bias),
                                   atol=ATOL, rtol=0)
        module.weight = torch.nn.Parameter(torch.randn(8, 16))  # a new tensor: a new storage
        torch.testing.assert_close(kernels.linear(module, x), F.linear(x, module.weight, module.bias),
                                   atol=ATOL, rtol=0)


def test_inference_tensors_are_packed_and_followed() -> None:
    """Weights made under ``torch.inference_mode`` (a model loaded, copied or converted there) have no version
    counter: they pack all the same, and a write made there shows in the sampled values."""
    torch.manual_seed(0)
    with torch.inference_mode():
        single, group = torch.nn.Linear(16, 8), tuple(torch.nn.Linear(16, 8) for _ in range(3))
        x = torch.randn(3, 16)
        assert single.weight.is_inference()
        for _ in range(2):
            torch.testing.assert_close(kernels.linear(single, x), single(x), atol=ATOL, rtol=0)
            for y, m in zip(kernels.linears(group, x), group):
                torch.testing.assert_close(y, m(x), atol=ATOL, rtol=0)
            for p in (single.weight, group[1].weight, group[2].bias):
                p.mul_(1.5)  # (in place: no counter moves)
    assert kernels.pack_of((single,)) is not None


def test_writes_through_data_are_seen() -> None:
    """``p.data`` is a tensor with a version counter of its own, so in-place writes through it leave the
    parameter's unchanged: the pack's sample of the values sees them (whole-tensor writes, as in weight
    loading, EMA updates and merged LoRA deltas)."""
    torch.manual_seed(0)
    single, group, x = torch.nn.Linear(16, 8), tuple(torch.nn.Linear(16, 8) for _ in range(3)), torch.randn(3, 16)
    with torch.no_grad():
        kernels.linear(single, x)
        kernels.linears(group, x)
        for change in (lambda p: p.data.add_(1.0), lambda p: p.data.copy_(torch.randn_like(p)),
                       lambda p: p.data.mul_(0.9).add_(torch.randn_like(p), alpha=0.1)):
            versions = [p._version for p in (single.weight, group[1].weight, group[2].bias)]
            for p in (single.weight, group[1].weight, group[2].bias):
                change(p)
            assert versions == [p._version for p in (single.weight, group[1].weight, group[2].bias)]
            torch.testing.assert_close(kernels.linear(single, x), single(x), atol=ATOL, rtol=0)
            for y, m in zip(kernels.linears(group, x), group):
                torch.testing.assert_close(y, m(x), atol=ATOL, rtol=0)


def _runs_its_new_weights(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, before: torch.Tensor,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``model``, changed since it ran packed with logits ``before``: its packed products now give the plain
    products' numbers on the new weights."""
    with torch.no_grad():
        packed = model(ids, mask).logits
        monkeypatch.setattr(kernels, "_ENABLED", False)  # the plain products, on the same weights
        plain = model(ids, mask).logits
    real = mask.bool()
    assert (packed[real] - before[real]).abs().max() > 1e-2  # the change changed the outputs
    torch.testing.assert_close(packed[real], plain[real], atol=ATOL, rtol=0)


def test_a_model_averaged_through_data_runs_its_new_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exponential moving average written through ``.data`` after the model ran (packed)."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    other = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny())), seed=5)
    ids, mask = batch(3, 9)
    with torch.no_grad():
        before = model(ids, mask).logits
        for p, q in zip(model.parameters(), other.parameters()):
            p.data.mul_(0.5).add_(q.data, alpha=0.5)
    _runs_its_new_weights(model, ids, mask, before, monkeypatch)


def test_a_model_made_under_inference_mode_runs_its_new_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model copied under ``torch.inference_mode`` (its parameters inference tensors), run packed, then
    changed there in place."""
    torch.manual_seed(0)
    base = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    with torch.inference_mode():
        model = copy.deepcopy(base)
        assert next(model.parameters()).is_inference()
        before = model(ids, mask).logits
        for p in model.parameters():
            p.mul_(1.25)
    _runs_its_new_weights(model, ids, mask, before, monkeypatch)


def test_a_model_trained_after_packing_runs_its_new_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    with torch.no_grad():
        before = model(ids, mask).logits  # packs every encoder product
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model(ids, mask, labels=ids).loss.backward()
    optimizer.step()
    model.eval()
    _runs_its_new_weights(model, ids, mask, before, monkeypatch)


def test_packed_models_copy_and_pickle() -> None:
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny())).eval()
    ids, mask = batch(3, 9)
    with torch.no_grad():
        expected = model(ids, mask).last_hidden_state
        for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            torch.testing.assert_close(other(ids, mask).last_hidden_state, expected, atol=0, rtol=0)


def test_autograd_takes_the_plain_product() -> None:
    module, x = torch.nn.Linear(16, 8), torch.randn(3, 16, requires_grad=True)
    kernels.linear(module, x).sum().backward()
    assert x.grad is not None and kernels.pack_of((module,)) is None


def test_grouped_products_equal_the_plain_ones_and_follow_changes() -> None:
    torch.manual_seed(0)
    modules = tuple(torch.nn.Linear(16, n) for n in (8, 8, 4))
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        for _ in range(2):
            got = kernels.linears(modules, x)
            assert kernels.pack_of(modules).weight is not None
            for y, m in zip(got, modules):
                torch.testing.assert_close(y, m(x), atol=ATOL, rtol=0)
            modules[2].bias.add_(1.0)  # one bias changes: the group is repacked


def test_packs_go_with_their_weights() -> None:
    """Packs are kept beside the weights, not in the modules: a freed model frees its packs."""
    import gc

    gc.collect()  # (packs of models freed by earlier tests)
    before = len(kernels._PACKS)
    single, group = torch.nn.Linear(16, 8), tuple(torch.nn.Linear(16, 8) for _ in range(3))
    with torch.no_grad():
        kernels.linear(single, torch.randn(2, 16))
        kernels.linears(group, torch.randn(2, 16))
    assert len(kernels._PACKS) == before + 2
    del single, group
    gc.collect()
    assert len(kernels._PACKS) == before


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_exported_programs_hold_plain_products(context) -> None:
    """``torch.export`` in inference, after the packs exist: the program holds no packed operator (it must
    run without this library, in AOTInductor say), takes our output class, and computes the exact path."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny())), 0).eval()
    ids, mask = batch(2, 7, seed=3)
    with context():
        model(input_ids=ids, attention_mask=mask)  # packs made
        program = torch.export.export(model, (), {"input_ids": ids, "attention_mask": mask})
        targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
        assert not [t for t in targets if "roberta_prelayernorm" in t or "mkldnn" in t], targets
        got = program.module()(input_ids=ids, attention_mask=mask)
        model.set_fast_path(False)
        exact = model(input_ids=ids, attention_mask=mask)
    assert isinstance(got, type(exact))
    torch.testing.assert_close(got.logits, exact.logits, atol=ATOL, rtol=0)


def test_small_products_run_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below ``MIN_FEATURES`` input or (joined) output features oneDNN's cost per call outweighs its kernel:
    those fp32 products run plain and keep no pack; the tests elsewhere lower the bound to pack tiny models."""
    monkeypatch.setattr(kernels, "MIN_FEATURES", 512)
    torch.manual_seed(0)
    narrow_in, narrow_out, wide = torch.nn.Linear(256, 1024), torch.nn.Linear(1024, 256), torch.nn.Linear(512, 512)
    group = tuple(torch.nn.Linear(512, 256) for _ in range(3))  # joined: 768 outputs, packed
    with torch.no_grad():
        for module, x in ((narrow_in, torch.randn(4, 256)), (narrow_out, torch.randn(4, 1024)), (wide, torch.randn(4, 512))):
            torch.testing.assert_close(kernels.linear(module, x), module(x), atol=ATOL, rtol=0)
        kernels.linears(group, torch.randn(4, 512))
    assert kernels.pack_of((narrow_in,)) is None and kernels.pack_of((narrow_out,)) is None
    assert kernels.pack_of((wide,)).weight is not None and kernels.pack_of(group).weight is not None
    # in bf16 small products pack all the same: the fused bias and activation round once, not twice
    small_bf16 = torch.nn.Linear(256, 256).to(torch.bfloat16)
    with torch.no_grad():
        kernels.linear(small_bf16, torch.randn(4, 256, dtype=torch.bfloat16), act="gelu")
    assert kernels.pack_of((small_bf16,)).weight is not None


def _hooked_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()


def test_forward_hooks_on_products_run_in_inference() -> None:
    """Hooks on the linear layers run in inference as they do in training, on the reference's values:
    the packed and joined products do not bypass them, and nothing writes into a tensor a hook kept."""
    model = _hooked_model()
    ids, mask = batch(2, 7, seed=1)
    layer = model.encoder.layer[0]
    kept = []

    def keep(module, inputs, output):
        kept.append((module, inputs[0], output, output.clone()))

    for module in (layer.attention.self.query, layer.attention.output.dense, layer.intermediate.dense,
                   layer.output.dense):
        module.register_forward_hook(keep)
    zero_ffn = layer.intermediate.dense.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    with torch.no_grad():
        hooked = model(ids, mask).last_hidden_state
    assert [k[0] for k in kept] == [layer.attention.self.query, layer.attention.output.dense,
                                    layer.intermediate.dense, layer.output.dense]
    for module, x, output, at_call in kept:
        assert torch.equal(output, at_call)  # not written into after the hook saw it
        torch.testing.assert_close(output, F.linear(x, module.weight, module.bias), atol=ATOL, rtol=0)
    with torch.enable_grad():
        plain = model(ids, mask).last_hidden_state  # autograd: the modules are called one by one
    real = mask.bool()
    torch.testing.assert_close(hooked[real], plain[real].detach(), atol=ATOL, rtol=0)
    zero_ffn.remove()
    with torch.no_grad():
        assert (model(ids, mask).last_hidden_state[real] - hooked[real]).abs().max() > 1e-3  # the hook mattered


def test_global_forward_hooks_see_every_linear_layer() -> None:
    model = _hooked_model()
    ids, mask = batch(2, 7, seed=2)
    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: calls.append(m) if isinstance(m, torch.nn.Linear) else None)
    try:
        with torch.no_grad():
            model(ids, mask)
        inference = list(calls)
        calls.clear()
        model(ids, mask)
    finally:
        handle.remove()
    assert inference == calls and len(calls) == 6 * model.config.num_hidden_layers + 1  # + the pooler


def test_forward_hooks_on_int8_products_run() -> None:
    from roberta_prelayernorm.torch.precision import to_precision

    pytest.importorskip("torch.ao.nn.quantized.dynamic")
    model = to_precision(_hooked_model(), "int8")
    seen = []
    model.encoder.layer[0].attention.self.key.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    ids, mask = batch(2, 7, seed=3)
    with torch.no_grad():
        model(ids, mask)
    assert len(seen) == 1


def test_forward_hooks_on_the_tied_decoder_run_in_training() -> None:
    """While training, the LM head's decoder has a product of its own (``decoder_linear``): with a hook
    on the decoder the module is called instead, and the hook sees its output (on the packed layout:
    the real tokens' rows, in order)."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny()))).train()
    ids, mask = batch(2, 7, seed=4)
    seen = []
    model.lm_head.decoder.register_forward_hook(lambda m, i, o: seen.append(o))
    logits = model(ids, mask).logits
    assert len(seen) == 1 and torch.equal(seen[0], logits[mask.bool()])


def _packed_layout(module: torch.nn.Module, rows: int, capfd: pytest.CaptureFixture) -> str:
    """The layout oneDNN packed ``module``'s weight into when its first product ran on ``rows`` rows
    (read from oneDNN's own report of the reorder)."""
    capfd.readouterr()
    with torch.no_grad(), torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        kernels.linear(module, torch.randn(rows, module.in_features))
    reorders = [line for line in capfd.readouterr().out.splitlines() if ",exec,cpu,reorder," in line]
    assert reorders, "oneDNN reported no reorder"
    return reorders[-1].split(" dst:")[1].split(",")[0]


def test_a_first_product_on_one_row_still_packs(capfd: pytest.CaptureFixture) -> None:
    """Told to expect one row, oneDNN keeps the plain layout, which every later product would then run
    on (1.3x-1.4x slower on 2-8 rows): packs are made for at least ``PACK_MIN_ROWS`` rows."""
    kernels.set_gemm("onednn")
    torch.manual_seed(0)
    one, eight = torch.nn.Linear(64, 64), torch.nn.Linear(64, 64)
    eight.load_state_dict(one.state_dict())
    assert _packed_layout(one, 1, capfd) == _packed_layout(eight, 8, capfd)
    x = torch.randn(3, 64)
    with torch.no_grad():
        torch.testing.assert_close(kernels.linear(one, x), one(x), atol=ATOL, rtol=0)


# ------------------------------------------------------------------------ the plain layers (inference)
def _layer_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at every call of a layer module's forward."""
    from roberta_prelayernorm.torch import modeling

    calls, forward = [], modeling.RobertaPreLayerNormLayer.forward
    monkeypatch.setattr(modeling.RobertaPreLayerNormLayer, "forward",
                        lambda self, *a, **k: calls.append(1) or forward(self, *a, **k))
    return calls


@pytest.mark.parametrize("case", ["one text", "padded batch", "read at masks", "decoder", "nothing packed"])
def test_inference_runs_the_plain_layers_with_the_modules_numbers(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inference without extras runs ``plain_layers`` (no layer module is called, but the last where a
    head reads few rows), also where no product packs (the size rule, called twice); its outputs equal
    the layers' modules' (a hook on a LayerNorm sends the same call there) and the plain products'."""
    if case == "nothing packed":
        monkeypatch.setattr(kernels, "MIN_FEATURES", 512)
    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**tiny(is_decoder=case == "decoder"))
    head = rp.RobertaPreLayerNormForCausalLM if case == "decoder" else rp.RobertaPreLayerNormForMaskedLM
    model = perturb(head(config)).eval()
    ids, mask = batch(1, 9) if case == "one text" else batch(3, 9)
    ids[0, 3] = 7
    kwargs = {"logits_at": ids == 7} if case == "read at masks" else {"use_cache": False} if case == "decoder" else {}
    calls = _layer_calls(monkeypatch)
    with torch.no_grad():
        plain_layers = model(ids, mask, **kwargs).logits
        torch.testing.assert_close(model(ids, mask, **kwargs).logits, plain_layers, atol=0, rtol=0)  # as kept
        assert len(calls) == (2 if case == "read at masks" else 0)
        calls.clear()
        handle = model.roberta_prelayernorm.encoder.layer[0].attention.LayerNorm.register_forward_hook(
            lambda *args: None)
        modules = model(ids, mask, **kwargs).logits
        assert len(calls) == config.num_hidden_layers  # the hook sent it through the modules
        handle.remove()
        monkeypatch.setattr(kernels, "_ENABLED", False)
        unpacked = model(ids, mask, **kwargs).logits
    rows = slice(None) if case == "read at masks" else mask.bool()
    torch.testing.assert_close(plain_layers[rows], modules[rows], atol=ATOL, rtol=0)
    torch.testing.assert_close(plain_layers[rows], unpacked[rows], atol=ATOL, rtol=0)


def test_the_plain_layers_step_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autograd, a submodule in training mode (its dropout must run) and forward hooks take the modules."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(
        **tiny(hidden_dropout_prob=0.5)))).eval()
    ids, mask = batch(2, 7)
    calls = _layer_calls(monkeypatch)
    with torch.no_grad():
        model(ids, mask)
    assert not calls
    model(ids, mask)  # autograd
    assert len(calls) == 2
    model.encoder.layer[1].output.train()
    with torch.no_grad():
        dropped = model(ids, mask).last_hidden_state
        model.encoder.layer[1].output.eval()
        kept = model(ids, mask).last_hidden_state
    assert len(calls) == 4 and (dropped - kept)[mask.bool()].abs().max() > 1e-2
    seen = []
    model.encoder.layer[0].intermediate.LayerNorm.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(ids, mask)
    assert len(calls) == 6 and len(seen) == 1


def test_products_checked_together_follow_every_change() -> None:
    """``kernels.products`` keeps its products while nothing changes (one comparison), and remakes or
    repacks them after an in-place change, a write through ``.data`` to one group's bias or to a weight,
    a replaced module and ``release``."""
    torch.manual_seed(0)
    owner = torch.nn.Module()
    owner.group = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(3))
    owner.single = torch.nn.Linear(16, 32)
    x = torch.randn(5, 16)

    def check() -> list[kernels.Product]:
        made = kernels.products(owner, [tuple(owner.group), (owner.single,)], x)
        for y, m in zip(made[0](x), owner.group):
            torch.testing.assert_close(y, m(x), atol=ATOL, rtol=0)
        torch.testing.assert_close(made[1](x, act="gelu"), F.gelu(owner.single(x)), atol=ATOL, rtol=0)
        torch.testing.assert_close(made[1](x, residual=x.repeat(1, 2)), owner.single(x) + x.repeat(1, 2),
                                   atol=ATOL, rtol=0)
        assert all(p.pack is not None for p in made)
        return made

    with torch.no_grad():
        first = check()
        assert check() is first  # nothing changed: the same products
        owner.single.weight.mul_(2.0)
        assert check() is not first
        for change in (lambda: owner.group[2].bias.data.add_(1.0), lambda: owner.group[0].weight.data.mul_(-1.0)):
            kept = check()
            change()
            assert check() is not kept
        owner.single.bias.data.copy_(torch.randn(32))  # a single product reads its bias itself: kept, right
        check()
        owner.single = torch.nn.Linear(16, 32)
        kept = check()
        assert kept[1].modules[0] is owner.single
        kernels.release(owner)
        assert owner not in kernels._PRODUCTS and kernels.pack_of((owner.single,)) is None
        check()


@pytest.mark.parametrize("arithmetic", ["fp32", "widened bf16", "unpacked"])
def test_bound_products_give_their_products_numbers(arithmetic: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Product.bound`` (the library's operator with the operands bound, on oneDNN's packs) gives what
    the plain modules give: a group's joined output, an activation, a residual add; on an MKL pack each
    product bound to one ``reuse`` list writes where the last one wrote."""
    if arithmetic == "unpacked":
        monkeypatch.setattr(kernels, "MIN_FEATURES", 512)
    dtype = torch.bfloat16 if arithmetic == "widened bf16" else torch.float32
    kernels.set_bf16_compute(torch.float32)
    torch.manual_seed(0)
    owner = torch.nn.ModuleList(perturb(torch.nn.Linear(32, 48)) for _ in range(4)).to(dtype)
    x, r = torch.randn(2, 5, 32, dtype=dtype), torch.randn(2, 5, 48, dtype=dtype)
    tol = {"atol": ATOL, "rtol": 0} if dtype == torch.float32 else {"atol": 1e-6, "rtol": 2 ** -8}

    def plain(m: torch.nn.Module, y: torch.Tensor, then=lambda z: z) -> torch.Tensor:  # in fp32, rounded once
        return then(F.linear(y.float(), m.weight.float(), m.bias.float())).to(dtype)

    with torch.no_grad():
        group, single, other = kernels.products(owner, [tuple(owner[:3]), (owner[3],), (owner[0],)], x)
        assert (group.pack is None) == (arithmetic == "unpacked")
        joined = group.bound()(x)
        for y, m in zip(joined if isinstance(joined, tuple) else joined.chunk(3, -1), owner[:3]):
            torch.testing.assert_close(y, plain(m, x), **tol)
        reuse = [None]
        first = single.bound("gelu", reuse=reuse)(x)
        torch.testing.assert_close(first, plain(owner[3], x, F.gelu), **tol)
        second = other.bound("tanh", reuse=reuse)(x)
        torch.testing.assert_close(second, plain(owner[0], x, torch.tanh), **tol)
        mkl = single.pack is not None and single.pack.library == "mkl" and not single.pack.widened
        assert (second.data_ptr() == first.data_ptr()) == mkl and (reuse[0] is second) == mkl
        torch.testing.assert_close(single.bound(residual=True)(x, r), plain(owner[3], x, r.float().add), **tol)
    kernels.set_bf16_compute(None)


def test_the_plain_layers_follow_replaced_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan of the plain layers is remade when a module is replaced: a new linear layer's weights
    are used at once, and a LayerNorm that is not a plain ``nn.LayerNorm`` sends the call to the modules."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(2, 7)
    calls = _layer_calls(monkeypatch)
    layer = model.encoder.layer[1]
    with torch.no_grad():
        before = model(ids, mask).last_hidden_state
        dense = layer.output.dense
        layer.output.dense = perturb(torch.nn.Linear(dense.in_features, dense.out_features)).eval()
        after = model(ids, mask).last_hidden_state
        assert not calls and (after - before)[mask.bool()].abs().max() > 1e-2
        monkeypatch.setattr(kernels, "_ENABLED", False)
        torch.testing.assert_close(model(ids, mask).last_hidden_state[mask.bool()], after[mask.bool()],
                                   atol=ATOL, rtol=0)

        class Norm(torch.nn.LayerNorm):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return super().forward(x) * 2.0

        norm = Norm(layer.attention.LayerNorm.normalized_shape).eval()
        norm.load_state_dict(layer.attention.LayerNorm.state_dict())
        layer.attention.LayerNorm = norm
        doubled = model(ids, mask).last_hidden_state
    assert len(calls) == 2 and (doubled - after)[mask.bool()].abs().max() > 1e-2
