"""The TF classes against our PyTorch classes on the same random weights: every head and every feature.

Weights travel the way users load them: the PyTorch model is saved as safetensors and the TF class's
``from_pretrained`` reads that folder (through the TF layout table). Outputs are compared on real tokens
(padding positions are not meaningful), fp32, within 1e-5; losses as the reference's TF classes shape them
(per example or (1,)), whose mean is PyTorch's loss.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tf_helpers import ATOL, HEADS, batch, max_diff, numpy, pair, tf, to_torch

import roberta_prelayernorm as rp
from roberta_prelayernorm.core.layouts import undo
from roberta_prelayernorm.tf.checkpoint import tf_to_pt

pytestmark = pytest.mark.tf

IDS, MASK = batch(3, 9)
TYPES = (np.arange(9)[None] >= 5).astype(np.int32).repeat(3, 0) * MASK
MC_IDS, MC_MASK = (x.reshape(2, 2, 9) for x in batch(4, 9, seed=1))
RNG = np.random.RandomState(0)
LABELS: dict[str, dict[str, np.ndarray]] = {
    "Model": {},
    "ForCausalLM": {"labels": np.where(MASK == 1, IDS, -100)},
    "ForMaskedLM": {"labels": np.where((MASK == 1) & (RNG.rand(3, 9) < 0.5), RNG.randint(3, 99, (3, 9)), -100)},
    "ForSequenceClassification": {"labels": np.array([0, 2, 1])},
    "ForMultipleChoice": {"labels": np.array([1, 0])},
    "ForTokenClassification": {"labels": np.where(MASK == 1, RNG.randint(0, 5, (3, 9)), -100)},
    "ForQuestionAnswering": {"start_positions": np.array([1, 3, 2]), "end_positions": np.array([4, 3, 4])},
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``models(head, **config)`` → (PyTorch model, TF model), made once per module."""
    root = tmp_path_factory.mktemp("tf_pairs")

    @cache
    def make(head: str, **config: Any) -> tuple[torch.nn.Module, Any]:
        return pair(root / f"{head}-{abs(hash(tuple(sorted(config.items()))))}", head, **config)

    return lambda head, **config: make(head, **config)


def inputs_for(head: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(inputs, mask of the real tokens over the flattened batch)."""
    if head == "ForMultipleChoice":
        return {"input_ids": MC_IDS, "attention_mask": MC_MASK}, MC_MASK.reshape(-1, 9).astype(bool)
    return {"input_ids": IDS, "attention_mask": MASK, "token_type_ids": TYPES}, MASK.astype(bool)


def compare(tf_out: Any, pt_out: Any, mask: np.ndarray) -> dict[str, float]:
    """Every field PyTorch returns, on real tokens; returns the max difference per field."""
    diffs = {}
    assert set(pt_out.keys()) <= set(tf_out.keys()), (list(pt_out.keys()), list(tf_out.keys()))
    for key in pt_out.keys():
        ours, theirs = tf_out[key], pt_out[key]
        if key == "loss":
            diffs[key] = abs(float(tf.reduce_mean(ours)) - float(theirs))
            continue
        flat_ours = ours if isinstance(ours, tuple) else (ours,)
        flat_theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        assert len(flat_ours) == len(flat_theirs), key
        worst = 0.0
        for a, b in zip(flat_ours, flat_theirs):
            for x, y in (zip(a, b) if isinstance(a, tuple) else [(a, b)]):  # cache: (key, value) per layer
                x, y = numpy(x), y.detach().numpy()
                if x.ndim == 4:  # attentions / cache (B, heads, L, ...): real query or key positions
                    x, y = x.transpose(0, 2, 1, 3), y.transpose(0, 2, 1, 3)
                rows = mask if x.shape[:2] == mask.shape else None
                worst = max(worst, max_diff(x, y, rows))
        diffs[key] = worst
    return diffs


@pytest.mark.parametrize("head", HEADS)
def test_every_head_matches_pytorch(models: Any, head: str) -> None:
    pt, model = models(head)
    inputs, mask = inputs_for(head)
    options = {"output_hidden_states": True, "output_attentions": True}
    out = model(**inputs, **LABELS[head], **options)
    with torch.no_grad():
        expected = pt(**{k: to_torch(v) for k, v in {**inputs, **LABELS[head]}.items()}, **options)
    assert type(out).__name__ == "TF" + type(expected).__name__
    diffs = compare(out, expected, mask)
    assert max(diffs.values()) <= ATOL, diffs
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    # output_hidden_states: the last entry is taken before the final LayerNorm (4.37.2)
    if "last_hidden_state" in out:
        assert max_diff(out.hidden_states[-1], out.last_hidden_state, mask) > 0.1
    if head != "Model":
        # per example as in the reference's TF classes; the masked means are scalars (the reference: (1,))
        shape = () if head in ("ForCausalLM", "ForMaskedLM", "ForTokenClassification") else (len(mask) // (
            2 if head == "ForMultipleChoice" else 1),)
        assert tuple(out.loss.shape) == shape


@pytest.mark.parametrize("config, labels", [
    ({"num_labels": 1}, np.array([0.5, -1.0, 2.0], np.float32)),  # regression (MSE)
    ({"num_labels": 3, "problem_type": "regression"}, np.random.RandomState(5).randn(3, 3)),
    ({"num_labels": 3}, np.array([[0.0, 1, 1], [1, 0, 0], [0, 0, 1]])),  # float labels: multi-label (BCE)
    ({"num_labels": 3}, np.array([[0], [2], [1]])),  # (batch, 1) class ids
])
def test_sequence_classification_losses(models: Any, config: dict, labels: np.ndarray) -> None:
    pt, model = models("ForSequenceClassification", **config)
    out = model(IDS, attention_mask=MASK, labels=labels)
    with torch.no_grad():
        expected = pt(to_torch(IDS), attention_mask=to_torch(MASK), labels=to_torch(labels))
    assert tuple(out.loss.shape) == (3,)  # per example
    assert abs(float(tf.reduce_mean(out.loss)) - float(expected.loss)) <= ATOL
    assert max_diff(out.logits, expected.logits) <= ATOL


@pytest.mark.parametrize("head", HEADS)
def test_tuples_and_access(models: Any, head: str) -> None:
    """``return_dict=False`` gives the fields in order (None left out); attribute, key and index access agree."""
    _, model = models(head)
    inputs, _ = inputs_for(head)
    out = model(**inputs, **LABELS[head])
    as_tuple = model(**inputs, **LABELS[head], return_dict=False)
    assert isinstance(as_tuple, tuple)
    expected = out.to_tuple()
    if head == "Model":
        expected = (out.last_hidden_state, out.pooler_output)
    assert len(as_tuple) == len(expected)
    for a, b in zip(as_tuple, expected):
        assert max_diff(a, b) == 0.0
    first = out.keys()[0]
    assert out[first] is out[0] is getattr(out, first)


def test_base_model_features(models: Any) -> None:
    """head_mask (1-D, 2-D), inputs_embeds, explicit position ids, a 3-D mask, a model without pooler."""
    pt, model = models("Model")
    embeds = np.random.RandomState(1).randn(3, 9, 32).astype(np.float32)
    mask_3d = (np.random.RandomState(2).rand(3, 9, 9) < 0.6).astype(np.int32) | np.eye(9, dtype=np.int32)
    positions = np.random.RandomState(3).randint(2, 40, (3, 9)).astype(np.int32)
    cases = {
        "head_mask 1-D": {"input_ids": IDS, "attention_mask": MASK, "head_mask": np.array([1.0, 0.0, 0.5, 1.0])},
        "head_mask 2-D": {"input_ids": IDS, "attention_mask": MASK,
                          "head_mask": np.array([[1.0, 0.25, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])},
        "inputs_embeds": {"inputs_embeds": embeds, "attention_mask": MASK},
        "positions, types, 3-D mask": {"input_ids": IDS, "attention_mask": mask_3d, "position_ids": positions,
                                       "token_type_ids": TYPES},
    }
    for name, inputs in cases.items():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
        with torch.no_grad():
            expected = pt(**{k: to_torch(v) for k, v in inputs.items()}, output_attentions=True,
                          output_hidden_states=True)
        diffs = compare(out, expected, MASK.astype(bool) if "positions" not in name else np.ones_like(MASK, bool))
        assert max(diffs.values()) <= ATOL, (name, diffs)
    no_pooler = rp.TFRobertaPreLayerNormModel(model.config, add_pooling_layer=False)
    assert "pooler" not in str([v.path for v in no_pooler.weights])
    assert model(IDS, return_dict=False)[1] is not None and no_pooler(IDS, return_dict=False)[1] is None


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_relative_positions(models: Any, kind: str) -> None:
    """Relative position types (which 4.37.2's TF classes do not have) as in our PyTorch classes."""
    pt, model = models("ForMaskedLM", position_embedding_type=kind)
    assert any("distance_embedding" in v.path for v in model.weights)
    out = model(IDS, attention_mask=MASK, labels=LABELS["ForMaskedLM"]["labels"], output_attentions=True)
    with torch.no_grad():
        expected = pt(to_torch(IDS), attention_mask=to_torch(MASK), labels=to_torch(LABELS["ForMaskedLM"]["labels"]),
                      output_attentions=True)
    assert max(compare(out, expected, MASK.astype(bool)).values()) <= ATOL


@pytest.mark.parametrize("config", [{}, {"position_embedding_type": "relative_key_query"}])
def test_decoder_cache_matches_pytorch(models: Any, config: dict) -> None:
    """past_key_values + use_cache: a prompt, then one and two new tokens, against PyTorch's cache."""
    pt, model = models("ForCausalLM", **config)
    ids, mask = IDS[:, :6], np.ones((3, 6), np.int32)
    out = model(ids[:, :4], attention_mask=mask[:, :4], use_cache=True)
    with torch.no_grad():
        expected = pt(to_torch(ids[:, :4]), attention_mask=to_torch(mask[:, :4]), use_cache=True)
    assert max(compare(out, expected, mask[:, :4].astype(bool)).values()) <= ATOL
    past, pt_past = out.past_key_values, expected.past_key_values
    for stop in (5, 6):
        start = 4 if stop == 5 else 5
        step = model(ids[:, start:stop], attention_mask=mask[:, :stop], past_key_values=past)
        with torch.no_grad():
            pt_step = pt(to_torch(ids[:, start:stop]), attention_mask=to_torch(mask[:, :stop]),
                         past_key_values=pt_past)
        assert max(compare(step, pt_step, mask[:, start:stop].astype(bool)).values()) <= ATOL
        past, pt_past = step.past_key_values, pt_step.past_key_values
    full = model(ids, attention_mask=mask)
    assert max_diff(step.logits, full.logits[:, 5:]) <= ATOL  # cached = recomputed


def test_cross_attention_matches_pytorch(models: Any) -> None:
    """Cross-attention over padded encoder states, with a 4-tensor cache per layer."""
    pt, model = models("ForCausalLM", add_cross_attention=True)
    assert any("crossattention" in v.path for v in model.weights)
    enc = np.random.RandomState(4).randn(3, 5, 32).astype(np.float32)
    enc_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], np.int32)
    kwargs = {"encoder_hidden_states": enc, "encoder_attention_mask": enc_mask}
    out = model(IDS[:, :4], use_cache=True, output_attentions=True, **kwargs)
    with torch.no_grad():
        expected = pt(to_torch(IDS[:, :4]), use_cache=True, output_attentions=True,
                      **{k: to_torch(v) for k, v in kwargs.items()})
    assert len(out.past_key_values[0]) == 4 and len(out.cross_attentions) == 2
    assert max(compare(out, expected, np.ones((3, 4), bool)).values()) <= ATOL
    step = model(IDS[:, 4:5], past_key_values=out.past_key_values, **kwargs)
    with torch.no_grad():
        pt_step = pt(to_torch(IDS[:, 4:5]), past_key_values=expected.past_key_values,
                     **{k: to_torch(v) for k, v in kwargs.items()})
    assert max(compare(step, pt_step, np.ones((3, 1), bool)).values()) <= ATOL


@pytest.mark.parametrize("head", ["ForMaskedLM", "ForQuestionAnswering"])
def test_tf_function_and_xla_give_the_same_numbers(models: Any, head: str) -> None:
    _, model = models(head)
    inputs, mask = inputs_for(head)
    inputs = {**inputs, **LABELS[head]}
    eager = model(inputs)
    for jit in (False, True):
        graph = tf.function(lambda x: model(x), jit_compile=jit)(inputs)
        assert type(graph) is type(eager)  # the output classes pass through tf.function
        for key in eager.keys():
            assert max_diff(graph[key], eager[key], mask if numpy(eager[key]).shape[:2] == mask.shape else None) \
                <= ATOL, (jit, key)


def test_decoder_step_under_xla(models: Any) -> None:
    _, model = models("ForCausalLM")
    prompt = model(IDS[:, :4], use_cache=True)
    step = tf.function(lambda ids, past: model(ids, past_key_values=past).logits, jit_compile=True)
    eager = model(IDS[:, 4:5], past_key_values=prompt.past_key_values).logits
    assert max_diff(step(tf.constant(IDS[:, 4:5]), prompt.past_key_values), eager) <= ATOL


def test_input_formats_agree(models: Any) -> None:
    """Keywords, a dict, a list in the documented order, a single tensor; numpy, lists, tf tensors of any int type."""
    _, model = models("ForSequenceClassification")
    expected = model(input_ids=IDS, attention_mask=MASK).logits
    variants = {
        "dict": model({"input_ids": IDS, "attention_mask": MASK}),
        "list": model([IDS, MASK]),
        "positional": model(IDS, MASK),
        "tf int64": model(tf.constant(IDS, tf.int64), attention_mask=tf.constant(MASK, tf.float32)),
        "python lists": model(input_ids=IDS.tolist(), attention_mask=MASK.tolist()),
    }
    for name, out in variants.items():
        assert max_diff(out.logits, expected) == 0.0, name
    assert max_diff(model(IDS[:1]).logits, model({"input_ids": IDS[:1]}).logits) == 0.0
    with pytest.raises(TypeError, match="attention_mask given twice"):
        model({"input_ids": IDS, "attention_mask": MASK}, attention_mask=MASK)
    with pytest.raises(TypeError, match="unexpected inputs.*'mask'"):
        model(IDS, mask=MASK)


def test_tokenizer_tensors_feed_the_model(tmp_path: Path) -> None:
    """``return_tensors="tf"`` gives int32 tf tensors (as the reference), and the BatchEncoding is a valid input."""
    from test_pipelines import FIXTURE_TOKENIZER

    tokenizer = rp.AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    texts = ["a small test", "another, longer sentence for the model"]
    encoded = tokenizer(texts, padding=True, return_tensors="tf")
    as_numpy = tokenizer(texts, padding=True, return_tensors="np")
    assert isinstance(encoded["input_ids"], tf.Tensor) and encoded["input_ids"].dtype == tf.int32
    assert np.array_equal(encoded["input_ids"].numpy(), as_numpy["input_ids"])
    pt, model = pair(tmp_path, "Model", vocab_size=len(tokenizer))
    out = model(encoded)
    with torch.no_grad():
        expected = pt(**{k: to_torch(v) for k, v in as_numpy.items()})
    mask = as_numpy["attention_mask"].astype(bool)
    assert max_diff(out.last_hidden_state, expected.last_hidden_state, mask) <= ATOL
    assert max_diff(model(**encoded).last_hidden_state, out.last_hidden_state) == 0.0
    predicted = model.predict(encoded, verbose=0)  # a BatchEncoding is a valid Keras input too
    assert max_diff(predicted["last_hidden_state"], out.last_hidden_state, mask) <= ATOL


@pytest.mark.parametrize("head", HEADS[1:])
def test_gradients_match_pytorch(models: Any, head: str) -> None:
    """The gradient of a training step's loss (its mean) for every weight, against PyTorch's."""
    pt, model = models(head)
    inputs, _ = inputs_for(head)
    inputs = {**inputs, **LABELS[head]}
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(inputs, training=True).loss)
    grads = tape.gradient(loss, model.trainable_variables)
    pt.zero_grad()
    pt_loss = pt(**{k: to_torch(v) for k, v in inputs.items()}).loss
    pt_loss.backward()
    params = dict(pt.named_parameters())
    assert abs(float(loss) - float(pt_loss.detach())) <= ATOL
    worst = 0.0
    for variable, grad in zip(model.trainable_variables, grads):
        key, transform = tf_to_pt(variable.path.split("/", 1)[1])
        expected = params[key].grad
        got = undo(tf.convert_to_tensor(grad).numpy(), transform)
        worst = max(worst, max_diff(got, expected.numpy()))
    assert len(grads) == len(params)  # every weight once: the tied LM decoder is the word embeddings
    assert worst <= ATOL


def test_dropout_follows_training(models: Any, tmp_path: Path) -> None:
    _, model = pair(tmp_path, "ForMaskedLM", hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    a, b = (model(IDS, attention_mask=MASK, training=True).logits for _ in range(2))
    assert max_diff(a, b) > 1e-3
    c, d = (model(IDS, attention_mask=MASK).logits for _ in range(2))
    assert max_diff(c, d) == 0.0
