"""Tiny configs and reference models with non-trivial random weights, shared by the tests.

(A module of its own rather than ``conftest.py``: ``tests/training`` has a ``conftest.py`` too, and
``from conftest import ...`` would find whichever of the two was imported first.)
"""

from __future__ import annotations

import torch

HEADS = [
    "RobertaPreLayerNormModel",
    "RobertaPreLayerNormForCausalLM",
    "RobertaPreLayerNormForMaskedLM",
    "RobertaPreLayerNormForSequenceClassification",
    "RobertaPreLayerNormForMultipleChoice",
    "RobertaPreLayerNormForTokenClassification",
    "RobertaPreLayerNormForQuestionAnswering",
]

TINY = dict(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-5, hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def tiny(**overrides: object) -> dict:
    return {**TINY, **overrides}


def perturb(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Add noise to every parameter (LayerNorms and biases too) so that misplaced pieces show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


def reference_model(name: str, seed: int = 0, **config: object) -> torch.nn.Module:
    """A ``transformers`` model (the oracle) with random weights, in eval mode."""
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, name)(transformers.RobertaPreLayerNormConfig(**tiny(**config)))
    return perturb(model, seed).eval()


def batch(batch_size: int = 3, length: int = 9, vocab: int = 99, seed: int = 0, pad: int = 1
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with <s>=0 ... </s>=2 and right padding of varying length."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (batch_size, length), generator=gen)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    ids[:, 0] = 0
    for i in range(batch_size):
        n = length - i * 2 if length - i * 2 > 2 else length
        ids[i, n - 1] = 2
        ids[i, n:] = pad
        mask[i, n:] = 0
    return ids, mask
