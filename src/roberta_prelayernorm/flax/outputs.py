"""The Flax output classes: the core dataclasses, registered as pytrees so that ``jax.jit``,
``jax.vmap`` and ``jax.grad`` can return them. Field names and order are the core's (and the
reference's); the ``loss`` field of the core classes stays None (the Flax models take no labels)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import jax

from ..core.outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

Array = Any


def _pytree(cls: type) -> type:
    """Register a dataclass whose every field is data (arrays, tuples of arrays, dicts, or None)."""
    names = [f.name for f in fields(cls)]
    jax.tree_util.register_dataclass(cls, data_fields=names, meta_fields=[])
    return cls


@_pytree
@dataclass
class FlaxBaseModelOutputWithPoolingAndCrossAttentions(BaseModelOutputWithPoolingAndCrossAttentions):
    pass


FlaxBaseModelOutputWithPooling = FlaxBaseModelOutputWithPoolingAndCrossAttentions  # the name the docs print


@_pytree
@dataclass
class FlaxCausalLMOutputWithCrossAttentions(CausalLMOutputWithCrossAttentions):
    pass


@_pytree
@dataclass
class FlaxMaskedLMOutput(MaskedLMOutput):
    pass


@_pytree
@dataclass
class FlaxSequenceClassifierOutput(SequenceClassifierOutput):
    pass


@_pytree
@dataclass
class FlaxMultipleChoiceModelOutput(MultipleChoiceModelOutput):
    pass


@_pytree
@dataclass
class FlaxTokenClassifierOutput(TokenClassifierOutput):
    pass


@_pytree
@dataclass
class FlaxQuestionAnsweringModelOutput(QuestionAnsweringModelOutput):
    pass


@_pytree
@dataclass
class FlaxGenerateOutput(ModelOutput):
    """What ``generate`` returns: ``sequences`` (batch, max_length), the prompt then the new tokens."""

    sequences: Array | None = None
