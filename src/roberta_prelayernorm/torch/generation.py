"""Text generation with the causal LM: greedy decoding, sampling, beam search and beam sampling over the
key/value cache, with the reference's token-score processors.

``generate(model, input_ids, ...)`` works on any ``RobertaPreLayerNormForCausalLM`` whose config has
``is_decoder=True``; :class:`GenerationMixin` adds it as ``model.generate(...)``. The settings are a
:class:`~roberta_prelayernorm.core.generation.GenerationConfig` (the framework-neutral one); this
module is the PyTorch search loop. Token for token it follows transformers 4.37.2's ``generate`` on the
same weights, with one deliberate difference:

Positions follow the model's own rule for a whole sequence (``position_ids_from_input_ids``): padding
keeps ``pad_token_id`` and every other token counts up from ``pad_token_id + 1``. Each cached step is
given that position explicitly, so the ids generated with the cache equal those from recomputing the
whole sequence at every step, left-padded rows included. (transformers 4.37.2 derives the new token's
position from the cache length, which counts the left pads: there its left-padded rows drift.)

Each step's scores go through, in the reference's order: repetition penalty, no-repeat n-grams, bad
words, minimum length, minimum new tokens, forced first / last tokens, removal of NaN and infinities;
then, when sampling, temperature, top-k and top-p (nucleus) filtering; then, if asked, a log-softmax.
Greedy decoding takes the argmax; sampling draws with ``torch.multinomial`` (``seed`` or ``generator``
make a call reproducible). Beam search scores log-probabilities (processed) plus each beam's running
score and keeps ``num_beams`` beams per prompt; finished sequences are ranked by their score divided by
``new tokens ** length_penalty``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..core.generation import DEFAULT_MAX_LENGTH, GenerationConfig, check_length, resolve_config
from ..core.outputs import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput

__all__ = ["GenerationConfig", "GenerationMixin", "generate", "sample_next", "filter_top_k", "filter_top_p",
           "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput"]

logger = logging.getLogger("roberta_prelayernorm")
Tensor = torch.Tensor
Processor = Callable[[Tensor, Tensor], Tensor]  # (ids (rows, length), scores (rows, vocab)) → scores
NEG_INF = float("-inf")


# ------------------------------------------------------------------------------------- token choice
def filter_top_k(scores: Tensor, top_k: int, min_tokens_to_keep: int = 1) -> Tensor:
    """Set every score below the ``top_k``-th largest of its row to -inf (ties at the boundary stay)."""
    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, NEG_INF)


def filter_top_p(scores: Tensor, top_p: float, min_tokens_to_keep: int = 1) -> Tensor:
    """Keep the smallest set of most likely tokens whose probabilities reach ``top_p``; -inf elsewhere.

    Tokens are sorted from least to most likely; those whose cumulative probability stays at or below
    ``1 - top_p`` are dropped. The ``min_tokens_to_keep`` most likely tokens always stay.
    """
    ascending, order = torch.sort(scores, dim=-1)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= 1 - top_p
    drop_sorted[..., -min_tokens_to_keep:] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def warpers(config: GenerationConfig) -> list[Processor]:
    """The sampling filters: temperature, top-k, top-p (then a log-softmax with ``renormalize_logits``).

    Beam sampling keeps at least one token more than there are end-of-sequence tokens (2 for one), as
    the reference does, so that a beam can always go on.
    """
    keep = 1
    if config.num_beams > 1:
        keep = len(config.eos_token_id) + 1 if isinstance(config.eos_token_id, list) else 2
    steps: list[Processor] = []
    if config.temperature is not None and config.temperature != 1.0:
        steps.append(lambda ids, s: s / config.temperature)
    if config.top_k:
        steps.append(lambda ids, s: filter_top_k(s, config.top_k, keep))
    if config.top_p is not None and config.top_p < 1.0:
        steps.append(lambda ids, s: filter_top_p(s, config.top_p, keep))
    if config.renormalize_logits:
        steps.append(lambda ids, s: s.log_softmax(dim=-1))
    return steps


def sample_next(scores: Tensor, config: GenerationConfig, generator: torch.Generator | None = None) -> Tensor:
    """The next token of each row from (batch, vocab) float32 logits: argmax, or a draw after the filters."""
    if not config.do_sample:
        return scores.argmax(dim=-1)
    scores = apply(warpers(config), None, scores)
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def apply(steps: list[Processor], ids: Tensor | None, scores: Tensor) -> Tensor:
    for step in steps:
        scores = step(ids, scores)
    return scores


# ------------------------------------------------------------------------------- score processors
def repetition_penalty(penalty: float) -> Processor:
    """Tokens already in the row: positive scores divided by ``penalty``, negative ones multiplied."""
    def step(ids: Tensor, scores: Tensor) -> Tensor:
        seen = scores.gather(1, ids)
        return scores.scatter(1, ids, torch.where(seen < 0, seen * penalty, seen / penalty))
    return step


def no_repeat_ngram(n: int) -> Processor:
    """Forbid the tokens that would complete an n-gram that the row already holds."""
    def step(ids: Tensor, scores: Tensor) -> Tensor:
        length = ids.shape[1]
        if length + 1 < n:
            return scores
        banned = torch.zeros_like(scores, dtype=torch.bool)
        for row, tokens in enumerate(ids.tolist()):
            prefix = tuple(tokens[length + 1 - n:])  # the last n - 1 tokens
            for start in range(length - n + 1):
                if tuple(tokens[start:start + n - 1]) == prefix:
                    banned[row, tokens[start + n - 1]] = True
        return scores.masked_fill(banned, NEG_INF)
    return step


def bad_words(words: list[list[int]], eos: list[int], vocab_size: int) -> Processor:
    """Forbid each word's last token where the row ends with the rest of the word (always, for one token).

    Raises:
        ValueError: For token ids outside the vocabulary, or when nothing is left once the words that are
            a single end-of-sequence token are dropped.
    """
    words = [w for w in words if not (len(w) == 1 and w[0] in eos)]
    if not words:
        raise ValueError("bad_words_ids holds only end-of-sequence tokens, which are never forbidden")
    outside = sorted({t for w in words for t in w if t >= vocab_size})
    if outside:
        raise ValueError(f"bad_words_ids holds token ids {outside}, outside the vocabulary of {vocab_size}")
    always = [w[0] for w in words if len(w) == 1]

    def step(ids: Tensor, scores: Tensor) -> Tensor:
        banned = torch.zeros_like(scores, dtype=torch.bool)
        banned[:, always] = True
        for word in words:
            if 1 < len(word) <= ids.shape[1]:
                prefix = torch.tensor(word[:-1], dtype=ids.dtype, device=ids.device)
                banned[:, word[-1]] |= (ids[:, -len(prefix):] == prefix).all(dim=1)
        return scores.masked_fill(banned, NEG_INF)
    return step


def forbid_eos_below(length: int, eos: list[int], skip: int = 0) -> Processor:
    """No end-of-sequence token while the row (less ``skip`` prompt tokens) is shorter than ``length``."""
    def step(ids: Tensor, scores: Tensor) -> Tensor:
        if ids.shape[1] - skip < length:
            scores = scores.clone()
            scores[:, eos] = NEG_INF
        return scores
    return step


def force_at(position: int, tokens: list[int]) -> Processor:
    """At ``position`` (the row's length), only ``tokens`` are possible (score 0, the rest -inf)."""
    def step(ids: Tensor, scores: Tensor) -> Tensor:
        if ids.shape[1] != position:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, tokens] = 0
        return forced
    return step


def remove_invalid(ids: Tensor, scores: Tensor) -> Tensor:
    """NaN → 0, ±inf → the largest / smallest finite float."""
    info = torch.finfo(scores.dtype)
    return torch.nan_to_num(scores, nan=0.0, posinf=info.max, neginf=info.min)


def processors(config: GenerationConfig, prompt_length: int, max_length: int, vocab_size: int) -> list[Processor]:
    """The score processors of ``config``, in the reference's order."""
    eos = config.eos_ids()
    steps: list[Processor] = []
    if config.repetition_penalty != 1.0:
        steps.append(repetition_penalty(config.repetition_penalty))
    if config.no_repeat_ngram_size:
        steps.append(no_repeat_ngram(config.no_repeat_ngram_size))
    if config.bad_words_ids is not None:
        steps.append(bad_words(config.bad_words_ids, eos, vocab_size))
    if eos and config.min_length:
        steps.append(forbid_eos_below(config.min_length, eos))
    if eos and config.min_new_tokens:
        steps.append(forbid_eos_below(config.min_new_tokens, eos, skip=prompt_length))
    if config.forced_bos_token_id is not None:
        steps.append(force_at(1, [config.forced_bos_token_id]))
    if config.forced_eos_token_id is not None:
        forced = config.forced_eos_token_id
        steps.append(force_at(max_length - 1, [forced] if isinstance(forced, int) else list(forced)))
    if config.remove_invalid_values:
        steps.append(remove_invalid)
    if config.renormalize_logits:
        steps.append(lambda ids, s: s.log_softmax(dim=-1))
    return steps


# --------------------------------------------------------------------------------------- the model
@dataclass
class Decoder:
    """The model and what a step needs: the ids so far, their mask, positions and the cache.

    ``counted`` is the number of tokens of each row that have a position of their own (not padding);
    the next token's position is ``counted + pad`` (``pad`` if it is the padding token itself).
    """

    model: Any
    ids: Tensor  # (rows, length): the sequences returned
    mask: Tensor  # (rows, prompt + generated)
    counted: Tensor
    use_cache: bool
    output_attentions: bool
    output_hidden_states: bool
    embeds: Tensor | None = None  # the prompt as embeddings (first step only)
    cache: Any = None
    attentions: list = field(default_factory=list)
    hidden_states: list = field(default_factory=list)

    def logits(self) -> Tensor:
        """(rows, vocab) float32 logits of the next token; the LM head runs at the last position only."""
        pad = self.model.config.pad_token_id
        inputs: dict[str, Any] = {"attention_mask": self.mask}
        if self.embeds is not None:
            inputs["inputs_embeds"] = self.embeds
            shape = self.embeds.shape[:2]
        elif self.cache is not None:
            token = self.ids[:, -1:]
            inputs.update(input_ids=token, past_key_values=self.cache,
                          position_ids=torch.where(token != pad, self.counted[:, None] + pad, pad))
            shape = token.shape
        else:  # the whole sequence: the model derives the same positions from the ids
            inputs["input_ids"] = self.ids
            shape = self.ids.shape
        last = torch.zeros(shape, dtype=torch.bool, device=self.mask.device)
        last[:, -1] = True
        out = self.model(**inputs, use_cache=self.use_cache, output_attentions=self.output_attentions,
                         output_hidden_states=self.output_hidden_states, logits_at=last, return_dict=True)
        self.embeds = None
        self.cache = out.past_key_values if self.use_cache else None
        if self.output_attentions:
            self.attentions.append(out.attentions)
        if self.output_hidden_states:
            self.hidden_states.append(out.hidden_states)
        return out.logits.float()

    def append(self, tokens: Tensor) -> None:
        self.ids = torch.cat([self.ids, tokens[:, None]], dim=1)
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], 1)], dim=1)
        self.counted = self.counted + (tokens != self.model.config.pad_token_id)

    def reorder(self, rows: Tensor) -> None:
        """Continue from these rows (beam search): ids, positions and cache follow. The mask stays, as in
        the reference: a prompt's beams share it (the rows of a finished prompt are continued from row 0)."""
        self.ids, self.counted = self.ids[rows], self.counted[rows]
        if self.cache is not None:
            self.cache = tuple(tuple(t.index_select(0, rows) for t in layer) for layer in self.cache)


# ------------------------------------------------------------------------------------------ generate
@torch.no_grad()
def generate(
    model: Any,
    input_ids: Tensor | None = None,
    attention_mask: Tensor | None = None,
    *,
    generation_config: GenerationConfig | None = None,
    inputs_embeds: Tensor | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> Tensor | GenerateDecoderOnlyOutput | GenerateBeamDecoderOnlyOutput:
    """Continue each prompt of a batch: greedy decoding, sampling, beam search or beam sampling.

    Args:
        model: A causal LM whose config has ``is_decoder=True``.
        input_ids: (batch, length) prompt ids; a batch of prompts of different lengths must be padded
            on the left. None starts one sequence from ``bos_token_id`` (or uses ``inputs_embeds``).
        attention_mask: (batch, length) 1 for tokens, 0 for padding. Default: padding is where
            ``input_ids`` equals ``pad_token_id`` (unless that is also the end-of-sequence token).
        generation_config: Settings; default: ``model.generation_config`` if set, else the model
            config's special token ids with the defaults of :class:`GenerationConfig`.
        inputs_embeds: (batch, length, hidden) the prompt as embeddings instead of ids; the returned
            sequences then hold the new tokens only (as the reference), and ``max_length`` /
            ``min_length`` count the embedded prompt.
        seed: Seed of a private random generator, for reproducible sampling.
        generator: A ``torch.Generator`` to sample with (instead of ``seed``).
        **kwargs: Any field of :class:`GenerationConfig` (``max_new_tokens=10``, ``num_beams=4``, ...).

    Returns:
        (batch · num_return_sequences, length + new) token ids: each prompt followed by its new tokens;
        a sequence that ended (end-of-sequence token) before the others is filled with ``pad_token_id``.
        With ``return_dict_in_generate``: a :class:`GenerateDecoderOnlyOutput` (greedy, sampling) or
        :class:`GenerateBeamDecoderOnlyOutput` (beams) with the scores, attentions and hidden states asked for.

    Raises:
        ValueError: For a model that is not a decoder, a prompt plus new tokens longer than the model
            allows, or settings out of range or contradicting each other. ``TypeError`` for unknown arguments.
    """
    model_config = model.config
    config = resolve_config(model, generation_config, kwargs)
    device = model.device
    eos = config.eos_ids()
    fill = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else None)

    embeds_length = 0
    if inputs_embeds is not None:
        if not isinstance(inputs_embeds, Tensor) or inputs_embeds.dim() != 3:
            raise ValueError("inputs_embeds must be a (batch, length, hidden_size) tensor")
        inputs_embeds = inputs_embeds.to(device)
        batch, embeds_length = inputs_embeds.shape[:2]
        if input_ids is not None:
            raise ValueError("give the prompt as input_ids or as inputs_embeds, not both")
        input_ids = torch.zeros(batch, 0, dtype=torch.long, device=device)
        if attention_mask is None:
            attention_mask = torch.ones(batch, embeds_length, dtype=torch.long, device=device)
        prompt_shape = (batch, embeds_length)
    else:
        if input_ids is None:
            if config.bos_token_id is None:
                raise ValueError("without input_ids, generation starts from bos_token_id, which is not set")
            input_ids = torch.full((1, 1), config.bos_token_id, dtype=torch.long)
        input_ids = _check_prompt(input_ids).to(device)
        prompt_shape = tuple(input_ids.shape)
        if attention_mask is None:
            if fill is not None and fill not in eos and bool((input_ids == fill).any()):
                attention_mask = (input_ids != fill).long()
            else:
                attention_mask = torch.ones_like(input_ids)
    if not isinstance(attention_mask, Tensor) or tuple(attention_mask.shape) != tuple(prompt_shape):
        got = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else type(attention_mask).__name__
        raise ValueError(f"attention_mask has shape {got}, the prompt {tuple(prompt_shape)}")
    attention_mask = attention_mask.to(device).long()
    batch, length = input_ids.shape
    if batch > 1 and bool((attention_mask[:, -1] == 0).any()):
        logger.warning("the prompts are padded on the right: new tokens would follow the padding. "
                       "Pad on the left (tokenizer(..., padding_side='left')) for batched generation")

    # lengths count the returned sequence (input_ids); an embedded prompt counts towards max/min_length
    if config.max_new_tokens is not None:
        max_length = length + config.max_new_tokens
    else:
        max_length = (config.max_length if config.max_length is not None else DEFAULT_MAX_LENGTH) - embeds_length
        if max_length <= length:
            warnings.warn(f"the prompt has {length + embeds_length} tokens, but max_length is {max_length} + "
                          f"{embeds_length}: one token is generated (set max_new_tokens)", UserWarning, stacklevel=2)
    config = config.updated(min_length=max(config.min_length - embeds_length, 0))
    pad_idx = model_config.pad_token_id
    counted = (input_ids != pad_idx).sum(dim=1) if inputs_embeds is None else attention_mask.new_full(
        (batch,), embeds_length)
    check_length(model_config, int(counted.max()), length + embeds_length, max(max_length - length, 1))

    steps = processors(config, length, max_length, model_config.vocab_size)
    if config.do_sample and generator is None and seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    expand = config.num_beams if config.num_beams > 1 else config.num_return_sequences
    rows = lambda x: x.repeat_interleave(expand, dim=0) if x is not None and expand > 1 else x  # noqa: E731
    decoder = Decoder(model, rows(input_ids), rows(attention_mask), rows(counted), config.use_cache or
                      inputs_embeds is not None, config.output_attentions, config.output_hidden_states,
                      rows(inputs_embeds))
    if config.num_beams > 1:
        return _beam_search(decoder, config, steps, batch, length, max_length, eos, fill, generator)
    return _greedy_or_sample(decoder, config, steps, max_length, eos, fill, generator)


def _greedy_or_sample(decoder: Decoder, config: GenerationConfig, steps: list[Processor], max_length: int,
                      eos: list[int], fill: int | None, generator: torch.Generator | None) -> Any:
    sampling = warpers(config) if config.do_sample else []
    record = config.return_dict_in_generate and config.output_scores
    scores_per_step = []
    unfinished = torch.ones(decoder.ids.shape[0], dtype=torch.bool, device=decoder.ids.device)
    eos_tensor = torch.tensor(eos, device=decoder.ids.device) if eos else None
    while True:
        scores = apply(sampling, decoder.ids, apply(steps, decoder.ids, decoder.logits()))
        if record:
            scores_per_step.append(scores)
        if config.do_sample:
            token = torch.multinomial(scores.softmax(dim=-1), num_samples=1, generator=generator).squeeze(1)
        else:
            token = scores.argmax(dim=-1)
        if eos_tensor is not None:
            token = torch.where(unfinished, token, torch.full_like(token, fill))
        decoder.append(token)
        if eos_tensor is not None:
            unfinished = unfinished & ~torch.isin(token, eos_tensor)
            if not bool(unfinished.any()):
                break
        if decoder.ids.shape[1] >= max_length:
            break
    if not config.return_dict_in_generate:
        return decoder.ids
    return GenerateDecoderOnlyOutput(
        sequences=decoder.ids, scores=tuple(scores_per_step) if record else None,
        attentions=tuple(decoder.attentions) if config.output_attentions else None,
        hidden_states=tuple(decoder.hidden_states) if config.output_hidden_states else None,
        past_key_values=decoder.cache,
    )


# ------------------------------------------------------------------------------------- beam search
@dataclass
class Finished:
    """The best finished sequences of one prompt (at most ``size``), each with its length-normalised score."""

    size: int
    length_penalty: float
    early_stopping: bool | str
    max_length: int
    beams: list[tuple[float, Tensor, tuple[int, ...] | None]] = field(default_factory=list)
    worst: float = 1e9

    def add(self, tokens: Tensor, log_prob: float, beam_indices: tuple[int, ...] | None, new_tokens: int) -> None:
        score = log_prob / new_tokens ** self.length_penalty
        if len(self.beams) < self.size or score > self.worst:
            self.beams.append((score, tokens, beam_indices))
            if len(self.beams) > self.size:
                ranked = sorted((s, i) for i, (s, _, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def done(self, best_log_prob: float, new_tokens: int, room: int) -> bool:
        """Whether no running beam can enter the list any more (``room``: new tokens up to max_length)."""
        if len(self.beams) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping == "never" and self.length_penalty > 0:
            new_tokens = room  # the best a beam can do is to run to the end
        return self.worst >= best_log_prob / new_tokens ** self.length_penalty


def _beam_search(decoder: Decoder, config: GenerationConfig, steps: list[Processor], batch: int,
                 prompt_length: int, max_length: int, eos: list[int], fill: int | None,
                 generator: torch.Generator | None) -> Any:
    """Beam search (or beam sampling with ``do_sample``) over ``num_beams`` beams per prompt."""
    beams, device = config.num_beams, decoder.ids.device
    sampling = warpers(config) if config.do_sample else []
    record = config.return_dict_in_generate and config.output_scores
    finished = [Finished(beams, config.length_penalty, config.early_stopping, max_length) for _ in range(batch)]
    done = [False] * batch
    running = torch.zeros(batch, beams, device=device)
    if not config.do_sample:
        running[:, 1:] = -1e9  # the beams start equal: only the first one is expanded at first
    running = running.view(-1)
    paths: list[tuple[int, ...]] | None = [() for _ in range(batch * beams)] if record else None
    scores_per_step = []
    if config.early_stopping == "never" and config.length_penalty > 0 and max_length <= prompt_length:
        raise ValueError("max_length is not larger than the prompt: beam search with early_stopping='never' "
                         "needs room for new tokens")
    while True:
        log_probs = decoder.logits().log_softmax(dim=-1)  # (batch · beams, vocab)
        processed = apply(sampling, decoder.ids, apply(steps, decoder.ids, log_probs))
        if record:
            scores_per_step.append(processed)
        vocab = processed.shape[-1]
        totals = (processed + running[:, None]).view(batch, beams * vocab)
        if config.do_sample:
            picked = torch.multinomial(totals.softmax(dim=-1), num_samples=2 * beams, generator=generator)
            candidate_scores, order = torch.sort(totals.gather(-1, picked), descending=True, dim=1)
            candidates = picked.gather(-1, order)
        else:
            candidate_scores, candidates = torch.topk(totals, max(2, 1 + len(eos)) * beams, dim=1)
        length = decoder.ids.shape[1] + 1  # with the token chosen now
        next_scores = torch.zeros(batch, beams, device=device)
        next_tokens = torch.zeros(batch, beams, dtype=torch.long, device=device)
        next_rows = torch.zeros(batch, beams, dtype=torch.long, device=device)
        candidate_list, score_list = candidates.tolist(), candidate_scores.tolist()
        for b in range(batch):
            if done[b]:  # as the reference: padding, continued from row 0
                next_tokens[b] = fill
                continue
            slot = 0
            for rank, (flat, score) in enumerate(zip(candidate_list[b], score_list[b])):
                row, token = b * beams + flat // vocab, flat % vocab
                if token in eos:
                    if rank >= beams:  # an end below the best num_beams candidates does not count
                        continue
                    finished[b].add(decoder.ids[row].clone(), score, paths[row] + (row,) if paths else None,
                                    length - prompt_length)
                else:
                    next_scores[b, slot], next_tokens[b, slot], next_rows[b, slot] = score, token, row
                    slot += 1
                if slot == beams:
                    break
            done[b] = done[b] or finished[b].done(max(score_list[b]), length - prompt_length,
                                                  max_length - prompt_length)
        running, rows = next_scores.view(-1), next_rows.view(-1)
        decoder.reorder(rows)
        decoder.append(next_tokens.view(-1))
        if paths is not None:
            paths = [paths[r] + (r,) for r in rows.tolist()]
        if all(done) or decoder.ids.shape[1] >= max_length:
            break

    # the running beams of unfinished prompts join the finished ones; the best are returned
    for b in range(batch):
        if not done[b]:
            for k in range(beams):
                row = b * beams + k
                finished[b].add(decoder.ids[row], float(running[row]), paths[row] if paths else None,
                                decoder.ids.shape[1] - prompt_length)
    keep = config.num_return_sequences
    best = []
    for b in range(batch):
        ranked = sorted(finished[b].beams, key=lambda beam: beam[0])
        best += [ranked.pop() for _ in range(keep)]
    lengths = [len(tokens) for _, tokens, _ in best]
    width = min(max(lengths) + 1, max_length)
    sequences = torch.full((len(best), width), fill if fill is not None else 0, dtype=torch.long, device=device)
    indices = torch.full((len(best), width), -1, dtype=torch.long, device=device) if paths else None
    for i, (_, tokens, path) in enumerate(best):
        sequences[i, :lengths[i]] = tokens
        if lengths[i] < width:
            sequences[i, lengths[i]] = eos[0]
        if indices is not None:
            indices[i, :len(path)] = torch.tensor(path, dtype=torch.long)
    if not config.return_dict_in_generate:
        return sequences
    return GenerateBeamDecoderOnlyOutput(
        sequences=sequences,
        sequences_scores=torch.tensor([s for s, _, _ in best], dtype=torch.float32, device=device) if record else None,
        scores=tuple(scores_per_step) if record else None, beam_indices=indices,
        attentions=tuple(decoder.attentions) if config.output_attentions else None,
        hidden_states=tuple(decoder.hidden_states) if config.output_hidden_states else None,
        past_key_values=decoder.cache,
    )


# -------------------------------------------------------------------------------------------- checks
def _check_prompt(input_ids: Any) -> Tensor:
    if not isinstance(input_ids, Tensor):
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


class GenerationMixin:
    """Adds :func:`generate` to a causal LM class as ``model.generate(...)``."""

    def generate(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                 **kwargs: Any) -> Any:
        return generate(self, input_ids, attention_mask, **kwargs)

    @classmethod
    def can_generate(cls) -> bool:
        return True


GenerationMixin.generate.__doc__ = generate.__doc__
