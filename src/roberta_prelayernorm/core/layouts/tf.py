"""PyTorch (Hugging Face) ↔ TensorFlow weight names: the ``tf_model.h5`` of transformers 4.37.2's TF classes.

TF names are variable paths without the model's own first component (``tf_roberta_pre_layer_norm_for_masked_lm``)
and without the ``:0`` suffix. Both sides are written without the ``roberta_prelayernorm`` base prefix
(``.`` in PyTorch, ``/`` in TF), which the loader adds or strips as the model needs (``BASE``: keys of the
base model, ``HEADS``: keys of the heads). ``layer.{i}`` is ``layer_._{i}``; LayerNorms have ``gamma``/``beta``,
embedding tables ``embeddings`` (the word embeddings ``weight``); 2-D dense kernels are the transpose of
PyTorch's ``weight``. ``{block}`` is ``attention`` or ``crossattention``; ``{proj}`` is ``query``, ``key`` or
``value``. Rules are tried in order: the first that matches wins.
"""

from __future__ import annotations

from . import Rule

LAYER = "encoder.layer.{i}"
TF_LAYER = "encoder/layer_._{i}"

BASE: tuple[Rule, ...] = (
    Rule("embeddings.word_embeddings.weight", "embeddings/word_embeddings/weight"),
    Rule("embeddings.position_embeddings.weight", "embeddings/position_embeddings/embeddings"),
    Rule("embeddings.token_type_embeddings.weight", "embeddings/token_type_embeddings/embeddings"),
    Rule("embeddings.LayerNorm.weight", "embeddings/LayerNorm/gamma"),
    Rule("embeddings.LayerNorm.bias", "embeddings/LayerNorm/beta"),
    Rule(f"{LAYER}.{{block}}.self.distance_embedding.weight",
         f"{TF_LAYER}/{{block}}/self/distance_embedding/embeddings"),
    Rule(f"{LAYER}.{{block}}.self.{{proj}}.weight", f"{TF_LAYER}/{{block}}/self/{{proj}}/kernel", "transpose"),
    Rule(f"{LAYER}.{{block}}.self.{{proj}}.bias", f"{TF_LAYER}/{{block}}/self/{{proj}}/bias"),
    Rule(f"{LAYER}.{{block}}.output.dense.weight", f"{TF_LAYER}/{{block}}/output/dense/kernel", "transpose"),
    Rule(f"{LAYER}.{{block}}.output.dense.bias", f"{TF_LAYER}/{{block}}/output/dense/bias"),
    Rule(f"{LAYER}.{{block}}.LayerNorm.weight", f"{TF_LAYER}/{{block}}/LayerNorm/gamma"),
    Rule(f"{LAYER}.{{block}}.LayerNorm.bias", f"{TF_LAYER}/{{block}}/LayerNorm/beta"),
    Rule(f"{LAYER}.intermediate.LayerNorm.weight", f"{TF_LAYER}/intermediate/LayerNorm/gamma"),
    Rule(f"{LAYER}.intermediate.LayerNorm.bias", f"{TF_LAYER}/intermediate/LayerNorm/beta"),
    Rule(f"{LAYER}.intermediate.dense.weight", f"{TF_LAYER}/intermediate/dense/kernel", "transpose"),
    Rule(f"{LAYER}.intermediate.dense.bias", f"{TF_LAYER}/intermediate/dense/bias"),
    Rule(f"{LAYER}.output.dense.weight", f"{TF_LAYER}/output/dense/kernel", "transpose"),
    Rule(f"{LAYER}.output.dense.bias", f"{TF_LAYER}/output/dense/bias"),
    Rule("LayerNorm.weight", "LayerNorm/gamma"),
    Rule("LayerNorm.bias", "LayerNorm/beta"),
    Rule("pooler.dense.weight", "pooler/dense/kernel", "transpose"),
    Rule("pooler.dense.bias", "pooler/dense/bias"),
)

HEADS: tuple[Rule, ...] = (
    Rule("lm_head.dense.weight", "lm_head/dense/kernel", "transpose"),
    Rule("lm_head.dense.bias", "lm_head/dense/bias"),
    Rule("lm_head.layer_norm.weight", "lm_head/layer_norm/gamma"),
    Rule("lm_head.layer_norm.bias", "lm_head/layer_norm/beta"),
    Rule("lm_head.bias", "lm_head/bias"),
    Rule("lm_head.decoder.bias", "lm_head/bias"),  # the alias of lm_head.bias (TF → PyTorch gives the rule above)
    Rule("lm_head.decoder.weight", "lm_head/decoder/weight"),  # untied heads only; tied, it is the word embeddings
    Rule("classifier.dense.weight", "classifier/dense/kernel", "transpose"),
    Rule("classifier.dense.bias", "classifier/dense/bias"),
    Rule("classifier.out_proj.weight", "classifier/out_proj/kernel", "transpose"),
    Rule("classifier.out_proj.bias", "classifier/out_proj/bias"),
    Rule("classifier.weight", "classifier/kernel", "transpose"),
    Rule("classifier.bias", "classifier/bias"),
    Rule("qa_outputs.weight", "qa_outputs/kernel", "transpose"),
    Rule("qa_outputs.bias", "qa_outputs/bias"),
)

TABLE: tuple[Rule, ...] = BASE + HEADS
