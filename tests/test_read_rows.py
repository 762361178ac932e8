"""What makes the pretraining step cheaper gives the reference's numbers: the last layer computed only
at the rows the LM head reads (``logits_at``), the cross-entropy of ``torch/losses.py``, and the tied
decoder's own weight gradient (``kernels.decoder_linear``). The oracle is ``transformers``' full head."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from model_helpers import batch, perturb, reference_model, tiny

import roberta_prelayernorm as rp
from roberta_prelayernorm.torch import kernels
from roberta_prelayernorm.torch.losses import cross_entropy

ATOL = 1e-5
MLM = "RobertaPreLayerNormForMaskedLM"


def positions(mask: torch.Tensor, seed: int = 0, rate: float = 0.4) -> torch.Tensor:
    """About ``rate`` of the real tokens of each row, and every row's first token."""
    gen = torch.Generator().manual_seed(seed)
    where = (torch.rand(mask.shape, generator=gen) < rate) & mask.bool()
    where[:, 0] = True
    return where


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "no padding"])
def test_training_step_at_the_rows_read_equals_the_reference(padded: bool, tmp_folder: Path) -> None:
    """Loss, logits and every parameter's gradient of a step with ``logits_at`` equal the reference's
    full head with labels at the same positions; the last layer ran at those rows only."""
    ref = reference_model(MLM).train()  # dropout is 0 in the tiny config
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_folder).train()
    ids, mask = batch(4, 11)
    if not padded:
        mask = torch.ones_like(mask)
    where = positions(mask)
    labels = torch.where(where, ids, -100)
    encoded = ours.roberta_prelayernorm.encode(ids, mask, read_at=where)
    assert encoded.read_at is not None and encoded.rows.shape == (int(where.sum()), 32)

    expected = ref(ids, mask, labels=labels)
    expected.loss.backward()
    got = ours(ids, mask, labels=labels, logits_at=where)
    got.loss.backward()
    torch.testing.assert_close(got.loss, expected.loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.logits, expected.logits[where], atol=ATOL, rtol=0)
    grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, atol=ATOL, rtol=0, msg=name)


def test_the_full_last_layer_runs_where_rows_cannot_be_dropped() -> None:
    """Positions on padding, every position read, hidden states asked for, a decoder: all rows."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    where = positions(mask)
    on_padding = where.clone()
    on_padding[2, 8] = True
    with torch.no_grad():
        assert model.encode(ids, mask, read_at=where).read_at is not None
        assert model.encode(ids, mask, read_at=on_padding).read_at is None
        assert model.encode(ids, mask, read_at=mask.bool()).read_at is None
        assert model.encode(ids, mask, output_hidden_states=True, read_at=where).read_at is None
        decoder = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny(is_decoder=True))).eval()
        assert decoder.encode(ids, mask, use_cache=False, read_at=where).read_at is None
        with pytest.raises(RuntimeError, match="only where the head reads"):
            model.encode(ids, mask, read_at=where).last_hidden_state


def test_rows_read_follow_the_full_computation_in_eval() -> None:
    """A row with no position read, and inference: the same logits as the full head."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    where = positions(mask)
    where[1] = False
    with torch.no_grad():
        full = model(ids, mask).logits
        got = model(ids, mask, logits_at=where).logits
    torch.testing.assert_close(got, full[where], atol=ATOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_entropy_equals_torch(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    logits = (torch.randn(13, 57) * 4).to(dtype).requires_grad_()
    targets = torch.randint(0, 57, (13,))
    targets[::4] = -100
    weight = torch.randn(())  # a scaled loss: the gradient follows the incoming one
    (weight * cross_entropy(logits, targets)).backward()
    got_loss, got_grad = cross_entropy(logits, targets), logits.grad.clone()
    logits.grad = None
    expected = F.cross_entropy(logits, targets)
    (weight * expected).backward()
    if dtype == torch.float32:
        torch.testing.assert_close(got_loss, expected, atol=ATOL, rtol=0)
        torch.testing.assert_close(got_grad, logits.grad, atol=1e-7, rtol=0)
    else:  # within one unit in the last place of bf16 (7 stored mantissa bits)
        torch.testing.assert_close(got_loss.float(), expected.float(), atol=0, rtol=2 ** -7)
        torch.testing.assert_close(got_grad.float(), logits.grad.float(), atol=2 ** -7 * logits.grad.abs().max().item(),
                                   rtol=0)


def test_cross_entropy_of_all_ignored_targets_is_nan_as_in_torch() -> None:
    logits, targets = torch.randn(3, 5), torch.full((3,), -100)
    assert torch.isnan(cross_entropy(logits, targets)) and torch.isnan(F.cross_entropy(logits, targets))


def test_cross_entropy_second_derivative_equals_torch() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 6, requires_grad=True), torch.tensor([1, 2, 3, -100])
    results = []
    for loss in (cross_entropy, F.cross_entropy):
        (grad,) = torch.autograd.grad(loss(logits, targets), logits, create_graph=True)
        results.append(torch.autograd.grad((grad ** 2).sum(), logits)[0])
    torch.testing.assert_close(results[0], results[1], atol=1e-7, rtol=0)


def test_tied_decoder_gradient_is_accumulated_in_place_and_equals_linear() -> None:
    """The decoder's weight gradient is its own tensor (so autograd adds the embedding's into it in
    place) and equals ``F.linear``'s; a frozen weight gets none."""
    torch.manual_seed(0)
    embedding, decoder = torch.nn.Embedding(50, 8), torch.nn.Linear(8, 50)
    decoder.weight = embedding.weight
    ids, targets = torch.randint(0, 50, (6,)), torch.randint(0, 50, (6,))
    for linear in (kernels.decoder_linear, lambda module, x: module(x)):
        embedding.weight.grad = decoder.bias.grad = None
        F.cross_entropy(linear(decoder, embedding(ids)[None])[0], targets).backward()
        if linear is kernels.decoder_linear:
            got = embedding.weight.grad.clone(), decoder.bias.grad.clone()
    torch.testing.assert_close(got[0], embedding.weight.grad, atol=1e-7, rtol=0)
    torch.testing.assert_close(got[1], decoder.bias.grad, atol=1e-7, rtol=0)

    embedding.weight.requires_grad_(False)
    embedding.weight.grad = decoder.bias.grad = None
    x = torch.randn(6, 8, requires_grad=True)
    kernels.decoder_linear(decoder, x).sum().backward()
    assert embedding.weight.grad is None and decoder.bias.grad is not None
    torch.testing.assert_close(x.grad, decoder.weight.sum(0).expand(6, 8), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["RobertaPreLayerNormForSequenceClassification",
                                  "RobertaPreLayerNormForMultipleChoice"])
def test_classifiers_run_the_last_layer_at_the_first_token_only(name: str, tmp_folder: Path) -> None:
    """Sequence classification and multiple choice read token 0: the last layer's FFN sees one row per
    sequence, and the logits, loss and gradients are the reference's."""
    ref = reference_model(name, num_labels=3).train()
    ref.save_pretrained(tmp_folder)
    ours = getattr(rp, name).from_pretrained(tmp_folder).train()
    ids, mask = batch(4, 9)
    if name.endswith("MultipleChoice"):
        ids, mask, labels = ids.view(2, 2, 9), mask.view(2, 2, 9), torch.tensor([1, 0])
    else:
        labels = torch.tensor([0, 2, 1, 1])
    rows = []
    last = ours.roberta_prelayernorm.encoder.layer[-1].intermediate
    last.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    got = ours(ids, mask, labels=labels)
    expected = ref(ids, mask, labels=labels)
    assert rows == [4]
    torch.testing.assert_close(got.logits, expected.logits, atol=ATOL, rtol=0)
    got.loss.backward()
    expected.loss.backward()
    grads = dict(ref.named_parameters())
    for key, p in ours.named_parameters():
        if p.grad is not None or grads[key].grad is not None:
            torch.testing.assert_close(p.grad, grads[key].grad, atol=ATOL, rtol=0, msg=key)
