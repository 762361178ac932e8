"""``text-generation``: continue prompts with the causal LM (its framework's ``generate``).

Prompts are tokenized without special tokens (as the reference pipeline) and generated in batches of
prompts of similar length, padded on the left. Sampling with a ``seed`` is reproducible for the same
inputs and batch size.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..core.generation import DEFAULT_MAX_LENGTH, GenerationConfig
from .base import Encoded, Pipeline, as_batch

GENERATION_PARAMETERS = ("max_new_tokens", "max_length", "do_sample", "temperature", "top_k", "top_p",
                         "num_return_sequences", "eos_token_id", "pad_token_id", "use_cache", "num_beams",
                         "length_penalty", "early_stopping", "repetition_penalty", "no_repeat_ngram_size",
                         "bad_words_ids", "min_new_tokens")
DEFAULT_MAX_NEW_TOKENS = 20


class TextGenerationPipeline(Pipeline):
    """Continues each prompt.

    Call parameters:
        max_new_tokens (default 20 unless the model's ``generation_config.json`` sets a length),
        do_sample, temperature, top_k, top_p, num_return_sequences, num_beams, length_penalty,
        early_stopping, repetition_penalty, no_repeat_ngram_size, bad_words_ids, min_new_tokens, seed,
        eos_token_id: as :func:`roberta_prelayernorm.torch.generation.generate`.
        return_full_text: Prompt + continuation (default) or only the continuation.
        return_tensors: ``{"generated_token_ids": [...]}`` (prompt and new ids) instead of text.
        skip_special_tokens, clean_up_tokenization_spaces: For decoding the continuation.

    Returns:
        Per prompt a list of ``num_return_sequences`` dicts ``{"generated_text": ...}``; one prompt
        gives its list alone.
    """

    task = "text-generation"
    parameters = {**{name: None for name in GENERATION_PARAMETERS}, "seed": None, "return_full_text": True,
                  "return_tensors": False, "skip_special_tokens": True, "clean_up_tokenization_spaces": None}

    def check_model(self, model: Any) -> None:
        super().check_model(model)
        if not model.config.is_decoder:
            raise ValueError("text-generation needs a decoder, but the model's config has is_decoder=False "
                             "(load it with is_decoder=True, or use a causal LM checkpoint)")

    @property
    def generation_config(self) -> GenerationConfig:
        config = getattr(self.model, "generation_config", None)
        if config is None:
            folder = getattr(self, "model_path", None)
            if folder and os.path.isdir(folder):
                config = GenerationConfig.from_pretrained(folder, self.model.config)
            else:
                config = GenerationConfig.from_model_config(self.model.config)
            self.model.generation_config = config
        if config.max_new_tokens is None and config.max_length is None:
            config = config.updated(max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
        return config

    def __call__(self, inputs: str | list[str], *, progress: Callable[[int], None] | None = None,
                 **parameters: Any) -> Any:
        params = self.call_parameters(parameters, self.defaults)
        overrides = {k: params[k] for k in GENERATION_PARAMETERS if params[k] is not None}
        if "max_length" in overrides and "max_new_tokens" not in overrides:
            overrides["max_new_tokens"] = None
        config = self.generation_config.updated(**overrides)
        config.validate()
        prompts, single = as_batch(inputs)
        bos = config.bos_token_id if config.bos_token_id is not None else self.tokenizer.bos_token_id
        rows = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError(f"input {i} must be a str, got {type(prompt).__name__}")
            ids = self.tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
            rows.append(Encoded(self.fit(ids, config, i) or [bos], i))  # an empty prompt starts from <s>
        rng = self.runner.rng(params["seed"])  # one random stream for the whole call
        sequences: list[list[list[int]]] = [[] for _ in prompts]
        for chunk, batch in self.batches(rows, progress, side="left"):
            budgets = [self.new_tokens(row.ids, config) for row in chunk]  # max_length counts each prompt
            out = self.runner.generate(batch, config.updated(max_new_tokens=max(budgets)), rng)
            width = batch["input_ids"].shape[1]
            n = config.num_return_sequences
            for r, (row, budget) in enumerate(zip(chunk, budgets)):
                for j in range(n):
                    new = self.until_end(out[r * n + j, width:width + budget].tolist(), config)
                    sequences[row.index].append((row.ids, new))
        results = [[self.record(prompts[i], prompt_ids, new, params) for prompt_ids, new in seqs]
                   for i, seqs in enumerate(sequences)]
        return results[0] if single else results

    # -------------------------------------------------------------------------------------- helpers
    @staticmethod
    def new_tokens(ids: list[int], config: GenerationConfig) -> int:
        if config.max_new_tokens is not None:
            return config.max_new_tokens
        return max((config.max_length or DEFAULT_MAX_LENGTH) - len(ids), 0)

    def fit(self, ids: list[int], config: GenerationConfig, index: int) -> list[int]:
        """The prompt, cut from the left (with one warning) so that it leaves room for the new tokens."""
        new = self.new_tokens(ids, config)
        room = self.max_tokens - new
        if room < 1:
            raise ValueError(f"max_new_tokens={new} leaves no room for a prompt: the model takes "
                             f"{self.max_tokens} tokens")
        if len(ids) > room:
            self.warn_once("truncated", f"prompt {index} ({len(ids)} tokens) plus {new} new tokens is longer than "
                                        f"the model's {self.max_tokens} tokens: only its last {room} tokens are used")
            ids = ids[-room:]
        return ids

    @staticmethod
    def until_end(new: list[int], config: GenerationConfig) -> list[int]:
        """The new tokens up to and including the first end-of-sequence token (padding after it dropped)."""
        eos = set(config.eos_ids())
        for i, token in enumerate(new):
            if token in eos:
                return new[:i + 1]
        return new

    def record(self, prompt: str, prompt_ids: list[int], new: list[int], params: dict[str, Any]) -> dict[str, Any]:
        if params["return_tensors"]:
            return {"generated_token_ids": prompt_ids + new}
        text = self.tokenizer.decode(new, skip_special_tokens=params["skip_special_tokens"],
                                     clean_up_tokenization_spaces=params["clean_up_tokenization_spaces"])
        return {"generated_text": prompt + text if params["return_full_text"] else text}
