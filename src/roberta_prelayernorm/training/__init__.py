"""Pretraining (efficient-MLM recipe) and fine-tuning of RoBERTa-PreLayerNorm models.

``pretrain(PretrainConfig(...))`` and ``finetune(FinetuneConfig(...))`` are the entry points; the
``rpln pretrain`` and ``rpln finetune`` commands call them. Names are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PretrainConfig": "pretraining",
    "PretrainResult": "pretraining",
    "pretrain": "pretraining",
    "FinetuneConfig": "finetuning",
    "FinetuneResult": "finetuning",
    "finetune": "finetuning",
    "TASKS": "finetuning",
    "CorpusError": "data",
    "Masker": "masking",
    "train_byte_level_bpe": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
