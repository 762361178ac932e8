"""Text generation with the causal LM: greedy decoding and sampling over the key/value cache.

``generate(model, input_ids, ...)`` works on any ``RobertaPreLayerNormForCausalLM`` whose config has
``is_decoder=True``; :class:`GenerationMixin` adds it as ``model.generate(...)``.

Positions follow the model's own rule for a whole sequence (``position_ids_from_input_ids``): padding
keeps ``pad_token_id`` and every other token counts up from ``pad_token_id + 1``. Each cached step is
given that position explicitly, so the ids generated with the cache equal those from recomputing the
whole sequence at every step, left-padded rows included. (transformers 4.37.2 derives the new token's
position from the cache length, which counts the left pads: there its left-padded rows drift.)

Sampling applies, in this order, temperature, top-k and top-p (nucleus) filtering, then draws from the
softmax with ``torch.multinomial``; ``seed`` makes a call reproducible.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..core.generation import DEFAULT_MAX_LENGTH, GenerationConfig

__all__ = ["GenerationConfig", "GenerationMixin", "generate", "sample_next", "filter_top_k", "filter_top_p"]

logger = logging.getLogger("roberta_prelayernorm")

# ------------------------------------------------------------------------------------- token choice
def filter_top_k(scores: torch.Tensor, top_k: int) -> torch.Tensor:
    """Set every score below the ``top_k``-th largest of its row to -inf (ties at the boundary stay)."""
    k = min(top_k, scores.shape[-1])
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, float("-inf"))


def filter_top_p(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities reach ``top_p``; -inf elsewhere.

    Tokens are sorted from least to most likely; those whose cumulative probability stays at or below
    ``1 - top_p`` are dropped. The most likely token always stays.
    """
    ascending, order = torch.sort(scores, dim=-1)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= 1 - top_p
    drop_sorted[..., -1] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def sample_next(scores: torch.Tensor, config: GenerationConfig, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """The next token of each row from (batch, vocab) float32 logits: argmax, or a draw after the filters."""
    if not config.do_sample:
        return scores.argmax(dim=-1)
    if config.temperature != 1.0:
        scores = scores / config.temperature
    if config.top_k:
        scores = filter_top_k(scores, config.top_k)
    if config.top_p < 1.0:
        scores = filter_top_p(scores, config.top_p)
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


# ------------------------------------------------------------------------------------------ the loop
def resolve_config(model: Any, generation_config: GenerationConfig | None, overrides: dict[str, Any]
                   ) -> GenerationConfig:
    """``generation_config`` (or the model's ``generation_config`` attribute, or its config's ids) + overrides."""
    base = generation_config or getattr(model, "generation_config", None)
    if base is None:
        base = GenerationConfig.from_model_config(model.config)
    config = base.updated(**overrides)
    config.validate()
    return config


def _check_prompt(input_ids: Any) -> torch.Tensor:
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integers, got dtype {input_ids.dtype}")
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.dim() != 2 or input_ids.shape[0] == 0:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
    if input_ids.shape[1] == 0:
        raise ValueError("the prompt is empty: give at least one token (or input_ids=None to start from <s>)")
    return input_ids.long()


def _next_logits(model: Any, **inputs: Any) -> tuple[torch.Tensor, Any]:
    """Logits of the last position only, (batch, vocab) in float32, and the new cache."""
    ids = inputs["input_ids"]
    last = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
    last[:, -1] = True
    out = model(**inputs, logits_at=last, return_dict=True)  # the LM head runs at the last position only
    return out.logits.float(), out.past_key_values


@torch.no_grad()
def generate(
    model: Any,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    *,
    generation_config: GenerationConfig | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Continue each prompt of a batch, greedily or by sampling.

    Args:
        model: A causal LM whose config has ``is_decoder=True``.
        input_ids: (batch, length) prompt ids; a batch of prompts of different lengths must be padded
            on the left. None starts one sequence from ``bos_token_id``.
        attention_mask: (batch, length) 1 for tokens, 0 for padding. Default: padding is where
            ``input_ids`` equals ``pad_token_id`` (unless that is also the end-of-sequence token).
        generation_config: Settings; default: ``model.generation_config`` if set, else the model
            config's special token ids with the defaults of :class:`GenerationConfig`.
        seed: Seed of a private random generator, for reproducible sampling.
        generator: A ``torch.Generator`` to sample with (instead of ``seed``).
        **kwargs: Any field of :class:`GenerationConfig` (``max_new_tokens=10``, ``do_sample=True``, ...).

    Returns:
        (batch · num_return_sequences, length + new) token ids: each prompt followed by its new tokens;
        a sequence that ended (end-of-sequence token) before the others is filled with ``pad_token_id``.

    Raises:
        ValueError: For a model that is not a decoder, a prompt plus new tokens longer than the model
            allows, or settings out of range. ``TypeError`` for unknown arguments.
    """
    model_config = model.config
    if not model_config.is_decoder:
        raise ValueError("generate needs a decoder: this model's config has is_decoder=False, so every token would "
                         "attend to later ones. Load it with is_decoder=True "
                         "(RobertaPreLayerNormForCausalLM.from_pretrained(path, is_decoder=True))")
    config = resolve_config(model, generation_config, kwargs)
    device = model.device
    if input_ids is None:
        if config.bos_token_id is None:
            raise ValueError("without input_ids, generation starts from bos_token_id, which is not set")
        input_ids = torch.full((1, 1), config.bos_token_id, dtype=torch.long)
    input_ids = _check_prompt(input_ids).to(device)
    batch, length = input_ids.shape
    pad_idx = model_config.pad_token_id
    eos = config.eos_ids()
    fill = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else None)
    if attention_mask is None:
        if fill is not None and fill not in eos and bool((input_ids == fill).any()):
            attention_mask = (input_ids != fill).long()
        else:
            attention_mask = torch.ones_like(input_ids)
    elif tuple(attention_mask.shape) != (batch, length):
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {(batch, length)}")
    attention_mask = attention_mask.to(device).long()
    if batch > 1 and bool((attention_mask[:, -1] == 0).any()):
        logger.warning("the prompts are padded on the right: new tokens would follow the padding. "
                       "Pad on the left (tokenizer(..., padding_side='left')) for batched generation")

    new = config.max_new_tokens
    if new is None:
        new = max((config.max_length or DEFAULT_MAX_LENGTH) - length, 0)
    _check_length(model_config, input_ids, new)
    if config.num_return_sequences > 1:
        input_ids = input_ids.repeat_interleave(config.num_return_sequences, dim=0)
        attention_mask = attention_mask.repeat_interleave(config.num_return_sequences, dim=0)
        batch = input_ids.shape[0]
    if config.do_sample and generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)

    ids, mask = input_ids, attention_mask
    counted = (ids != pad_idx).sum(dim=1)  # tokens that have a position of their own, per row
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    eos_tensor = torch.tensor(eos, device=device) if eos else None
    step_inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    for _ in range(new):
        scores, cache = _next_logits(model, **step_inputs, use_cache=config.use_cache)
        token = sample_next(scores, config, generator)
        if eos_tensor is not None:
            token = torch.where(unfinished, token, torch.full_like(token, fill))
        ids = torch.cat([ids, token[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
        real = token != pad_idx
        counted = counted + real
        position = torch.where(real, counted + pad_idx, torch.full_like(counted, pad_idx))
        if eos_tensor is not None:
            unfinished = unfinished & ~torch.isin(token, eos_tensor)
            if not bool(unfinished.any()):
                break
        if config.use_cache:
            step_inputs = {"input_ids": token[:, None], "attention_mask": mask, "position_ids": position[:, None],
                           "past_key_values": cache}
        else:  # recompute everything; the model derives the same positions from the ids
            step_inputs = {"input_ids": ids, "attention_mask": mask}
    return ids


def _check_length(model_config: Any, input_ids: torch.Tensor, new: int) -> None:
    """Prompt + new tokens must fit the position table (absolute) or ``max_position_embeddings`` (relative)."""
    limit = model_config.max_input_length
    if model_config.position_embedding_type == "absolute":
        longest = int((input_ids != model_config.pad_token_id).sum(dim=1).max())
    else:
        longest = input_ids.shape[1]
    if longest + new > limit:
        raise ValueError(f"a prompt of {longest} tokens plus {new} new tokens is longer than the model's "
                         f"{limit} positions: shorten the prompt or ask for fewer new tokens")


class GenerationMixin:
    """Adds :func:`generate` to a causal LM class as ``model.generate(...)``."""

    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 **kwargs: Any) -> torch.Tensor:
        return generate(self, input_ids, attention_mask, **kwargs)

    def can_generate(self) -> bool:
        return True


GenerationMixin.generate.__doc__ = generate.__doc__
