"""The TensorFlow family on Keras 3: ``modeling`` (the seven model classes), ``pretrained`` (their base
class: inputs, Keras training, loading and saving), ``checkpoint`` (``tf_model.h5`` and PyTorch weights as
arrays), ``generation`` and ``outputs``. Imported only when a TF class is used; needs TensorFlow >= 2.16
with Keras 3 (``pip install 'roberta-prelayernorm[tf]'``)."""

from ..core.lazy import lazy_exports

_EXPORTS = {f"TFRobertaPreLayerNorm{head}": "modeling" for head in (
    "PreTrainedModel", "Model", "ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
    "ForTokenClassification", "ForQuestionAnswering")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
