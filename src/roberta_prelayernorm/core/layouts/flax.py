"""The Flax layout (``flax_model.msgpack`` of transformers 4.37.2) ↔ PyTorch (Hugging Face) names.

A Flax parameter is a path in a nested dict, written here with ``/``: ``roberta_prelayernorm/encoder/
layer/0/attention/self/query/kernel``. Module names are the PyTorch ones, so only the leaf changes:
dense ``weight`` → ``kernel`` (transposed: Flax computes ``x @ kernel``), LayerNorm ``weight`` →
``scale``, embedding ``weight`` → ``embedding``. A ``{m}`` placeholder is the module path; it is
written with ``.`` on the PyTorch side and ``/`` on the Flax side (:func:`to_flax`, :func:`to_pt`).

Not in the table, because they are not parameters of their own: the tied ``lm_head.decoder.weight``
(the word embeddings; a Flax file has no decoder kernel when tied) and ``lm_head.decoder.bias`` (an
alias of ``lm_head.bias``); see ``core.weights.tied_aliases``.
"""

from __future__ import annotations

from . import Rule, to_foreign
from . import to_pt as _to_pt

# first match wins: the named LayerNorms and embeddings before the catch-all dense rules
FLAX: tuple[Rule, ...] = (
    Rule("{m}.LayerNorm.weight", "{m}/LayerNorm/scale"),
    Rule("{m}.LayerNorm.bias", "{m}/LayerNorm/bias"),
    Rule("LayerNorm.weight", "LayerNorm/scale"),  # the final LayerNorm of a bare model
    Rule("LayerNorm.bias", "LayerNorm/bias"),
    Rule("lm_head.layer_norm.weight", "lm_head/layer_norm/scale"),
    Rule("lm_head.layer_norm.bias", "lm_head/layer_norm/bias"),
    Rule("{m}_embeddings.weight", "{m}_embeddings/embedding"),  # word_, position_, token_type_
    Rule("{m}.distance_embedding.weight", "{m}/distance_embedding/embedding"),  # relative positions
    Rule("lm_head.bias", "lm_head/bias"),
    Rule("{m}.weight", "{m}/kernel", "transpose"),  # every other weight is a dense layer
    Rule("{m}.bias", "{m}/bias"),
)


def to_flax(key: str) -> tuple[str, str]:
    """``("…/query/kernel", "transpose")`` for ``"….query.weight"``.

    Raises:
        KeyError: If no rule matches.
    """
    name, transform = to_foreign(FLAX, key)
    return name.replace(".", "/"), transform


def to_pt(path: str) -> tuple[str, str]:
    """The PyTorch key of a ``/``-joined Flax path, and the transform to undo.

    Raises:
        KeyError: If no rule matches.
    """
    key, transform = _to_pt(FLAX, path)
    return key.replace("/", "."), transform
