"""The Flax family on current JAX: ``modeling`` (linen modules and the seven model classes),
``pretrained`` (their base class: parameters, calling, loading and saving), ``checkpoint``
(``flax_model.msgpack`` and PyTorch files as parameter trees), ``outputs`` (output classes that are
pytrees) and ``generation`` (greedy and sampling, jit-compiled over the key/value cache).
Imported only when a Flax class is used."""

from ..core.lazy import lazy_exports

_EXPORTS = {f"FlaxRobertaPreLayerNorm{head}": "modeling" for head in (
    "PreTrainedModel", "Model", "ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
    "ForTokenClassification", "ForQuestionAnswering")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
