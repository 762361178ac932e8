"""Text generation with the TF causal LM: greedy decoding and sampling over the key/value cache.

Each step (the forward pass over the new tokens with the cache, and the choice of the next token) runs
as one ``tf.function`` (traced for the prompt, then once more for the cached steps, whose shapes are
relaxed). Positions follow the same rule as the PyTorch ``generate``: padding keeps ``pad_token_id``,
every other token counts up from ``pad_token_id + 1``, and each cached step is given its position, so
greedy decoding gives the PyTorch ids on the same weights, left-padded rows included.

Sampling applies temperature, top-k and top-p (nucleus) filtering, in that order, then draws with
``tf.random.stateless_categorical`` from seeds of a ``tf.random.Generator`` (``seed`` makes a call
reproducible; the draws differ from PyTorch's, whose generator is another).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import numpy as np

from ..core.generation import DEFAULT_MAX_LENGTH, GenerationConfig, check_basic, check_length, resolve_config
from .backend import tf

logger = logging.getLogger("roberta_prelayernorm")


# ------------------------------------------------------------------------------------- token choice
def filter_top_k(scores: tf.Tensor, top_k: int) -> tf.Tensor:
    """Set every score below the ``top_k``-th largest of its row to -inf (ties at the boundary stay)."""
    k = min(top_k, scores.shape[-1])
    kth = tf.math.top_k(scores, k).values[..., -1:]
    return tf.where(scores < kth, tf.constant(-np.inf, scores.dtype), scores)


def filter_top_p(scores: tf.Tensor, top_p: float) -> tf.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities reach ``top_p``; -inf elsewhere.

    Tokens are sorted from least to most likely; those whose cumulative probability stays at or below
    ``1 - top_p`` are dropped. The most likely token always stays.
    """
    order = tf.argsort(scores, axis=-1, direction="ASCENDING")
    ascending = tf.gather(scores, order, batch_dims=1)
    cumulative = tf.cumsum(tf.nn.softmax(ascending, axis=-1), axis=-1)
    drop_sorted = cumulative <= 1 - top_p
    drop_sorted = tf.concat([drop_sorted[:, :-1], tf.zeros_like(drop_sorted[:, -1:])], axis=-1)
    drop = tf.gather(drop_sorted, tf.argsort(order, axis=-1), batch_dims=1)  # back to vocabulary order
    return tf.where(drop, tf.constant(-np.inf, scores.dtype), scores)


def sample_next(scores: tf.Tensor, config: GenerationConfig, seed: tf.Tensor | None = None) -> tf.Tensor:
    """The next token of each row from (batch, vocab) float32 logits: argmax, or a draw after the filters."""
    if not config.do_sample:
        return tf.argmax(scores, axis=-1, output_type=tf.int32)
    if config.temperature != 1.0:
        scores = scores / config.temperature
    if config.top_k:
        scores = filter_top_k(scores, config.top_k)
    if config.top_p < 1.0:
        scores = filter_top_p(scores, config.top_p)
    return tf.random.stateless_categorical(scores, 1, seed, dtype=tf.int32)[:, 0]


# ------------------------------------------------------------------------------------------ the loop
def _check_prompt(input_ids: Any) -> np.ndarray:
    ids = np.asarray(input_ids.numpy() if isinstance(input_ids, tf.Tensor) else input_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"input_ids must hold integers, got dtype {ids.dtype}")
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2 or ids.shape[0] == 0:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(ids.shape)}")
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty: give at least one token (or input_ids=None to start from <s>)")
    return ids.astype(np.int32)


_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → {token-choice settings: step}


def step_function(model: Any, config: GenerationConfig) -> Any:
    """The ``tf.function`` of one step: logits of the last position → next token, and the new cache.

    Made once per model and token-choice settings (they are constants of the traced graph)."""
    key = (config.do_sample, config.temperature, config.top_k, config.top_p)
    cache = _STEPS.setdefault(model, {})
    if key not in cache:
        base, head = model.roberta_prelayernorm, model.lm_head

        def step(input_ids: tf.Tensor, attention_mask: tf.Tensor, position_ids: tf.Tensor, past: Any,
                 seed: tf.Tensor) -> tuple[tf.Tensor, Any]:
            out = base(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                       past_key_values=past, use_cache=True)
            logits = head(out.last_hidden_state[:, -1:], word_embeddings=model.word_embeddings_weight())[:, 0]
            return sample_next(tf.cast(logits, tf.float32), config, seed), out.past_key_values

        cache[key] = tf.function(step, reduce_retracing=True)
    return cache[key]


def generate(
    model: Any,
    input_ids: Any = None,
    attention_mask: Any = None,
    *,
    generation_config: GenerationConfig | None = None,
    seed: int | None = None,
    generator: tf.random.Generator | None = None,
    **kwargs: Any,
) -> tf.Tensor:
    """Continue each prompt of a batch, greedily or by sampling.

    Args:
        model: A TF causal LM whose config has ``is_decoder=True``.
        input_ids: (batch, length) prompt ids (numpy or tf); a batch of prompts of different lengths must be
            padded on the left. None starts one sequence from ``bos_token_id``.
        attention_mask: (batch, length) 1 for tokens, 0 for padding. Default: padding is where ``input_ids``
            equals ``pad_token_id`` (unless that is also the end-of-sequence token).
        generation_config: Settings; default: ``model.generation_config`` if set, else the model config's
            special token ids with the defaults of :class:`GenerationConfig`.
        seed: Seed of a private random generator, for reproducible sampling.
        generator: A ``tf.random.Generator`` to draw the sampling seeds from (instead of ``seed``).
        **kwargs: Any field of :class:`GenerationConfig` (``max_new_tokens=10``, ``do_sample=True``, ...).

    Returns:
        (batch · num_return_sequences, length + new) int32 token ids: each prompt followed by its new tokens;
        a sequence that ended (end-of-sequence token) before the others is filled with ``pad_token_id``.

    Raises:
        ValueError: For a model that is not a decoder, a prompt plus new tokens longer than the model
            allows, or settings out of range. ``TypeError`` for unknown arguments.
    """
    model_config = model.config
    config = resolve_config(model, generation_config, kwargs)
    check_basic(config, "TF")
    if input_ids is None:
        if config.bos_token_id is None:
            raise ValueError("without input_ids, generation starts from bos_token_id, which is not set")
        input_ids = [[config.bos_token_id]]
    ids = _check_prompt(input_ids)
    batch, length = ids.shape
    pad_idx = model_config.pad_token_id
    eos = config.eos_ids()
    fill = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else None)
    if attention_mask is None:
        if fill is not None and fill not in eos and bool((ids == fill).any()):
            mask = (ids != fill).astype(np.int32)
        else:
            mask = np.ones_like(ids)
    else:
        mask = np.asarray(attention_mask.numpy() if isinstance(attention_mask, tf.Tensor) else attention_mask)
        if mask.shape != (batch, length):
            raise ValueError(f"attention_mask has shape {tuple(mask.shape)}, input_ids {(batch, length)}")
        mask = mask.astype(np.int32)
    if batch > 1 and bool((mask[:, -1] == 0).any()):
        logger.warning("the prompts are padded on the right: new tokens would follow the padding. "
                       "Pad on the left (tokenizer(..., padding_side='left')) for batched generation")

    new = config.max_new_tokens
    if new is None:
        new = max((config.max_length or DEFAULT_MAX_LENGTH) - length, 0)
    check_length(model_config, int((ids != pad_idx).sum(axis=1).max()), length, new)
    if config.num_return_sequences > 1:
        ids = np.repeat(ids, config.num_return_sequences, axis=0)
        mask = np.repeat(mask, config.num_return_sequences, axis=0)
        batch = ids.shape[0]
    if config.do_sample and generator is None:
        generator = (tf.random.Generator.from_seed(seed) if seed is not None
                     else tf.random.Generator.from_non_deterministic_state())

    step = step_function(model, config)
    counted = (ids != pad_idx).sum(axis=1)  # tokens that have a position of their own, per row
    positions = np.where(ids != pad_idx, np.cumsum(ids != pad_idx, axis=1) + pad_idx, pad_idx).astype(np.int32)
    unfinished = np.ones(batch, dtype=bool)
    no_seed = tf.zeros((2,), tf.int64)
    step_inputs: tuple = (ids, mask, positions, None)
    for _ in range(new):
        seed_pair = generator.make_seeds(1)[:, 0] if config.do_sample else no_seed
        token, cache = step(*(tf.constant(x) if isinstance(x, np.ndarray) else x for x in step_inputs), seed_pair)
        token = token.numpy()
        if eos:
            token = np.where(unfinished, token, fill)
        ids = np.concatenate([ids, token[:, None]], axis=1)
        mask = np.concatenate([mask, np.ones((batch, 1), np.int32)], axis=1)
        real = token != pad_idx
        counted = counted + real
        position = np.where(real, counted + pad_idx, pad_idx).astype(np.int32)
        positions = np.concatenate([positions, position[:, None]], axis=1)
        if eos:
            unfinished &= ~np.isin(token, eos)
            if not unfinished.any():
                break
        if config.use_cache:
            step_inputs = (token[:, None].astype(np.int32), mask, position[:, None], cache)
        else:  # recompute everything
            step_inputs = (ids, mask, positions, None)
    return tf.constant(ids, dtype=tf.int32)


class TFGenerationMixin:
    """Adds :func:`generate` to the TF causal LM as ``model.generate(...)``."""

    def generate(self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any) -> tf.Tensor:
        return generate(self, input_ids, attention_mask, **kwargs)

    def can_generate(self) -> bool:
        return True


TFGenerationMixin.generate.__doc__ = generate.__doc__
