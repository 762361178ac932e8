"""The generation settings (``GenerationConfig``), shared by every framework's ``generate``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from .files import read_json_object

GENERATION_CONFIG_NAME = "generation_config.json"
DEFAULT_MAX_LENGTH = 20  # total length when neither max_new_tokens nor max_length is set, as the reference


@dataclass
class GenerationConfig:
    """How ``generate`` picks tokens and when it stops.

    Args:
        max_new_tokens: Tokens to add to each prompt (takes precedence over ``max_length``).
        max_length: Total length, prompt included, when ``max_new_tokens`` is not set (default 20).
        do_sample: Sample from the distribution instead of taking the most likely token.
        temperature: Divide the logits by this before sampling (> 0).
        top_k: Sample among the ``top_k`` most likely tokens only (0 or None: no limit).
        top_p: Sample among the most likely tokens whose probabilities add up to ``top_p`` (1: no limit).
        num_return_sequences: Sequences per prompt.
        bos_token_id: The token a generation without prompt starts from.
        eos_token_id: Token(s) that end a sequence; None never stops early.
        pad_token_id: Token appended to sequences that have ended while others go on.
        use_cache: Reuse the keys/values of earlier tokens (the result is the same, only faster).
    """

    max_new_tokens: int | None = None
    max_length: int | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    num_return_sequences: int = 1
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    use_cache: bool = True

    @classmethod
    def from_model_config(cls, config: Any) -> GenerationConfig:
        """Special token ids from a model config; everything else at its default."""
        return cls(bos_token_id=getattr(config, "bos_token_id", None),
                   eos_token_id=getattr(config, "eos_token_id", None),
                   pad_token_id=getattr(config, "pad_token_id", None))

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: GenerationConfig | None = None) -> GenerationConfig:
        """Known keys of ``values`` on top of ``base`` (others, such as ``transformers_version``, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        return dataclasses.replace(base, **known) if base is not None else cls(**known)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, model_config: Any = None) -> GenerationConfig:
        """``generation_config.json`` of a model folder on top of the model config's token ids.

        A folder without the file gives :meth:`from_model_config`.

        Raises:
            OSError: If the file exists but is not a JSON object.
        """
        base = cls.from_model_config(model_config) if model_config is not None else cls()
        path = os.path.join(os.fspath(folder), GENERATION_CONFIG_NAME)
        if not os.path.isfile(path):
            return base
        return cls.from_dict(read_json_object(path, "generation config"), base)

    def updated(self, **overrides: Any) -> GenerationConfig:
        """A copy with ``overrides``; an unknown name raises ``TypeError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown generation argument(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **overrides)

    def eos_ids(self) -> list[int]:
        eos = self.eos_token_id
        return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first setting out of range."""
        for name in ("max_new_tokens", "max_length"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not isinstance(self.num_return_sequences, int) or self.num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be a positive integer, got {self.num_return_sequences!r}")
        if self.num_return_sequences > 1 and not self.do_sample:
            raise ValueError("num_return_sequences > 1 gives copies of the same greedy sequence: set do_sample=True")
        if self.do_sample:
            if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
                raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature!r} "
                                 "(use do_sample=False for greedy decoding)")
            if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
                raise ValueError(f"top_k must be a non-negative integer (0: no limit), got {self.top_k!r}")
            if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
                raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")


def resolve_config(model: Any, generation_config: GenerationConfig | None, overrides: dict[str, Any]
                   ) -> GenerationConfig:
    """``generation_config`` (or the model's ``generation_config`` attribute, or its config's ids) + overrides,
    validated: what every framework's ``generate`` starts from."""
    base = generation_config or getattr(model, "generation_config", None)
    if base is None:
        base = GenerationConfig.from_model_config(model.config)
    config = base.updated(**overrides)
    config.validate()
    return config


def check_length(model_config: Any, longest: int, length: int, new: int) -> None:
    """A prompt plus new tokens must fit the position table (absolute: ``longest`` real tokens) or
    ``max_position_embeddings`` (relative: the padded ``length``).

    Raises:
        ValueError: Naming both lengths and the model's limit.
    """
    if model_config.position_embedding_type == "absolute":
        limit = model_config.max_position_embeddings - model_config.pad_token_id - 1
    else:
        limit, longest = model_config.max_position_embeddings, length
    if longest + new > limit:
        raise ValueError(f"a prompt of {longest} tokens plus {new} new tokens is longer than the model's "
                         f"{limit} positions: shorten the prompt or ask for fewer new tokens")
