"""The generation settings (``GenerationConfig``), shared by every framework's ``generate``.

Names, defaults and meanings are those of the reference's ``GenerationConfig`` (transformers 4.37.2), so
a ``generation_config.json`` reads the same in both; each framework's search loop reads them from here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any

from .files import atomic_write_text, read_json_object
from .hub import HubOptions, resolve_file

GENERATION_CONFIG_NAME = "generation_config.json"
DEFAULT_MAX_LENGTH = 20  # total length when neither max_new_tokens nor max_length is set, as the reference
EARLY_STOPPING = (True, False, "never")


@dataclass
class GenerationConfig:
    """How ``generate`` picks tokens and when it stops.

    Length:
        max_new_tokens: Tokens to add to each prompt (takes precedence over ``max_length``); at least 1.
        max_length: Total length, prompt included, when ``max_new_tokens`` is not set (default 20).
        min_length: The end-of-sequence token is forbidden while a sequence (prompt included) is shorter.
        min_new_tokens: The end-of-sequence token is forbidden for this many new tokens.

    Search:
        do_sample: Sample from the distribution instead of taking the most likely token(s).
        num_beams: Beams per prompt; 1 is greedy decoding or sampling, more is beam search (or beam
            sampling with ``do_sample``).
        length_penalty: Beam search ranks a finished sequence by its log-probability divided by
            ``new tokens ** length_penalty``.
        early_stopping: Beam search stops a prompt when ``num_beams`` sequences have ended (True), when
            no running beam can beat them any more (False, the default), or only at the length limit ("never").
        num_return_sequences: Sequences per prompt (at most ``num_beams`` without sampling).

    Token scores (applied in this order, as the reference does):
        repetition_penalty: Scores of tokens already in the sequence are divided by it (multiplied when
            negative); 1 means none.
        no_repeat_ngram_size: No n-gram of this size appears twice in a sequence (0: off).
        bad_words_ids: Token sequences that are never generated (the last token of each is forbidden
            after its prefix); sequences made of one end-of-sequence token are ignored.
        min_length, min_new_tokens: as above.
        forced_bos_token_id: The token forced as the first of a sequence (after an empty prompt).
        forced_eos_token_id: The token(s) forced when the sequence reaches ``max_length - 1``.
        remove_invalid_values: Replace NaN scores by 0 and +inf by the largest float.
        temperature, top_k, top_p: Sampling only: divide the scores by ``temperature`` (> 0), keep the
            ``top_k`` most likely tokens (0 or None: all), keep the most likely tokens whose probabilities
            reach ``top_p`` (in (0, 1]; 1: all).
        renormalize_logits: Log-softmax the scores after every other step.

    Output:
        return_dict_in_generate: Return an output object (sequences, scores, ...) instead of the ids.
        output_scores: Also return each step's processed scores (and, for beams, the sequence scores and
            beam indices).
        output_attentions, output_hidden_states: Also return each step's attentions / hidden states.

    Tokens:
        bos_token_id: The token a generation without prompt starts from.
        eos_token_id: Token(s) that end a sequence; None never stops early.
        pad_token_id: Token appended to sequences that have ended while others go on.
        use_cache: Reuse the keys/values of earlier tokens (the result is the same, only faster).

    ``num_beam_groups`` > 1 (diverse beam search) and ``penalty_alpha`` (contrastive search) are read
    from files but refused by :meth:`validate`: no search loop implements them.
    """

    max_new_tokens: int | None = None
    max_length: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    do_sample: bool = False
    num_beams: int = 1
    num_beam_groups: int = 1
    penalty_alpha: float | None = None
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    bad_words_ids: list[list[int]] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    remove_invalid_values: bool = False
    renormalize_logits: bool = False
    num_return_sequences: int = 1
    output_scores: bool = False
    output_attentions: bool = False
    output_hidden_states: bool = False
    return_dict_in_generate: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    use_cache: bool = True
    _from_model_config: bool = False  # made from a model config (the reference writes this flag too)

    # ----------------------------------------------------------------------------------------- building
    @classmethod
    def from_model_config(cls, config: Any) -> GenerationConfig:
        """The generation settings a model config carries: its special token ids, ``use_cache``, and any
        legacy generation parameter set in it (``max_length``, ``num_beams`` ...); the rest at defaults."""
        values = config.to_dict() if hasattr(config, "to_dict") else dict(vars(config))
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            values.setdefault(name, getattr(config, name, None))
        return cls.from_dict({**values, "_from_model_config": True})

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: GenerationConfig | None = None) -> GenerationConfig:
        """Known keys of ``values`` on top of ``base`` (others, such as ``transformers_version``, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        return dataclasses.replace(base, **known) if base is not None else cls(**known)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, model_config: Any = None, *,
                        hub: HubOptions | None = None, **kwargs: Any) -> GenerationConfig:
        """``generation_config.json`` of a model folder or hub repo, on top of the model config's settings.

        Without the file: :meth:`from_model_config` (or the defaults without a model config). Hub options
        (``subfolder``, ``cache_dir``, ``revision`` ...) come as ``hub`` or as keyword arguments.

        Raises:
            OSError: If the file exists but is not a JSON object, or the folder or repo cannot be read.
        """
        hub = hub or HubOptions.pop_from(kwargs)
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        base = cls.from_model_config(model_config) if model_config is not None else cls()
        path = os.fspath(pretrained_model_name_or_path)
        found = path if os.path.isfile(path) else resolve_file(path, GENERATION_CONFIG_NAME, hub, required=False)
        if found is None:
            return base
        values = read_json_object(found, "generation config")
        return cls.from_dict({"_from_model_config": False, **values}, base)

    def updated(self, **overrides: Any) -> GenerationConfig:
        """A copy with ``overrides``; an unknown name raises ``TypeError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown generation argument(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **overrides)

    # ------------------------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_diff_dict(self) -> dict[str, Any]:
        """The settings that differ from the defaults (what ``generation_config.json`` holds)."""
        default = GenerationConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if v != default[k]}

    def to_json_string(self, use_diff: bool = True) -> str:
        return json.dumps(self.to_diff_dict() if use_diff else self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``generation_config.json`` (the non-default settings) into ``save_directory``, atomically."""
        self.validate()
        os.makedirs(save_directory, exist_ok=True)
        atomic_write_text(os.path.join(save_directory, GENERATION_CONFIG_NAME), self.to_json_string())

    # ------------------------------------------------------------------------------------------- checks
    def eos_ids(self) -> list[int]:
        eos = self.eos_token_id
        return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first setting out of range, or settings that contradict each other."""
        def integer(name: str, low: int, what: str) -> None:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f"{name} must be {what}, got {value!r}")

        integer("max_new_tokens", 1, "a positive integer (at least one new token)")
        integer("max_length", 0, "a non-negative integer")
        integer("min_length", 0, "a non-negative integer")
        integer("min_new_tokens", 0, "a non-negative integer")
        integer("num_beams", 1, "a positive integer (1: no beam search)")
        integer("num_return_sequences", 1, "a positive integer")
        integer("no_repeat_ngram_size", 0, "a non-negative integer (0: off)")
        integer("top_k", 0, "a non-negative integer (0: no limit)")
        if self.num_beam_groups != 1:
            raise ValueError(f"num_beam_groups={self.num_beam_groups}: diverse (group) beam search is not "
                             "implemented; use num_beam_groups=1")
        if self.penalty_alpha is not None and self.penalty_alpha > 0 and not self.do_sample and self.num_beams == 1:
            raise ValueError(f"penalty_alpha={self.penalty_alpha}: contrastive search is not implemented")
        if not self.do_sample and self.num_return_sequences > self.num_beams:
            raise ValueError(
                f"num_return_sequences={self.num_return_sequences} is larger than num_beams={self.num_beams}: "
                "without sampling a prompt has at most num_beams different sequences "
                "(raise num_beams, or set do_sample=True)")
        if self.early_stopping not in EARLY_STOPPING or not isinstance(self.early_stopping, (bool, str)):
            raise ValueError(f"early_stopping must be True, False or 'never', got {self.early_stopping!r}")
        for name in ("length_penalty", "repetition_penalty", "temperature", "top_p"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0 (1: none), got {self.repetition_penalty!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature!r} "
                             "(use do_sample=False for greedy decoding)")
        if self.bad_words_ids is not None and (
            not isinstance(self.bad_words_ids, list) or not self.bad_words_ids
            or not all(isinstance(word, list) and word and all(isinstance(t, int) and not isinstance(t, bool)
                                                                and t >= 0 for t in word)
                       for word in self.bad_words_ids)
        ):
            raise ValueError(f"bad_words_ids must be a non-empty list of non-empty lists of token ids, "
                             f"got {self.bad_words_ids!r}")


# settings that only the PyTorch search implements, with the value that leaves them off
SEARCH_ONLY = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None,
               "min_length": 0, "min_new_tokens": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
               "output_scores": False, "output_attentions": False, "output_hidden_states": False,
               "return_dict_in_generate": False}


def check_basic(config: GenerationConfig, family: str) -> None:
    """For a family whose ``generate`` is greedy and sampling only (TF, Flax): refuse what it would ignore.

    Raises:
        ValueError: Naming the first setting it does not implement.
    """
    for name, off in SEARCH_ONLY.items():
        if getattr(config, name) != off:
            raise ValueError(f"{name}={getattr(config, name)!r}: the {family} generate does greedy decoding and "
                             f"sampling only; use the PyTorch class for it")


def resolve_config(model: Any, generation_config: GenerationConfig | None, overrides: dict[str, Any]
                   ) -> GenerationConfig:
    """``generation_config`` (or the model's ``generation_config`` attribute, or its config's ids) + overrides,
    validated: what every framework's ``generate`` starts from.

    Raises:
        ValueError: For a model that is not a decoder, or settings out of range.
    """
    if not model.config.is_decoder:
        raise ValueError("generate needs a decoder: this model's config has is_decoder=False, so every token would "
                         f"attend to later ones. Load it with is_decoder=True ({type(model).__name__}"
                         ".from_pretrained(path, is_decoder=True))")
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
    limit = model_config.max_input_length
    if model_config.position_embedding_type != "absolute":
        longest = length
    if longest + new > limit:
        raise ValueError(f"a prompt of {longest} tokens plus {new} new tokens is longer than the model's "
                         f"{limit} positions: shorten the prompt or ask for fewer new tokens")

