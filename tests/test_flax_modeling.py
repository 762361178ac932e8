"""The Flax family against our PyTorch family on the same weights (fp32, full-precision matmuls).

Every head and forward feature: padded batches, token types, explicit positions, head masks (1-D and
2-D, fractions), 3-D masks, attentions and hidden states (the last entry before the final LayerNorm),
decoder mode, cross-attention, relative positions (the reference's Flax classes ignore them; ours
follow the PyTorch family), and the key/value cache against recomputation. Then the JAX side:
``jit``, ``vmap``, ``grad`` with an optax training loop, bfloat16, gradient checkpointing.
Comparisons are on real tokens, at 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from flax_helpers import ATOL, at_real_tokens, inputs_for, max_diff, pair, to_torch
from model_helpers import HEADS, batch

import jax  # noqa: E402  (flax_helpers skips the module without jax)
import jax.numpy as jnp  # noqa: E402

import roberta_prelayernorm as rp  # noqa: E402

pytestmark = pytest.mark.flax
TRACE = {"output_hidden_states": True, "output_attentions": True}


def config_for(name: str) -> dict[str, Any]:
    return {"is_decoder": True} if name.endswith("CausalLM") else {}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[torch.nn.Module, Any]]:
    """One (PyTorch, Flax) pair per head, loaded through a PyTorch folder (``model.safetensors``)."""
    return {name: pair(name, tmp_path_factory.mktemp(name), **config_for(name)) for name in HEADS}


@pytest.mark.parametrize("name", HEADS)
def test_every_head_matches_pytorch(models: dict, name: str) -> None:
    pt, fx = models[name]
    inputs = inputs_for(name)
    ours = fx(**inputs, **TRACE)
    with torch.no_grad():
        ref = pt(**to_torch(inputs), **TRACE)
    assert type(ours).__name__ == "Flax" + type(ref).__name__
    assert max_diff(ours, ref, inputs["attention_mask"]) <= ATOL
    if name == "RobertaPreLayerNormModel":  # the last hidden state is taken before the final LayerNorm (4.37.2)
        real = inputs["attention_mask"]
        assert np.abs(at_real_tokens(ours.hidden_states[-1], real) - at_real_tokens(ours.last_hidden_state, real)
                      ).max() > 0.1
    # the tuple form holds the same arrays in the dataclass order
    as_tuple = fx(**inputs, **TRACE, return_dict=False)
    assert len(as_tuple) == len(ours.to_tuple())
    for a, b in zip(jax.tree_util.tree_leaves(as_tuple), jax.tree_util.tree_leaves(ours.to_tuple())):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_numpy_outputs_and_lists(models: dict) -> None:
    """numpy int64 inputs in, outputs that ``np.asarray`` converts; nested lists are accepted too."""
    _, fx = models["RobertaPreLayerNormForMaskedLM"]
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    assert inputs["input_ids"].dtype == np.int64
    logits = np.asarray(fx(**inputs).logits)
    assert logits.dtype == np.float32 and logits.shape == (3, 9, 99)
    np.testing.assert_array_equal(np.asarray(fx(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist(),
                                                inputs["token_type_ids"].tolist()).logits), logits)


def test_explicit_positions_head_masks_and_3d_masks(tmp_path: Path) -> None:
    pt, fx = pair("RobertaPreLayerNormModel", tmp_path, num_hidden_layers=3)
    ids, mask = batch(2, 7)
    gen = torch.Generator().manual_seed(3)
    cases = [
        {"position_ids": torch.tensor([[2, 3, 4, 5, 6, 7, 8], [9, 4, 4, 20, 2, 11, 30]])},
        {"head_mask": torch.tensor([1.0, 0.0, 0.5, 1.0])},
        {"head_mask": torch.tensor([[1.0, 1.0, 0.0, 0.25], [0.0, 0.0, 0.0, 0.0], [0.75, 1.0, 1.0, 0.0]])},
        {"attention_mask": ((torch.rand(2, 7, 7, generator=gen) < 0.6) | torch.eye(7, dtype=torch.bool)).long()},
        {"token_type_ids": torch.randint(0, 2, (2, 7), generator=gen)},
    ]
    for extra in cases:
        inputs = {"input_ids": ids, "attention_mask": mask, **extra}
        ours = fx(**{k: v.numpy() for k, v in inputs.items()}, **TRACE)
        with torch.no_grad():
            ref = pt(**inputs, **TRACE)
        real = mask.numpy() if inputs["attention_mask"].dim() == 2 else None
        assert max_diff(ours, ref, real) <= ATOL, list(extra)


def test_bare_model_without_pooler(tmp_path: Path) -> None:
    pt = rp.RobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**__import__("model_helpers").tiny()),
                                     add_pooling_layer=False)
    pt.save_pretrained(tmp_path)
    fx = rp.FlaxRobertaPreLayerNormModel.from_pretrained(tmp_path, add_pooling_layer=False)
    assert "pooler" not in fx.params
    ids, mask = batch()
    out = fx(ids.numpy(), mask.numpy())
    assert out.pooler_output is None and out.keys() == ["last_hidden_state"]
    with torch.no_grad():
        assert max_diff(out, pt(ids, mask), mask.numpy()) <= ATOL


@pytest.mark.parametrize("kind", ["relative_key", "relative_key_query"])
def test_relative_positions_match_pytorch(tmp_path: Path, kind: str) -> None:
    """transformers 4.37.2's Flax classes have no relative positions (they add absolute ones whatever the
    config says); ours compute them as the PyTorch family does, so relative checkpoints give their numbers."""
    pt, fx = pair("RobertaPreLayerNormForMaskedLM", tmp_path, position_embedding_type=kind)
    assert "distance_embedding" in fx.params["roberta_prelayernorm"]["encoder"]["layer"]["0"]["attention"]["self"]
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    with torch.no_grad():
        ref = pt(**to_torch(inputs), **TRACE)
    assert max_diff(fx(**inputs, **TRACE), ref, inputs["attention_mask"]) <= ATOL


# ------------------------------------------------------------------------------------------- decoder
def incremental(fx: Any, ids: np.ndarray, mask: np.ndarray, steps: list[int], **extra: Any) -> np.ndarray:
    """Logits of a run in pieces of ``steps`` tokens over the cache, joined along the length."""
    cache = fx.init_cache(ids.shape[0], ids.shape[1])
    pieces, start = [], 0
    for n in steps:
        out = fx(ids[:, start:start + n], attention_mask=mask, past_key_values=cache, **extra)
        cache = out.past_key_values
        pieces.append(np.asarray(out.logits))
        start += n
    assert start == ids.shape[1]
    return np.concatenate(pieces, axis=1)


@pytest.mark.parametrize("kind", ["absolute", "relative_key"])
def test_decoder_cache_equals_recomputation(tmp_path: Path, kind: str) -> None:
    pt, fx = pair("RobertaPreLayerNormForCausalLM", tmp_path, is_decoder=True, position_embedding_type=kind)
    ids, mask = batch(3, 9)
    ids, mask = ids.numpy(), mask.numpy()
    full = fx(ids, attention_mask=mask, **TRACE)
    with torch.no_grad():
        ref = pt(torch.from_numpy(ids), torch.from_numpy(mask), **TRACE)
    assert max_diff(full, ref, mask) <= ATOL  # causal masks combined with padding
    steps = incremental(fx, ids, mask, [5, 1, 2, 1])
    real = mask.astype(bool)
    assert np.abs(steps - np.asarray(full.logits))[real].max() <= ATOL
    # the cache is the reference's layout: (batch, max_length, heads, head_dim) and an index
    cache = fx.init_cache(3, 9)["roberta_prelayernorm"]["encoder"]["layer"]["0"]["attention"]["self"]
    assert cache["cached_key"].shape == (3, 9, 4, 8) and int(cache["cache_index"]) == 0


def test_cross_attention_matches_pytorch_and_caches(tmp_path: Path) -> None:
    pt, fx = pair("RobertaPreLayerNormForCausalLM", tmp_path, is_decoder=True, add_cross_attention=True)
    ids, mask = batch(2, 7)
    enc = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(1))
    enc_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    cross = {"encoder_hidden_states": enc.numpy(), "encoder_attention_mask": enc_mask.numpy()}
    ours = fx(ids.numpy(), mask.numpy(), **cross, **TRACE)
    with torch.no_grad():
        ref = pt(ids, mask, encoder_hidden_states=enc, encoder_attention_mask=enc_mask, **TRACE)
    assert len(ours.cross_attentions) == 2
    assert max_diff(ours, ref, mask.numpy()) <= ATOL
    steps = incremental(fx, ids.numpy(), mask.numpy(), [3, 1, 3], **cross)
    assert np.abs(steps - np.asarray(ours.logits))[mask.numpy().astype(bool)].max() <= ATOL


# ------------------------------------------------------------------------------------------ JAX side
@pytest.fixture(scope="module")
def mlm(models: dict) -> Any:
    return models["RobertaPreLayerNormForMaskedLM"][1]


def test_jit_returns_the_same_output_object(mlm: Any) -> None:
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    eager = mlm(**inputs, **TRACE)
    compiled = jax.jit(lambda params, **kw: mlm(**kw, params=params, **TRACE))(mlm.params, **inputs)
    assert type(compiled) is type(eager)
    for a, b in zip(jax.tree_util.tree_leaves(compiled), jax.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=ATOL, rtol=0)


def test_vmap_over_sequences_equals_the_batch(mlm: Any) -> None:
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    one = lambda ids, mask: mlm(ids[None], mask[None]).logits[0]  # noqa: E731
    mapped = jax.vmap(one)(jnp.asarray(inputs["input_ids"]), jnp.asarray(inputs["attention_mask"]))
    batched = mlm(inputs["input_ids"], inputs["attention_mask"]).logits
    real = inputs["attention_mask"].astype(bool)
    assert np.abs(np.asarray(mapped) - np.asarray(batched))[real].max() <= ATOL


def mlm_loss(model: Any, params: Any, ids: jax.Array, mask: jax.Array, labels: jax.Array,
             dropout_rng: jax.Array | None = None) -> jax.Array:
    logits = model(ids, mask, params=params, dropout_rng=dropout_rng, train=dropout_rng is not None).logits
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, jnp.maximum(labels, 0)[..., None], axis=-1)[..., 0]
    keep = labels != -100
    return -(picked * keep).sum() / keep.sum()


def test_grad_equals_pytorch_and_optax_training_lowers_the_loss(models: dict) -> None:
    optax = pytest.importorskip("optax")
    pt, fx = models["RobertaPreLayerNormForMaskedLM"]
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    labels = np.where(mask.astype(bool) & (np.arange(9) % 2 == 0), (ids * 7) % 99, -100)
    # the gradient of the same loss equals PyTorch's, through the layout table (kernels are transposed)
    grads = jax.grad(lambda p: mlm_loss(fx, p, ids, mask, labels))(fx.params)
    pt.zero_grad()
    pt(torch.from_numpy(ids), torch.from_numpy(mask), labels=torch.from_numpy(labels)).loss.backward()
    query = pt.roberta_prelayernorm.encoder.layer[1].attention.self.query.weight.grad.numpy()
    flax_query = grads["roberta_prelayernorm"]["encoder"]["layer"]["1"]["attention"]["self"]["query"]["kernel"]
    np.testing.assert_allclose(np.asarray(flax_query), query.T, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(grads["roberta_prelayernorm"]["embeddings"]["word_embeddings"]["embedding"]),
                               pt.roberta_prelayernorm.embeddings.word_embeddings.weight.grad.numpy(), atol=ATOL, rtol=0)

    optimizer = optax.adamw(3e-3)
    params, state = fx.params, optimizer.init(fx.params)

    @jax.jit
    def step(params: Any, state: Any, rng: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(lambda p: mlm_loss(fx, p, ids, mask, labels, rng))(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    losses = []
    for i in range(12):
        params, state, loss = step(params, state, jax.random.PRNGKey(i))
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses
    assert float(mlm_loss(fx, params, ids, mask, labels)) < float(mlm_loss(fx, fx.params, ids, mask, labels))


def test_dropout_needs_a_key_and_changes_the_output(tmp_path: Path) -> None:
    _, fx = pair("RobertaPreLayerNormForMaskedLM", tmp_path, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    ids, mask = batch()
    with pytest.raises(ValueError, match="dropout_rng"):
        fx(ids.numpy(), mask.numpy(), train=True)
    a = fx(ids.numpy(), mask.numpy(), train=True, dropout_rng=jax.random.PRNGKey(0)).logits
    b = fx(ids.numpy(), mask.numpy(), train=True, dropout_rng=jax.random.PRNGKey(0)).logits
    c = fx(ids.numpy(), mask.numpy(), train=True, dropout_rng=jax.random.PRNGKey(1)).logits
    d = fx(ids.numpy(), mask.numpy()).logits  # train=False: no dropout
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a), np.asarray(c)) and not np.allclose(np.asarray(a), np.asarray(d))


def test_bfloat16_computes_in_bf16_with_fp32_params(models: dict, tmp_path: Path) -> None:
    pt, fx = models["RobertaPreLayerNormForMaskedLM"]
    pt.save_pretrained(tmp_path)
    bf = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path, dtype=jnp.bfloat16)
    assert {x.dtype for x in jax.tree_util.tree_leaves(bf.params)} == {jnp.dtype("float32")}
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    out = bf(**inputs, output_hidden_states=True)
    assert out.logits.dtype == jnp.bfloat16 and out.hidden_states[1].dtype == jnp.bfloat16
    reference = np.asarray(fx(**inputs).logits)
    real = inputs["attention_mask"].astype(bool)
    error = np.abs(np.asarray(out.logits, np.float32) - reference)[real].max()
    assert 1e-3 < error < 0.05 * np.abs(reference).max(), error  # bf16 rounding, not a different computation
    # to_bf16 / to_fp16 / to_fp32 cast the floating-point parameters (a mask limits which)
    half = fx.to_bf16(fx.params)
    assert {x.dtype for x in jax.tree_util.tree_leaves(half)} == {jnp.dtype("bfloat16")}
    assert {x.dtype for x in jax.tree_util.tree_leaves(fx.to_fp16(fx.params))} == {jnp.dtype("float16")}
    back = fx.to_fp32(half)
    assert {x.dtype for x in jax.tree_util.tree_leaves(back)} == {jnp.dtype("float32")}
    mask = jax.tree_util.tree_map(lambda x: x.ndim > 1, fx.params)  # kernels and embeddings only
    mixed = fx.to_bf16(fx.params, mask)
    assert mixed["lm_head"]["bias"].dtype == jnp.float32
    assert mixed["lm_head"]["dense"]["kernel"].dtype == jnp.bfloat16
    assert np.abs(np.asarray(fx(**inputs, params=half).logits) - reference)[real].max() < 0.05 * np.abs(reference).max()


def test_gradient_checkpointing_gives_the_same_outputs_and_gradients(models: dict, tmp_path: Path) -> None:
    pt, fx = models["RobertaPreLayerNormForMaskedLM"]
    pt.save_pretrained(tmp_path)
    remat = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path, gradient_checkpointing=True)
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    labels = np.where(mask.astype(bool), ids, -100)
    assert max_diff(remat(**inputs, **TRACE), fx(**inputs, **TRACE)) <= 1e-6
    g1 = jax.jit(jax.grad(lambda p: mlm_loss(fx, p, ids, mask, labels)))(fx.params)
    g2 = jax.jit(jax.grad(lambda p: mlm_loss(remat, p, ids, mask, labels)))(fx.params)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, rtol=0)
    # the checkpointed module really is rematerialised
    assert "remat" in str(jax.make_jaxpr(lambda p: mlm_loss(remat, p, ids, mask, labels))(fx.params))
    assert "remat" not in str(jax.make_jaxpr(lambda p: mlm_loss(fx, p, ids, mask, labels))(fx.params))


def test_module_is_a_plain_linen_module(mlm: Any) -> None:
    inputs = inputs_for("RobertaPreLayerNormForMaskedLM")
    direct = jax.jit(mlm.module.apply)({"params": mlm.params}, inputs["input_ids"], inputs["attention_mask"],
                                       inputs["token_type_ids"])
    np.testing.assert_allclose(np.asarray(direct.logits), np.asarray(mlm(**inputs).logits), atol=ATOL, rtol=0)


def test_tokenizer_jax_and_numpy_tensors(models: dict) -> None:
    from test_pipelines import FIXTURE_TOKENIZER

    pt, fx = models["RobertaPreLayerNormForMaskedLM"]
    tokenizer = rp.AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    texts = ["hello world", "a longer sentence about the weather"]
    as_jax = tokenizer(texts, padding=True, return_tensors="jax")
    as_np = tokenizer(texts, padding=True, return_tensors="np")
    assert isinstance(as_jax["input_ids"], jax.Array) and isinstance(as_np["input_ids"], np.ndarray)
    ids = np.asarray(as_np["input_ids"]) % 99  # the tiny model's vocabulary
    np.testing.assert_array_equal(np.asarray(as_jax["input_ids"]), np.asarray(as_np["input_ids"]))
    mask = np.asarray(as_np["attention_mask"])
    ours = fx(jnp.asarray(ids), attention_mask=as_jax["attention_mask"])
    with torch.no_grad():
        ref = pt(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    assert max_diff(ours, ref, mask) <= ATOL
