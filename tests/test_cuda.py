"""The fast path on a CUDA GPU against the newest ``transformers`` (the oracle) and the fp32 reference.

Skipped without a CUDA GPU (CI has none); ``benchmarks/bench_cuda.py`` times the same paths. fp32 runs
with TF32 off, so that it is held to the fp32 tolerance. bf16 and fp16 are held to the relative error of
their own rounding against the fp32 reference (‖x − ref₃₂‖ / ‖ref₃₂‖ under 1e-2: an 8-bit mantissa,
a few layers; a wrong attention layout lands near 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import roberta_prelayernorm as rp
from model_helpers import batch, reference_model
from roberta_prelayernorm.torch import modeling

pytestmark = [pytest.mark.cuda, pytest.mark.oracle,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ATOL = 1e-5
CONFIG = dict(hidden_size=64, num_attention_heads=4, intermediate_size=96, num_hidden_layers=3)  # head size 16


@pytest.fixture(autouse=True)
def exact_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


@pytest.fixture
def varlen_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls of torch's variable-length flash attention (one entry per call)."""
    real, calls = modeling._varlen_attn(), []
    if real is None or torch.cuda.get_device_capability()[0] < 8:
        pytest.skip("torch.nn.attention.varlen or a GPU of compute capability 8.0 or later missing")

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(modeling, "_varlen_attn", lambda: counted)
    return calls


def pair(name: str, folder: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    ref = reference_model(name, **CONFIG)
    ref.save_pretrained(folder)
    return ref.cuda(), getattr(rp, name).from_pretrained(folder).cuda()


def relative(x: torch.Tensor, truth: torch.Tensor) -> float:
    return float((x.double() - truth.double()).norm() / truth.double().norm())


@pytest.mark.parametrize("name", ["RobertaPreLayerNormModel", "RobertaPreLayerNormForMaskedLM",
                                  "RobertaPreLayerNormForSequenceClassification"])
def test_fp32_fast_path_equals_reference(name: str, tmp_folder: Path) -> None:
    ref, ours = pair(name, tmp_folder)
    ids, mask = (t.cuda() for t in batch(4, 13))
    with torch.no_grad():
        expected, got = ref(input_ids=ids, attention_mask=mask), ours(input_ids=ids, attention_mask=mask)
    key = "last_hidden_state" if name.endswith("Model") else "logits"
    if key == "logits" and name.endswith("Classification"):
        torch.testing.assert_close(got.logits, expected.logits, atol=ATOL, rtol=0)
    else:
        torch.testing.assert_close(got[key][mask.bool()], expected[key][mask.bool()], atol=ATOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["RobertaPreLayerNormModel", "RobertaPreLayerNormForSequenceClassification"])
def test_half_precision_runs_varlen_flash_attention_within_its_rounding(
        name: str, dtype: torch.dtype, tmp_folder: Path, varlen_calls: list[int]) -> None:
    ref, ours = pair(name, tmp_folder)
    ids, mask = (t.cuda() for t in batch(4, 13))
    with torch.no_grad():
        truth = ref(input_ids=ids, attention_mask=mask)
        ours.to(dtype)
        got = ours(input_ids=ids, attention_mask=mask)
        ran = len(varlen_calls)
        ours.set_fast_path(False)
        padded = ours(input_ids=ids, attention_mask=mask)  # our own padded path in the same precision
    if name.endswith("Model"):
        real = mask.bool()
        assert relative(got.last_hidden_state[real], truth.last_hidden_state[real]) < 1e-2
        assert relative(got.last_hidden_state[real], padded.last_hidden_state[real]) < 1e-2
        assert ran == CONFIG["num_hidden_layers"]
    else:  # the last layer runs at the first tokens only: its queries differ from its keys
        assert relative(got.logits, truth.logits) < 1e-2
        assert ran == CONFIG["num_hidden_layers"]
    assert len(varlen_calls) == ran  # the padded path never calls it


def test_bf16_training_step_through_varlen_gives_the_reference_gradients(
        tmp_folder: Path, varlen_calls: list[int]) -> None:
    """Autocast bf16 MLM step: the backward pass runs through the flash-attention call; the offsets
    made by an earlier call under ``inference_mode`` serve the training call too."""
    ref, ours = pair("RobertaPreLayerNormForMaskedLM", tmp_folder)
    ids, mask = (t.cuda() for t in batch(4, 13))
    labels = torch.where(mask.bool(), ids, -100)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        ours(input_ids=ids, attention_mask=mask)  # the same lengths, under inference_mode first
    ref.train(), ours.train()
    ref(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ours(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    assert len(varlen_calls) == 2 * CONFIG["num_hidden_layers"]
    truth = dict(ref.named_parameters())
    got = torch.cat([p.grad.flatten() for n, p in ours.named_parameters()])
    assert relative(got, torch.cat([truth[n].grad.flatten() for n, _ in ours.named_parameters()])) < 2e-2


def test_without_flash_attention_one_masked_call_gives_the_same_numbers(tmp_folder: Path,
                                                                       varlen_calls: list[int]) -> None:
    """Flash attention switched off (``sdpa_kernel``): the padded masked call instead, same numbers."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    _, ours = pair("RobertaPreLayerNormModel", tmp_folder)
    ours.bfloat16()
    ids, mask = (t.cuda() for t in batch(4, 13))
    real = mask.bool()
    with torch.no_grad():
        with_flash = ours(input_ids=ids, attention_mask=mask).last_hidden_state[real]
        with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
            without = ours(input_ids=ids, attention_mask=mask).last_hidden_state[real]
    assert len(varlen_calls) == CONFIG["num_hidden_layers"]
    assert relative(without, with_flash) < 1e-2
