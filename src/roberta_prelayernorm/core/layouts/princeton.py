"""princeton-nlp's original efficient-MLM checkpoints (``princeton-nlp/efficient_mlm_m0.*``) ↔ ours.

They are Hugging Face folders written by the authors' own pre-LN RoBERTa classes: ``model_type``
"roberta", the base prefix ``roberta.`` instead of ``roberta_prelayernorm.``, and per layer a
LayerNorm ``attention.self.LayerNorm`` that their code creates but never applies (``IGNORED``: the
converter drops it and says so). Every other name is already ours.
"""

from __future__ import annotations

from . import Rule

PRINCETON: list[Rule] = [
    Rule("roberta_prelayernorm.{name}", "roberta.{name}"),
    Rule("{name}", "{name}"),  # the heads (lm_head, classifier, ...), and a bare model's keys
]

IGNORED: tuple[str, ...] = (
    "roberta.encoder.layer.{i}.attention.self.LayerNorm.weight",
    "roberta.encoder.layer.{i}.attention.self.LayerNorm.bias",
    "encoder.layer.{i}.attention.self.LayerNorm.weight",
    "encoder.layer.{i}.attention.self.LayerNorm.bias",
    "roberta.embeddings.position_ids",
    "embeddings.position_ids",
)
