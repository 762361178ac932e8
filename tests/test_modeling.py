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
TINY_LAYERS = tiny()["num_hidden_layers"]


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


def documented_varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k):
    """``torch.nn.attention.varlen.varlen_attn`` as its documentation defines it (rows (T, heads, D);
    sequence i's queries at rows ``cu_seq_q[i]:cu_seq_q[i+1]`` attend to its keys at ``cu_seq_k``'s),
    computed one sequence at a time, with the argument checks of the flash kernel."""
    assert cu_seq_q.dtype == cu_seq_k.dtype == torch.int32 and query.dim() == key.dim() == 3
    assert cu_seq_q[-1] == query.shape[0] and cu_seq_k[-1] == key.shape[0] and query.stride(-1) == 1
    assert max_q == int(cu_seq_q.diff().max()) and max_k == int(cu_seq_k.diff().max())
    out = []
    for q0, q1, k0, k1 in zip(cu_seq_q[:-1].tolist(), cu_seq_q[1:].tolist(), cu_seq_k[:-1].tolist(),
                              cu_seq_k[1:].tolist()):
        q, k, v = (t.transpose(0, 1) for t in (query[q0:q1], key[k0:k1], value[k0:k1]))  # (heads, n, D)
        out.append(torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, -1) @ v)
    return torch.cat(out, dim=1).transpose(0, 1)


@pytest.mark.parametrize("name", ["RobertaPreLayerNormModel", "RobertaPreLayerNormForSequenceClassification"])
def test_one_varlen_flash_call_per_layer_gives_the_reference(name: str, tmp_folder: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Where flash attention's variable-length call runs (a CUDA GPU in half precision), each layer
    calls it once with the packed rows and their offsets, the classifier's last layer with one query per
    sequence; here that call is the documented computation, so that the numbers are the reference's."""
    from roberta_prelayernorm.torch import modeling

    ref = reference_model(name)
    ref.save_pretrained(tmp_folder)
    ours = getattr(rp, name).from_pretrained(tmp_folder).eval()
    calls: list[tuple[int, int]] = []

    def recorded(query, key, *rest):
        calls.append((query.shape[0], key.shape[0]))
        return documented_varlen_attn(query, key, *rest)

    monkeypatch.setattr(modeling, "flash_varlen_runs", lambda *args: True)
    monkeypatch.setattr(modeling, "_varlen_attn", lambda: recorded)
    inputs = head_inputs(name, labels=False)
    with torch.no_grad():
        got, expected = ours(**inputs), ref(**inputs)
    assert_outputs_equal(got, expected, mask=inputs["attention_mask"] if name.endswith("Model") else None)
    real = int(inputs["attention_mask"].sum())
    last = (3, real) if name.endswith("Classification") else (real, real)  # the first tokens' queries only
    assert calls == [(real, real)] * (TINY_LAYERS - 1) + [last]


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


# ------------------------------------------------------------------------------------------- TorchScript
def other_masks(length: int = 9) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Inputs unlike the traced one: right and left padding, a hole, a fraction, an empty row, no padding,
    another length; the eager model packs some of them and not others."""
    ids, mask = batch(3, length, seed=5)
    hole, fraction, empty, left = mask.clone(), mask.float(), mask.clone(), mask.flip(1)
    hole[0, 3] = 0
    fraction[0, 2] = 0.5
    empty[2] = 0
    longer_ids, longer_mask = batch(3, length + 4, seed=6)
    return [("right", ids, mask), ("none", ids, torch.ones_like(mask)), ("left", ids, left), ("hole", ids, hole),
            ("fraction", ids, fraction), ("empty row", ids, empty), ("longer", longer_ids, longer_mask)]


def flat_tensors(x: object) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for item in x for t in flat_tensors(item)]


@pytest.mark.parametrize("name", HEADS)
def test_torch_jit_trace_matches_eager_and_saves(name: str, tmp_path: Path) -> None:
    """With ``torchscript=True`` every head traces, passes the tracer's own check (its re-run of the
    Python model), gives eager's numbers on other masks and lengths (padding included), and round-trips
    through ``torch.jit.save`` / ``load``."""
    import warnings

    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**tiny(torchscript=True, num_labels=labels_for(name),
                                                 is_decoder=name.endswith("CausalLM")))
    model = perturb(getattr(rp, name)(config)).eval()
    choices = name.endswith("MultipleChoice")
    shape = (lambda x: x[None].expand(2, *x.shape).contiguous()) if choices else (lambda x: x)  # noqa: E731
    ids, mask = batch(3, 9)
    example = {"input_ids": shape(ids), "attention_mask": shape(mask)}
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        traced = torch.jit.trace(model, example_kwarg_inputs=example)  # check_trace=True by default
    failed = [str(w.message) for w in caught if "does not match" in str(w.message) or "differ" in str(w.message)]
    assert not failed, failed
    torch.jit.save(traced, tmp_path / "traced.pt")
    loaded = torch.jit.load(tmp_path / "traced.pt")
    for kind, other_ids, other_mask in other_masks():
        inputs = {"input_ids": shape(other_ids), "attention_mask": shape(other_mask)}
        with torch.no_grad():
            expected = model(**inputs)
            assert isinstance(expected, tuple)  # torchscript: tuples, as the reference
            for got in (traced(**inputs), loaded(**inputs)):
                pairs = list(zip(flat_tensors(got), flat_tensors(expected)))
                assert len(pairs) == len(flat_tensors(expected))
                for a, b in pairs:
                    torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=kind)


def test_torch_jit_trace_follows_other_masks() -> None:
    """Without torchscript=True too (a wrapper returning a tensor), the trace is not the fast path's layout."""
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
    for kind, other_ids, other_mask in other_masks():
        with torch.no_grad():
            torch.testing.assert_close(traced(other_ids, other_mask), model(other_ids, other_mask).last_hidden_state,
                                       atol=ATOL, rtol=0, msg=kind)


@pytest.mark.parametrize("name", ["RobertaPreLayerNormForMaskedLM", "RobertaPreLayerNormForCausalLM"])
def test_torchscript_config_clones_the_tied_weights(name: str, tmp_folder: Path) -> None:
    """As the reference's ``_tie_or_clone_weights``: a copy of the embeddings instead of the same parameter."""
    decoder = name.endswith("CausalLM")
    ref = reference_model(name, is_decoder=decoder)
    ref.save_pretrained(tmp_folder)
    model = getattr(rp, name).from_pretrained(tmp_folder, torchscript=True)
    assert model.config.torchscript and not model.config.use_return_dict
    embeddings, head = model.get_input_embeddings().weight, model.lm_head.decoder.weight
    assert head is not embeddings and torch.equal(head, embeddings)
    assert model.lm_head.decoder.bias is model.lm_head.bias
    tied = getattr(rp, name).from_pretrained(tmp_folder)
    assert tied.lm_head.decoder.weight is tied.get_input_embeddings().weight
    ids, mask = batch()
    with torch.no_grad():
        out = model(ids, mask)
        assert isinstance(out, tuple)
        expected = ref(ids, mask, return_dict=False)
    real = mask.bool()
    torch.testing.assert_close(out[0][real], expected[0][real], atol=ATOL, rtol=0)
    model.save_pretrained(tmp_folder / "again")  # the copy is saved as the reference's tied file
    again, info = getattr(rp, name).from_pretrained(tmp_folder / "again", output_loading_info=True)
    assert not any(info.values()) and torch.equal(again.lm_head.decoder.weight, head)


# ------------------------------------------------------------------------------------------ head pruning
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module")
def golden_pruned():
    """transformers 4.37.2's pruned model: its recipe, the heads, its saved folder, inputs and outputs."""
    import importlib.util
    from safetensors.torch import load_file

    data = __import__("json").loads((GOLDEN / "dropin_pruned.json").read_text(encoding="utf-8"))
    assert data["generated_with"]["transformers"] == "4.37.2"
    spec = importlib.util.spec_from_file_location(
        "make_pipeline_golden", Path(__file__).resolve().parent / "reference" / "make_pipeline_golden.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    state = recipe.recipe_state_dict(data["model"]["parameters"], data["model"]["seed"])
    assert recipe.checksum(state) == pytest.approx(data["model"]["checksum"], rel=1e-12)
    return data, state, load_file(str(GOLDEN / "dropin_pruned_io.safetensors"))


def golden_pruned_folder(folder: Path) -> Path:
    import shutil

    folder.mkdir(parents=True)
    shutil.copy(GOLDEN / "dropin_pruned_config.json", folder / "config.json")
    shutil.copy(GOLDEN / "dropin_pruned_model.safetensors", folder / "model.safetensors")
    return folder


def assert_matches_pruned_golden(model: torch.nn.Module, data: dict, io: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        out = model(input_ids=io["in.input_ids"], attention_mask=io["in.attention_mask"], output_attentions=True,
                    output_hidden_states=True)
    assert out.keys() == data["fields"]
    for key, want in io.items():
        if key.startswith("out."):
            field, *index = key[4:].split(".")
            got = out[field]
            for i in index:
                got = got[int(i)]
            torch.testing.assert_close(got, want, atol=ATOL, rtol=0, msg=key)


@pytest.mark.golden
def test_prune_heads_equals_4_37_2(golden_pruned, tmp_path: Path) -> None:
    """Pruning twice (a head pruned again is skipped) gives 4.37.2's pruned model: its outputs, its
    config.pruned_heads, and a save with its tensors; the save reloads pruned, in ours."""
    from safetensors.torch import load_file

    data, state, io = golden_pruned
    model = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**data["model"]["config"])).eval()
    assert not model.load_checkpoint_state(state).missing_keys
    for heads in data["prune"]:
        model.prune_heads({int(layer): list(h) for layer, h in heads.items()})
    assert [layer.attention.self.num_heads for layer in model.encoder.layer] == [2, 2]
    assert_matches_pruned_golden(model, data, io)
    model.save_pretrained(tmp_path / "ours")
    saved = __import__("json").loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["pruned_heads"] == data["saved_config"]["pruned_heads"]
    ours, theirs = load_file(str(tmp_path / "ours" / "model.safetensors")), load_file(
        str(GOLDEN / "dropin_pruned_model.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
    again = rp.RobertaPreLayerNormModel.from_pretrained(tmp_path / "ours")
    assert again.config.pruned_heads == {0: [0, 2], 1: [1, 3]}
    assert_matches_pruned_golden(again, data, io)


@pytest.mark.golden
def test_reference_pruned_checkpoint_loads(golden_pruned, tmp_path: Path) -> None:
    """4.37.2's own save of a pruned model: built pruned from config.pruned_heads, with nothing missing."""
    data, _, io = golden_pruned
    model, info = rp.RobertaPreLayerNormModel.from_pretrained(golden_pruned_folder(tmp_path / "ref"),
                                                               output_loading_info=True)
    assert not any(info.values()), info
    assert_matches_pruned_golden(model, data, io)
    head = rp.RobertaPreLayerNormForSequenceClassification.from_pretrained(tmp_path / "ref")  # into a head model
    assert head.roberta_prelayernorm.encoder.layer[1].attention.self.query.weight.shape == (16, 32)


def test_prune_heads_bad_input() -> None:
    model = rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(**tiny())).eval()
    with pytest.raises(ValueError, match=r"layer 2 is out of range \[0, 2\)"):
        model.prune_heads({2: [0]})
    with pytest.raises(ValueError, match=r"head 4 of layer 0 is out of range \[0, num_attention_heads=4\)"):
        model.prune_heads({0: [4]})
    with pytest.raises(ValueError, match="head -1"):
        model.prune_heads({0: [-1]})
    assert model.config.pruned_heads == {}  # nothing was pruned
    counted_from_the_end = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))
    counted_from_the_end.prune_heads({-1: [0], 0: [1]})  # as the reference: Python indexing, recorded as given
    assert counted_from_the_end.config.pruned_heads == {-1: [0], 0: [1]}
    assert [layer.attention.self.num_heads for layer in counted_from_the_end.encoder.layer] == [3, 3]
    model.prune_heads({0: [1], 1: [0, 1, 2, 3]})  # a layer may lose every head
    ids, mask = batch()
    with torch.no_grad():
        packed = model(ids, mask).logits
        model.set_fast_path(False)
        padded = model(ids, mask, output_attentions=True)
    assert padded.attentions[1].shape == (3, 0, 9, 9)
    torch.testing.assert_close(packed[mask.bool()], padded.logits[mask.bool()], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="head_mask cannot be combined with pruned heads"):
        model(ids, mask, head_mask=torch.ones(4))
