"""Pretraining (efficient-MLM recipe) and fine-tuning of RoBERTa-PreLayerNorm models.

``pretrain(PretrainConfig(...))`` and ``finetune(FinetuneConfig(...))`` are the entry points; the
``rpln pretrain`` and ``rpln finetune`` commands call them. Names are imported lazily.
"""

from __future__ import annotations

from ..core.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
