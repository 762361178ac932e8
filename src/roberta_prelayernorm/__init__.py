"""RoBERTa-PreLayerNorm: pre-LN RoBERTa encoders, drop-in compatible with Hugging Face checkpoints.

The public names are imported lazily, so ``import roberta_prelayernorm`` stays cheap and optional
pieces (tokenizers, pipelines) load only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # configuration
    "RobertaPreLayerNormConfig": "configuration",
    "AutoConfig": "configuration",
    # PyTorch models
    "RobertaPreLayerNormPreTrainedModel": "modeling",
    "RobertaPreLayerNormModel": "modeling",
    "RobertaPreLayerNormForCausalLM": "modeling",
    "RobertaPreLayerNormForMaskedLM": "modeling",
    "RobertaPreLayerNormForSequenceClassification": "modeling",
    "RobertaPreLayerNormForMultipleChoice": "modeling",
    "RobertaPreLayerNormForTokenClassification": "modeling",
    "RobertaPreLayerNormForQuestionAnswering": "modeling",
    "AutoModel": "modeling",
    "AutoModelForCausalLM": "modeling",
    "AutoModelForMaskedLM": "modeling",
    "AutoModelForSequenceClassification": "modeling",
    "AutoModelForMultipleChoice": "modeling",
    "AutoModelForTokenClassification": "modeling",
    "AutoModelForQuestionAnswering": "modeling",
    # errors
    "CheckpointError": "checkpoint",
    # tokenizer
    "RobertaTokenizer": "tokenization",
    "RobertaTokenizerFast": "tokenization",
    "AutoTokenizer": "tokenization",
    "BatchEncoding": "tokenization",
    # pipelines and generation
    "pipeline": "pipelines",
    "GenerationConfig": "generation",
    "GenerationMixin": "generation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roberta_prelayernorm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
