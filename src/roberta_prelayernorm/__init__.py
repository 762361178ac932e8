"""RoBERTa-PreLayerNorm: pre-LN RoBERTa encoders, drop-in compatible with Hugging Face checkpoints.

The public names are imported lazily: ``import roberta_prelayernorm`` imports no framework, and each
class loads its framework (torch, TensorFlow, JAX) when first used. The layout: ``core/`` (neutral:
config, outputs, files and hub, weight tables, tasks, generation settings), ``tokenizer/``,
``pipelines/`` (numpy pre- and post-processing, one adapter per framework), one package per framework
(``torch/``, ``flax/``), ``training/`` (PyTorch) and ``cli/``; docs/architecture.md draws it.
"""

from __future__ import annotations

from .core.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the framework-neutral core
    "RobertaPreLayerNormConfig": "core.config",
    "AutoConfig": "core.config",
    "GenerationConfig": "core.generation",
    "CheckpointError": "core.errors",
    "CheckpointShapeError": "core.errors",
    # tokenizer
    "RobertaTokenizer": "tokenizer",
    "RobertaTokenizerFast": "tokenizer",
    "AutoTokenizer": "tokenizer",
    "BatchEncoding": "tokenizer",
    # pipelines
    "pipeline": "pipelines",
    # PyTorch models
    "RobertaPreLayerNormPreTrainedModel": "torch.modeling",
    "RobertaPreLayerNormModel": "torch.modeling",
    "RobertaPreLayerNormForCausalLM": "torch.modeling",
    "RobertaPreLayerNormForMaskedLM": "torch.modeling",
    "RobertaPreLayerNormForSequenceClassification": "torch.modeling",
    "RobertaPreLayerNormForMultipleChoice": "torch.modeling",
    "RobertaPreLayerNormForTokenClassification": "torch.modeling",
    "RobertaPreLayerNormForQuestionAnswering": "torch.modeling",
    "AutoModel": "torch.modeling",
    "AutoModelForCausalLM": "torch.modeling",
    "AutoModelForMaskedLM": "torch.modeling",
    "AutoModelForSequenceClassification": "torch.modeling",
    "AutoModelForMultipleChoice": "torch.modeling",
    "AutoModelForTokenClassification": "torch.modeling",
    "AutoModelForQuestionAnswering": "torch.modeling",
    "GenerationMixin": "torch.generation",
    # TensorFlow models (Keras 3)
    "TFRobertaPreLayerNormPreTrainedModel": "tf.modeling",
    "TFRobertaPreLayerNormModel": "tf.modeling",
    "TFRobertaPreLayerNormForCausalLM": "tf.modeling",
    "TFRobertaPreLayerNormForMaskedLM": "tf.modeling",
    "TFRobertaPreLayerNormForSequenceClassification": "tf.modeling",
    "TFRobertaPreLayerNormForMultipleChoice": "tf.modeling",
    "TFRobertaPreLayerNormForTokenClassification": "tf.modeling",
    "TFRobertaPreLayerNormForQuestionAnswering": "tf.modeling",
    # Flax models
    "FlaxRobertaPreLayerNormPreTrainedModel": "flax.modeling",
    "FlaxRobertaPreLayerNormModel": "flax.modeling",
    "FlaxRobertaPreLayerNormForCausalLM": "flax.modeling",
    "FlaxRobertaPreLayerNormForMaskedLM": "flax.modeling",
    "FlaxRobertaPreLayerNormForSequenceClassification": "flax.modeling",
    "FlaxRobertaPreLayerNormForMultipleChoice": "flax.modeling",
    "FlaxRobertaPreLayerNormForTokenClassification": "flax.modeling",
    "FlaxRobertaPreLayerNormForQuestionAnswering": "flax.modeling",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
