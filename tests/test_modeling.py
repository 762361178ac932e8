"""Parity of every model class and forward feature against the newest ``transformers`` (the oracle).

Features that the newest reference no longer has (relative positions, head_mask, the 4.37.2
hidden_states, tuple caches) are checked against golden tensors in ``test_golden.py``; here the cache is
checked against recomputation from scratch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import roberta_prelayernorm as rp
from model_helpers import HEADS, batch, perturb, reference_model, tiny

pytestmark = pytest.mark.oracle
ATOL = 1e-5


def labels_for(name: str) -> int:
    return 2 if name.endswith("QuestionAnswering") else 3


def head_inputs(name: str, seed: int = 0, labels: bool = True, num_labels: int = 3) -> dict[str, torch.Tensor]:
    """A padded batch with token types, and labels for the head's loss (some ignored with -100)."""
    gen = torch.Generator().manual_seed(seed + 1)
    if name.endswith("MultipleChoice"):
        ids, mask = batch(6, 9, seed=seed)
        inputs = {"input_ids": ids.view(2, 3, 9), "attention_mask": mask.view(2, 3, 9),
                  "token_type_ids": (torch.arange(9) > 4).long().expand(2, 3, 9).contiguous()}
        if labels:
            inputs["labels"] = torch.tensor([2, 0])
        return inputs
    ids, mask = batch(3, 9, seed=seed)
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": (torch.arange(9) > 4).long().expand(3, 9)}
    if not labels:
        return inputs
    if name.endswith(("MaskedLM", "CausalLM")):
        target = torch.randint(0, 99, ids.shape, generator=gen)
        inputs["labels"] = torch.where(mask.bool() & (torch.rand(ids.shape, generator=gen) < 0.6), target, -100)
    elif name.endswith("SequenceClassification"):
        inputs["labels"] = torch.randint(0, num_labels, (3,), generator=gen)
    elif name.endswith("TokenClassification"):
        inputs["labels"] = torch.where(mask.bool(), torch.randint(0, num_labels, ids.shape, generator=gen), -100)
    elif name.endswith("QuestionAnswering"):
        inputs["start_positions"] = torch.tensor([1, 4, 30])  # 30 > length: clamped and ignored
        inputs["end_positions"] = torch.tensor([3, -1, 5])
    return inputs


def real_tokens(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The rows of a per-token tensor (B, L, ...) at real tokens; other tensors unchanged."""
    if mask is None:
        return x
    mask = mask.reshape(-1, mask.shape[-1]).bool()
    if x.dim() >= 2 and tuple(x.shape[:2]) == tuple(mask.shape):
        return x[mask]
    return x


def assert_outputs_equal(ours: object, ref: object, atol: float = ATOL, mask: torch.Tensor | None = None) -> None:
    """Every field ours returns equals the reference field of the same name (at real tokens if ``mask``)."""
    assert list(ours.keys()), "no outputs"
    for key in ours.keys():
        a, b = ours[key], ref[key]
        pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
        if isinstance(a, tuple):
            assert len(a) == len(b), key
        for x, y in pairs:
            torch.testing.assert_close(real_tokens(x, mask), real_tokens(y, mask), atol=atol, rtol=0, msg=key)


def assert_both_paths_match(model: torch.nn.Module, ref: torch.nn.Module, **inputs: torch.Tensor) -> None:
    """The exact path equals the reference everywhere; the fast path equals it at real tokens."""
    with torch.no_grad():
        expected = ref(**inputs)
        model.set_fast_path(False)
        assert_outputs_equal(model(**inputs), expected)
        model.set_fast_path(True)
        assert_outputs_equal(model(**inputs), expected, mask=inputs.get("attention_mask"))


@pytest.mark.parametrize("name", HEADS)
def test_reference_checkpoint_loads_and_matches(name: str, tmp_folder: Path) -> None:
    ref = reference_model(name, num_labels=labels_for(name))
    ref.save_pretrained(tmp_folder)
    ours, info = getattr(rp, name).from_pretrained(tmp_folder, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    assert not ours.training
    assert_both_paths_match(ours, ref, **head_inputs(name))


@pytest.mark.parametrize("name", HEADS)
def test_our_checkpoint_loads_in_reference(name: str, tmp_folder: Path) -> None:
    import transformers

    torch.manual_seed(1)
    ours = perturb(getattr(rp, name)(rp.RobertaPreLayerNormConfig(**tiny(num_labels=labels_for(name)))), seed=1).eval()
    ours.save_pretrained(tmp_folder)
    ref, info = getattr(transformers, name).from_pretrained(tmp_folder, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert_both_paths_match(ours, ref.eval(), **head_inputs(name, seed=1))


@pytest.mark.parametrize("name", HEADS)
def test_output_access_and_tuples(name: str) -> None:
    model = getattr(rp, name)(rp.RobertaPreLayerNormConfig(**tiny(num_labels=labels_for(name)))).eval()
    inputs = head_inputs(name)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
        as_tuple = model(**inputs, output_hidden_states=True, return_dict=False)
    assert isinstance(as_tuple, tuple)
    keys = out.keys()
    assert keys[0] == "loss" or name == "RobertaPreLayerNormModel"
    for i, key in enumerate(keys):
        first = out[key] if not isinstance(out[key], tuple) else out[key][0]
        again = getattr(out, key) if not isinstance(out[key], tuple) else getattr(out, key)[0]
        torch.testing.assert_close(first, again, atol=0, rtol=0)
        expected = out[i] if not isinstance(out[i], tuple) else out[i][0]
        got = as_tuple[i] if not isinstance(as_tuple[i], tuple) else as_tuple[i][0]
        torch.testing.assert_close(got, expected, atol=0, rtol=0)
    assert len(as_tuple) == len(keys)
    assert dict(out).keys() == set(keys)


def test_base_model_tuple_keeps_pooler_slot() -> None:
    """Without a pooler the reference's tuple still has a None in second place."""
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()), add_pooling_layer=False).eval()
    ids, mask = batch()
    with torch.no_grad():
        out = model(ids, mask, output_hidden_states=True, return_dict=False)
        ref = model(ids, mask, output_hidden_states=True)
    assert out[1] is None and ref.pooler_output is None
    torch.testing.assert_close(out[0], ref.last_hidden_state, atol=0, rtol=0)
    assert len(out[2]) == 3


@pytest.mark.parametrize("problem", ["regression", "single_label_classification", "multi_label_classification"])
def test_sequence_classification_losses(problem: str, tmp_folder: Path) -> None:
    num_labels = 1 if problem == "regression" else 4
    ref = reference_model("RobertaPreLayerNormForSequenceClassification", num_labels=num_labels)
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormForSequenceClassification.from_pretrained(tmp_folder)
    ids, mask = batch()
    gen = torch.Generator().manual_seed(3)
    labels = {
        "regression": torch.randn(3, generator=gen),
        "single_label_classification": torch.randint(0, num_labels, (3,), generator=gen),
        "multi_label_classification": (torch.rand(3, num_labels, generator=gen) > 0.5).float(),
    }[problem]
    assert_both_paths_match(ours, ref, input_ids=ids, attention_mask=mask, labels=labels)
    # an explicit problem_type wins over inference
    ours.config.problem_type = problem
    assert_both_paths_match(ours, ref, input_ids=ids, attention_mask=mask, labels=labels)


def test_forward_features_against_reference(tmp_folder: Path) -> None:
    """position_ids, inputs_embeds, token types and a float attention mask."""
    ref = reference_model("RobertaPreLayerNormModel")
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormModel.from_pretrained(tmp_folder)
    ids, mask = batch(2, 8)
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]] * 2)
    positions = torch.arange(5, 13).expand(2, 8)
    embeds = torch.randn(2, 8, 32, generator=torch.Generator().manual_seed(5))
    cases = [
        dict(input_ids=ids),
        dict(input_ids=ids, attention_mask=mask.float(), token_type_ids=types),
        dict(input_ids=ids, attention_mask=mask, position_ids=positions),
        dict(inputs_embeds=embeds, attention_mask=mask),
        dict(inputs_embeds=embeds, token_type_ids=types, position_ids=positions),
    ]
    for kwargs in cases:
        assert_both_paths_match(ours, ref, **kwargs)


def test_decoder_and_cross_attention_against_reference(tmp_folder: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForCausalLM", is_decoder=True, add_cross_attention=True)
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormForCausalLM.from_pretrained(tmp_folder)
    assert ours.config.is_decoder and ours.config.add_cross_attention
    ids, mask = batch(3, 9)
    enc = torch.randn(3, 6, 32, generator=torch.Generator().manual_seed(2))
    enc_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    labels = torch.where(mask.bool(), ids, -100)
    for kwargs in (dict(), dict(encoder_hidden_states=enc), dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask)):
        assert_both_paths_match(ours, ref, input_ids=ids, attention_mask=mask, labels=labels, use_cache=False,
                                **kwargs)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key", "relative_key_query"])
@pytest.mark.parametrize("cross", [False, True])
def test_incremental_decoding_equals_recomputation(position_embedding_type: str, cross: bool) -> None:
    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**tiny(is_decoder=True, add_cross_attention=cross,
                                                 position_embedding_type=position_embedding_type))
    model = perturb(rp.RobertaPreLayerNormForCausalLM(config)).eval()
    ids = torch.randint(3, 99, (2, 9), generator=torch.Generator().manual_seed(4))
    extra = {}
    if cross:
        extra = {"encoder_hidden_states": torch.randn(2, 5, 32),
                 "encoder_attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])}
    with torch.no_grad():
        full = model(ids, **extra, use_cache=False).logits
        out = model(ids[:, :4], use_cache=True, **extra)
        assert len(out.past_key_values) == 2 and len(out.past_key_values[0]) == (4 if cross else 2)
        steps = [out.logits]
        past = out.past_key_values
        for start, stop in ((4, 5), (5, 7), (7, 8), (8, 9)):  # one and several tokens at a time
            out = model(ids[:, start:stop], past_key_values=past, use_cache=True, **extra)
            past = out.past_key_values
            steps.append(out.logits)
    assert past[0][0].shape == (2, 4, 9, 8)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=ATOL, rtol=0)


def test_gradient_checkpointing_same_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**tiny())
    model = perturb(rp.RobertaPreLayerNormForMaskedLM(config)).train()
    inputs = head_inputs("RobertaPreLayerNormForMaskedLM")

    def run() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad()
        out = model(**inputs)
        out.loss.backward()
        return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    logits, grads = run()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    logits_ckpt, grads_ckpt = run()
    torch.testing.assert_close(logits_ckpt, logits, atol=0, rtol=0)
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], atol=1e-6, rtol=0, msg=name)


def test_training_gradients_match_reference(tmp_folder: Path) -> None:
    """One backward pass of the MLM loss gives the reference's gradients (dropout off)."""
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_folder).train()
    ref.train()
    inputs = head_inputs("RobertaPreLayerNormForMaskedLM")
    ours(**inputs).loss.backward()
    ref(**inputs).loss.backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name].grad, atol=ATOL, rtol=0, msg=name)


def test_classifier_dropout_is_used() -> None:
    config = rp.RobertaPreLayerNormConfig(**tiny(classifier_dropout=0.7, hidden_dropout_prob=0.1))
    seq = rp.RobertaPreLayerNormForSequenceClassification(config)
    tok = rp.RobertaPreLayerNormForTokenClassification(config)
    assert seq.classifier.dropout.p == 0.7 and tok.dropout.p == 0.7
    config = rp.RobertaPreLayerNormConfig(**tiny(hidden_dropout_prob=0.1))
    assert rp.RobertaPreLayerNormForSequenceClassification(config).classifier.dropout.p == 0.1


def test_initialisation_statistics() -> None:
    """Weights follow N(0, initializer_range), biases 0, padding rows 0, LayerNorms 1/0."""
    config = rp.RobertaPreLayerNormConfig(**tiny(hidden_size=64, intermediate_size=256, initializer_range=0.05))
    model = rp.RobertaPreLayerNormForMaskedLM(config)
    state = model.state_dict()
    big = state["roberta_prelayernorm.encoder.layer.0.intermediate.dense.weight"]
    assert abs(big.std().item() - 0.05) < 0.005 and abs(big.mean().item()) < 0.005
    assert torch.count_nonzero(state["roberta_prelayernorm.encoder.layer.1.output.dense.bias"]) == 0
    assert torch.count_nonzero(state["roberta_prelayernorm.embeddings.word_embeddings.weight"][1]) == 0
    assert torch.count_nonzero(state["roberta_prelayernorm.embeddings.position_embeddings.weight"][1]) == 0
    assert torch.equal(state["roberta_prelayernorm.LayerNorm.weight"], torch.ones(64))
    assert torch.count_nonzero(state["lm_head.bias"]) == 0
    assert model.lm_head.decoder.weight is model.roberta_prelayernorm.embeddings.word_embeddings.weight


def test_device_dtype_and_auto_classes(tmp_folder: Path) -> None:
    model = rp.RobertaPreLayerNormForTokenClassification(rp.RobertaPreLayerNormConfig(**tiny()))
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    assert model.to(torch.bfloat16).dtype == torch.bfloat16
    model.float().save_pretrained(tmp_folder)
    loaded = rp.AutoModelForTokenClassification.from_pretrained(tmp_folder)
    assert type(loaded) is rp.RobertaPreLayerNormForTokenClassification
    for a, b in zip(loaded.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("is_decoder", [False, True])
def test_fast_path_compiles_without_graph_breaks(is_decoder: bool) -> None:
    """The encoder of the fast path traces into one graph (fullgraph=True) and gives the same numbers;
    under compilation attention takes the padded layout, so both attention variants are compared."""
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny(is_decoder=is_decoder)))).eval()
    ids, mask = batch(3, 9)
    torch._dynamo.reset()
    with torch.no_grad():
        eager = model(ids, mask, use_cache=False).last_hidden_state
        model.set_fast_path(False)
        exact = model(ids, mask, use_cache=False).last_hidden_state
        model.set_fast_path(True)
        model.encoder.forward = torch.compile(model.encoder.forward, fullgraph=True, backend="eager")
        compiled = model(ids, mask, use_cache=False).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(compiled[real], eager[real], atol=ATOL, rtol=0)
    torch.testing.assert_close(compiled[real], exact[real], atol=ATOL, rtol=0)


# --------------------------------------------------------------------------- the layout seam and logits_at
@pytest.mark.parametrize("name", ["RobertaPreLayerNormForMaskedLM", "RobertaPreLayerNormForCausalLM"])
def test_lm_logits_have_the_reference_shape_in_training_mode(name: str, tmp_folder: Path) -> None:
    """Training mode with labels gives (batch, length, vocab) logits and the reference's loss, as 4.37.2 does."""
    ref = reference_model(name, is_decoder=name.endswith("CausalLM"))
    ref.save_pretrained(tmp_folder)
    ours = getattr(rp, name).from_pretrained(tmp_folder).train()  # dropout is 0 in the tiny config
    inputs = head_inputs(name)
    out = ours(**inputs)
    expected = ref.train()(**inputs)
    assert out.logits.shape == (3, 9, 99)
    torch.testing.assert_close(out.loss, expected.loss, atol=ATOL, rtol=0)
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(out.logits[real], expected.logits[real], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["RobertaPreLayerNormForMaskedLM", "RobertaPreLayerNormForCausalLM"])
def test_logits_at_equals_the_full_head_there(name: str) -> None:
    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**tiny(is_decoder=name.endswith("CausalLM")))
    model = perturb(getattr(rp, name)(config)).eval()
    ids, mask = batch(3, 9)
    where = mask.bool() & (torch.arange(9) % 3 == 1)
    with torch.no_grad():
        full = model(ids, mask).logits
        sparse = model(ids, mask, logits_at=where).logits
    assert sparse.shape == (int(where.sum()), 99)
    torch.testing.assert_close(sparse, full[where], atol=ATOL, rtol=0)
    if name.endswith("MaskedLM"):  # the loss over the selected positions
        labels = torch.where(where, ids, -100)
        with torch.no_grad():
            expected = torch.nn.functional.cross_entropy(full[where], ids[where])
            got = model(ids, mask, labels=labels, logits_at=where).loss
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="logits_at"):
        model(ids, mask, logits_at=where[:, :4])


SYNCS = ("item", "tolist", "__bool__", "__int__", "__index__", "__float__", "nonzero", "cpu", "numpy")


@pytest.mark.parametrize("name", HEADS)
def test_one_host_synchronisation_per_forward(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The packed forward reads values from the device once (input checks and the layout, together)."""
    model = getattr(rp, name)(rp.RobertaPreLayerNormConfig(**tiny(num_labels=labels_for(name)))).eval()
    inputs = head_inputs(name, labels=False)
    calls: list[str] = []
    for method in SYNCS:
        original = getattr(torch.Tensor, method)

        def counted(self, *args, __original=original, __name=method, **kwargs):
            calls.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counted)
    with torch.no_grad():
        model(**inputs)
    assert calls == ["tolist"], calls


@pytest.mark.parametrize("dtype", [torch.long, torch.int32, torch.bool, torch.float32])
def test_masks_of_any_dtype_give_the_same_numbers(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    with torch.no_grad():
        expected = model(ids, mask).last_hidden_state
        got = model(ids, mask.to(dtype)).last_hidden_state
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.long, torch.int8])
def test_integer_masks_must_hold_zeros_and_ones(dtype: torch.dtype) -> None:
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny())).eval()
    ids, mask = batch(3, 9)
    with pytest.raises(ValueError, match="attention_mask holds values other than 0 and 1"):
        model(ids, (mask * 2).to(dtype))


def test_masks_with_holes_and_left_padding_take_the_reference_computation(tmp_folder: Path) -> None:
    ref = reference_model("RobertaPreLayerNormModel")
    ref.save_pretrained(tmp_folder)
    ours = rp.RobertaPreLayerNormModel.from_pretrained(tmp_folder)
    ids, _ = batch(2, 9)
    for mask in (torch.tensor([[1, 1, 0, 1, 1, 1, 0, 1, 1]] * 2), torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1]] * 2)):
        with torch.no_grad():
            assert_outputs_equal(ours(ids, mask), ref(ids, mask))  # every position, padding included


def test_torch_jit_trace_follows_other_masks() -> None:
    torch.manual_seed(0)
    model = perturb(rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))).eval()
    ids, mask = batch(3, 9)
    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, i: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return self.model(i, m).last_hidden_state

    with torch.no_grad():
        traced = torch.jit.trace(Hidden(), (ids, mask))
    other_ids, other_mask = batch(3, 9, seed=5)
    other_mask[0, 4:] = 0
    with torch.no_grad():
        expected = model(other_ids, other_mask).last_hidden_state
    real = other_mask.bool()
    with torch.no_grad():
        got = traced(other_ids, other_mask)
    torch.testing.assert_close(got[real], expected[real], atol=ATOL, rtol=0)
