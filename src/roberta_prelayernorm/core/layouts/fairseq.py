"""fairseq RoBERTa checkpoints (``model.pt``) ↔ Hugging Face names: the plain layout and DinkyTrain's.

``FAIRSEQ`` is the layout fairseq itself writes (``fairseq-train --arch roberta_*``); ``DEEPSPEED`` the
one of princeton-nlp's DinkyTrain with DeepSpeed's fused transformer kernel, whose layers keep q, k and
v as one tensor (``attn_qkvw``, concatenated on dim 0) and name the two LayerNorms the other way round
(``norm_*`` is the one before attention, ``attn_n*`` the one before the feed-forward block). Both share
the embeddings, the final LayerNorm and the LM head. fairseq has no token-type table (the converter
adds the one zero row of ``type_vocab_size=1``); the LM head's output weight is the token embedding.

``IGNORED`` are the keys that are not weights of the model: the state version, and the eight copies
per layer that fairseq 0.12 keeps (zero-filled) for its fast inference path.
"""

from __future__ import annotations

from . import Rule

E = "encoder.sentence_encoder"
B = "roberta_prelayernorm"
L = B + ".encoder.layer.{i}"  # a Hugging Face layer
F = E + ".layers.{i}"  # a fairseq layer

_EMBEDDINGS = [
    Rule(f"{B}.embeddings.word_embeddings.weight", f"{E}.embed_tokens.weight"),
    Rule(f"{B}.embeddings.position_embeddings.weight", f"{E}.embed_positions.weight"),
    Rule(f"{B}.embeddings.LayerNorm.weight", f"{E}.layernorm_embedding.weight"),
    Rule(f"{B}.embeddings.LayerNorm.bias", f"{E}.layernorm_embedding.bias"),
]

_FINAL_AND_HEAD = [
    Rule(f"{B}.LayerNorm.weight", f"{E}.layer_norm.weight"),
    Rule(f"{B}.LayerNorm.bias", f"{E}.layer_norm.bias"),
    Rule("lm_head.dense.weight", "encoder.lm_head.dense.weight"),
    Rule("lm_head.dense.bias", "encoder.lm_head.dense.bias"),
    Rule("lm_head.layer_norm.weight", "encoder.lm_head.layer_norm.weight"),
    Rule("lm_head.layer_norm.bias", "encoder.lm_head.layer_norm.bias"),
    Rule("lm_head.decoder.weight", "encoder.lm_head.weight"),  # the token embedding, unless untied
    Rule("lm_head.bias", "encoder.lm_head.bias"),
]

FAIRSEQ: list[Rule] = [
    *_EMBEDDINGS,
    Rule(f"{L}.attention.self.query.weight", f"{F}.self_attn.q_proj.weight"),
    Rule(f"{L}.attention.self.query.bias", f"{F}.self_attn.q_proj.bias"),
    Rule(f"{L}.attention.self.key.weight", f"{F}.self_attn.k_proj.weight"),
    Rule(f"{L}.attention.self.key.bias", f"{F}.self_attn.k_proj.bias"),
    Rule(f"{L}.attention.self.value.weight", f"{F}.self_attn.v_proj.weight"),
    Rule(f"{L}.attention.self.value.bias", f"{F}.self_attn.v_proj.bias"),
    Rule(f"{L}.attention.output.dense.weight", f"{F}.self_attn.out_proj.weight"),
    Rule(f"{L}.attention.output.dense.bias", f"{F}.self_attn.out_proj.bias"),
    Rule(f"{L}.attention.LayerNorm.weight", f"{F}.self_attn_layer_norm.weight"),
    Rule(f"{L}.attention.LayerNorm.bias", f"{F}.self_attn_layer_norm.bias"),
    Rule(f"{L}.intermediate.LayerNorm.weight", f"{F}.final_layer_norm.weight"),
    Rule(f"{L}.intermediate.LayerNorm.bias", f"{F}.final_layer_norm.bias"),
    Rule(f"{L}.intermediate.dense.weight", f"{F}.fc1.weight"),
    Rule(f"{L}.intermediate.dense.bias", f"{F}.fc1.bias"),
    Rule(f"{L}.output.dense.weight", f"{F}.fc2.weight"),
    Rule(f"{L}.output.dense.bias", f"{F}.fc2.bias"),
    *_FINAL_AND_HEAD,
]

QKV = ("query", "key", "value")

DEEPSPEED: list[Rule] = [
    *_EMBEDDINGS,
    Rule(f"{L}.attention.self.{{part}}.weight", f"{F}.attn_qkvw", "split", parts=QKV),
    Rule(f"{L}.attention.self.{{part}}.bias", f"{F}.attn_qkvb", "split", parts=QKV),
    Rule(f"{L}.attention.output.dense.weight", f"{F}.attn_ow"),
    Rule(f"{L}.attention.output.dense.bias", f"{F}.attn_ob"),
    Rule(f"{L}.attention.LayerNorm.weight", f"{F}.norm_w"),
    Rule(f"{L}.attention.LayerNorm.bias", f"{F}.norm_b"),
    Rule(f"{L}.intermediate.LayerNorm.weight", f"{F}.attn_nw"),
    Rule(f"{L}.intermediate.LayerNorm.bias", f"{F}.attn_nb"),
    Rule(f"{L}.intermediate.dense.weight", f"{F}.inter_w"),
    Rule(f"{L}.intermediate.dense.bias", f"{F}.inter_b"),
    Rule(f"{L}.output.dense.weight", f"{F}.output_w"),
    Rule(f"{L}.output.dense.bias", f"{F}.output_b"),
    *_FINAL_AND_HEAD,
]

IGNORED: tuple[str, ...] = (
    f"{E}.version",
    *(f"{F}.{name}" for name in ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias",
                                 "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")),
)

# fine-tuned checkpoints may carry classification heads; the converter writes the masked LM without them
CLASSIFICATION_HEADS = "encoder.classification_heads.{name}"
