"""The TF output classes: the core dataclasses, made nestable so that ``tf.function`` returns them.

Each is a thin subclass of its ``core.outputs`` dataclass (same fields, same attribute / key / index
access); ``__tf_flatten__`` and ``__tf_unflatten__`` let ``tf.nest`` (hence ``tf.function``) see their
tensors.
"""

from __future__ import annotations

from typing import Any

from ..core import outputs as core


class TFModelOutput:
    """``tf.nest`` support: the fields (None included) are the components."""

    def __tf_flatten__(self) -> tuple[Any, tuple]:
        return None, tuple(getattr(self, name) for name in self.__dataclass_fields__)  # type: ignore[attr-defined]

    @classmethod
    def __tf_unflatten__(cls, metadata: Any, components: tuple) -> Any:
        return cls(*components)


class TFBaseModelOutputWithPoolingAndCrossAttentions(TFModelOutput, core.BaseModelOutputWithPoolingAndCrossAttentions):
    pass


class TFCausalLMOutputWithCrossAttentions(TFModelOutput, core.CausalLMOutputWithCrossAttentions):
    pass


class TFMaskedLMOutput(TFModelOutput, core.MaskedLMOutput):
    pass


class TFSequenceClassifierOutput(TFModelOutput, core.SequenceClassifierOutput):
    pass


class TFMultipleChoiceModelOutput(TFModelOutput, core.MultipleChoiceModelOutput):
    pass


class TFTokenClassifierOutput(TFModelOutput, core.TokenClassifierOutput):
    pass


class TFQuestionAnsweringModelOutput(TFModelOutput, core.QuestionAnsweringModelOutput):
    pass
