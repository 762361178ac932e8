"""Text generation with the Flax causal LM: greedy decoding and sampling, jit-compiled over the cache.

``model.generate(input_ids, ...)`` runs the prompt once into a cache of ``prompt + max_new_tokens``
positions, then one ``lax.fori_loop`` step per new token, all inside one ``jax.jit`` (compiled once
per batch shape and settings, then reused). The rules are those of the PyTorch ``generate``, so
greedy decoding gives the same ids on the same weights:

- positions: padding keeps ``pad_token_id``, every other token counts up from ``pad_token_id + 1``
  (left-padded prompts included); each new token gets its position explicitly;
- a sequence that produced an end-of-sequence token is filled with ``pad_token_id`` from then on;
- sampling applies temperature, top-k, then top-p (nucleus) filtering, and draws with
  ``jax.random.categorical`` (``prng_key`` or ``seed`` makes it reproducible; the draws differ from
  torch's).

Unlike PyTorch's loop, which stops when every sequence has ended, the compiled loop always runs
``max_new_tokens`` steps: the result has ``prompt + max_new_tokens`` columns, the ended sequences
padded with ``pad_token_id``.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..core.generation import DEFAULT_MAX_LENGTH, GenerationConfig, check_basic, check_length, resolve_config
from .outputs import FlaxGenerateOutput

logger = logging.getLogger("roberta_prelayernorm")


# ------------------------------------------------------------------------------------- token choice
def filter_top_k(scores: jax.Array, top_k: int) -> jax.Array:
    """Set every score below the ``top_k``-th largest of its row to -inf (ties at the boundary stay)."""
    k = min(top_k, scores.shape[-1])
    kth = lax.top_k(scores, k)[0][..., -1:]
    return jnp.where(scores < kth, -jnp.inf, scores)


def filter_top_p(scores: jax.Array, top_p: float) -> jax.Array:
    """Keep the smallest set of most likely tokens whose probabilities reach ``top_p``; -inf elsewhere.

    Tokens are sorted from least to most likely; those whose cumulative probability stays at or below
    ``1 - top_p`` are dropped. The most likely token always stays.
    """
    order = jnp.argsort(scores, axis=-1)
    ascending = jnp.take_along_axis(scores, order, axis=-1)
    drop_sorted = jnp.cumsum(jax.nn.softmax(ascending, axis=-1), axis=-1) <= 1 - top_p
    drop_sorted = drop_sorted.at[..., -1].set(False)
    drop = jnp.take_along_axis(drop_sorted, jnp.argsort(order, axis=-1), axis=-1)
    return jnp.where(drop, -jnp.inf, scores)


def choose(scores: jax.Array, config: GenerationConfig, key: jax.Array) -> jax.Array:
    """The next token of each row from (batch, vocab) float32 logits: argmax, or a draw after the filters."""
    if not config.do_sample:
        return jnp.argmax(scores, axis=-1).astype(jnp.int32)
    if config.temperature != 1.0:
        scores = scores / config.temperature
    if config.top_k:
        scores = filter_top_k(scores, config.top_k)
    if config.top_p < 1.0:
        scores = filter_top_p(scores, config.top_p)
    return jax.random.categorical(key, scores, axis=-1).astype(jnp.int32)


# ------------------------------------------------------------------------------------------ the loop
def _decode(model: Any, config: GenerationConfig, new: int, params: Any, ids: jax.Array, mask: jax.Array,
            key: jax.Array) -> jax.Array:
    """The compiled part: the prompt into the cache, then ``new`` steps of one token each."""
    from .pretrained import position_ids_from_input_ids

    batch, length = ids.shape
    total = length + new
    pad_idx = model.config.pad_token_id
    eos = jnp.asarray(config.eos_ids(), dtype=jnp.int32)
    fill = config.pad_token_id if config.pad_token_id is not None else (config.eos_ids() or [0])[0]
    full_mask = jnp.ones((batch, total), jnp.int32).at[:, :length].set(mask)  # later tokens: causal mask
    out = model(ids, attention_mask=full_mask, position_ids=position_ids_from_input_ids(ids, pad_idx),
                params=params, past_key_values=model.init_cache(batch, total))
    state = (jnp.full((batch, total), fill, jnp.int32).at[:, :length].set(ids),
             out.logits[:, -1].astype(jnp.float32), out.past_key_values,
             (ids != pad_idx).sum(axis=1).astype(jnp.int32),  # tokens that have a position of their own
             jnp.ones((batch,), bool), key)

    def step(i: jax.Array, state: tuple) -> tuple:
        sequences, scores, cache, counted, unfinished, key = state
        key, draw = jax.random.split(key)
        token = choose(scores, config, draw)
        if eos.size:
            token = jnp.where(unfinished, token, fill)
            unfinished = unfinished & ~jnp.isin(token, eos)
        sequences = lax.dynamic_update_slice(sequences, token[:, None], (0, length + i))
        real = token != pad_idx
        counted = counted + real
        position = jnp.where(real, counted + pad_idx, pad_idx)
        out = model(token[:, None], attention_mask=full_mask, position_ids=position[:, None], params=params,
                    past_key_values=cache)
        return sequences, out.logits[:, -1].astype(jnp.float32), out.past_key_values, counted, unfinished, key

    return lax.fori_loop(0, new, step, state)[0]


def generate(
    model: Any,
    input_ids: Any = None,
    attention_mask: Any = None,
    *,
    generation_config: GenerationConfig | None = None,
    prng_key: jax.Array | None = None,
    seed: int | None = None,
    params: Any = None,
    **kwargs: Any,
) -> FlaxGenerateOutput:
    """Continue each prompt of a batch, greedily or by sampling.

    Args:
        model: A Flax causal LM whose config has ``is_decoder=True``.
        input_ids: (batch, length) prompt ids (numpy or JAX); prompts of different lengths are padded on
            the left. None starts one sequence from ``bos_token_id``.
        attention_mask: (batch, length) 1 for tokens, 0 for padding. Default: padding is where
            ``input_ids`` equals ``pad_token_id`` (unless that is also the end-of-sequence token).
        generation_config: Settings; default ``model.generation_config`` if set, else the model config's
            special token ids with the defaults of :class:`GenerationConfig`.
        prng_key: Key for sampling (default ``jax.random.PRNGKey(seed or 0)``).
        seed: Seed of the sampling key when ``prng_key`` is not given.
        params: Parameters to use instead of ``model.params``.
        **kwargs: Any field of :class:`GenerationConfig` (``max_new_tokens=10``, ``do_sample=True``, ...).

    Returns:
        ``FlaxGenerateOutput`` whose ``sequences`` are (batch · num_return_sequences, length + new) ids.

    Raises:
        ValueError: For a model that is not a decoder, a prompt plus new tokens longer than the model
            allows, or settings out of range. ``TypeError`` for unknown arguments or non-integer ids.
    """
    model_config = model.config
    config = resolve_config(model, generation_config, kwargs)
    check_basic(config, "Flax")
    if input_ids is None:
        if config.bos_token_id is None:
            raise ValueError("without input_ids, generation starts from bos_token_id, which is not set")
        input_ids = np.full((1, 1), config.bos_token_id)
    ids = np.asarray(input_ids)
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"input_ids must hold integers, got dtype {ids.dtype}")
    ids = ids[None] if ids.ndim == 1 else ids
    if ids.ndim != 2 or ids.shape[0] == 0:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(ids.shape)}")
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty: give at least one token (or input_ids=None to start from <s>)")
    batch, length = ids.shape
    eos = config.eos_ids()
    fill = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else None)
    if attention_mask is None:
        if fill is not None and fill not in eos and bool((ids == fill).any()):
            mask = (ids != fill).astype(np.int32)
        else:
            mask = np.ones_like(ids, dtype=np.int32)
    else:
        mask = np.asarray(attention_mask).astype(np.int32)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}")
    if batch > 1 and bool((mask[:, -1] == 0).any()):
        logger.warning("the prompts are padded on the right: new tokens would follow the padding. "
                       "Pad on the left (tokenizer(..., padding_side='left')) for batched generation")
    new = config.max_new_tokens
    if new is None:
        new = max((config.max_length or DEFAULT_MAX_LENGTH) - length, 0)
    check_length(model_config, int((np.asarray(ids) != model_config.pad_token_id).sum(axis=1).max()), ids.shape[1], new)
    if config.num_return_sequences > 1:
        ids = np.repeat(ids, config.num_return_sequences, axis=0)
        mask = np.repeat(mask, config.num_return_sequences, axis=0)
    if new == 0:
        return FlaxGenerateOutput(sequences=jnp.asarray(ids, jnp.int32))
    key = prng_key if prng_key is not None else jax.random.PRNGKey(seed or 0)
    compiled = model.__dict__.setdefault("_generate_fns", {})
    cache_key = (config.do_sample, config.temperature, config.top_k, config.top_p, tuple(eos), config.pad_token_id, new)
    if cache_key not in compiled:
        compiled[cache_key] = jax.jit(partial(_decode, model, config, new))
    sequences = compiled[cache_key](model.params if params is None else params, jnp.asarray(ids, jnp.int32),
                                    jnp.asarray(mask), key)
    return FlaxGenerateOutput(sequences=sequences)


class FlaxGenerationMixin:
    """Adds :func:`generate` to the Flax causal LM as ``model.generate(...)``."""

    def generate(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> FlaxGenerateOutput:
        return generate(self, input_ids, attention_mask, **kwargs)

    def can_generate(self) -> bool:
        return True


FlaxGenerationMixin.generate.__doc__ = generate.__doc__
