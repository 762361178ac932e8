"""Output dataclasses, shared by every framework: their fields hold torch tensors, tf tensors or jax
arrays alike. Fields and their order follow the reference, so ``out[0]`` and tuples agree."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator

Tensor = Any  # an array of whichever framework made the output
Cache = tuple[tuple[Tensor, ...], ...]


@dataclass
class ModelOutput:
    """A dataclass that also behaves like a read-only ordered mapping of its non-None fields.

    ``out.logits``, ``out["logits"]``, ``out[0]``, ``out.keys()``, ``dict(out)`` and ``out.to_tuple()``
    all work; fields that are None are left out of the mapping and the tuple, as in the reference.
    """

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None)
        return default if value is None else value

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()


@dataclass
class BaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    past_key_values: Cache | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


# ------------------------------------------------------------------------------------------ generate
@dataclass
class GenerateDecoderOnlyOutput(ModelOutput):
    """``generate(..., return_dict_in_generate=True)`` of greedy decoding and sampling: the sequences, and
    per step the processed scores (batch, vocab), attentions and hidden states (each a tuple over layers)."""

    sequences: Tensor | None = None
    scores: tuple[Tensor, ...] | None = None
    attentions: tuple[tuple[Tensor, ...], ...] | None = None
    hidden_states: tuple[tuple[Tensor, ...], ...] | None = None
    past_key_values: Cache | None = None


@dataclass
class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """The same for beam search, with each returned sequence's score and, per step, the beam it came from
    (``beam_indices``, -1 after its end); ``sequences_scores`` and ``beam_indices`` need ``output_scores``."""

    sequences: Tensor | None = None
    sequences_scores: Tensor | None = None
    scores: tuple[Tensor, ...] | None = None
    beam_indices: Tensor | None = None
    attentions: tuple[tuple[Tensor, ...], ...] | None = None
    hidden_states: tuple[tuple[Tensor, ...], ...] | None = None
    past_key_values: Cache | None = None
