"""TF ``generate``: greedy decoding equals our PyTorch ``generate`` on the same weights (with and without the
cache, left padding, relative positions); sampling is reproducible and draws only what the filters keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tf_helpers import pair, tf

from roberta_prelayernorm.core.generation import GenerationConfig
from roberta_prelayernorm.torch import generation as pt_generation
from roberta_prelayernorm.tf.generation import filter_top_k, filter_top_p, generate

pytestmark = pytest.mark.tf
PAD = 1


def prompts(lengths: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random prompts (no special tokens), left-padded to the longest."""
    rng = np.random.RandomState(seed)
    width = max(lengths)
    ids = np.full((len(lengths), width), PAD, np.int32)
    mask = np.zeros((len(lengths), width), np.int32)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = rng.randint(3, 99, n)
        mask[row, width - n:] = 1
    return ids, mask


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("tf_generate")
    made: dict[str, Any] = {}

    def get(kind: str = "absolute") -> tuple[torch.nn.Module, Any]:
        if kind not in made:
            made[kind] = pair(root / kind, "ForCausalLM", seed=2, position_embedding_type=kind)
        return made[kind]

    return get


@pytest.mark.parametrize("kind, use_cache", [("absolute", True), ("absolute", False), ("relative_key_query", True)])
def test_greedy_equals_pytorch_generate(decoders: Any, kind: str, use_cache: bool) -> None:
    pt, model = decoders(kind)
    ids, mask = prompts([6, 3, 1, 6])
    out = model.generate(ids, mask, max_new_tokens=12, eos_token_id=None, use_cache=use_cache)
    expected = pt_generation.generate(pt, torch.from_numpy(ids).long(), torch.from_numpy(mask).long(),
                                      max_new_tokens=12, eos_token_id=None)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.int32 and tuple(out.shape) == (4, 18)
    assert np.array_equal(out.numpy(), expected.numpy())


def test_eos_padding_and_defaults_as_pytorch(decoders: Any) -> None:
    pt, model = decoders()
    ids, mask = prompts([4, 4, 4], seed=3)
    free = model.generate(ids, mask, max_new_tokens=8, eos_token_id=None).numpy()
    eos = int(free[0, 6])
    out = model.generate(ids, mask, max_new_tokens=8, eos_token_id=eos, pad_token_id=PAD).numpy()
    expected = pt_generation.generate(pt, torch.from_numpy(ids).long(), torch.from_numpy(mask).long(),
                                      max_new_tokens=8, eos_token_id=eos, pad_token_id=PAD).numpy()
    assert np.array_equal(out, expected) and out.shape[1] < free.shape[1]
    assert tuple(model.generate(ids[:1, -3:], eos_token_id=None).shape) == (1, 20)  # max_length 20
    assert int(model.generate(None, max_new_tokens=2, eos_token_id=None)[0, 0]) == model.config.bos_token_id


def test_sampling_is_reproducible_and_keeps_to_the_filters(decoders: Any) -> None:
    _, model = decoders()
    ids, mask = prompts([5, 2], seed=1)
    kwargs = dict(max_new_tokens=6, do_sample=True, top_k=3, eos_token_id=None)
    a = model.generate(ids, mask, seed=123, **kwargs).numpy()
    assert np.array_equal(model.generate(ids, mask, seed=123, **kwargs).numpy(), a)
    assert not np.array_equal(model.generate(ids, mask, seed=124, **kwargs).numpy(), a)
    # every drawn token is among the 3 most likely at its step (recomputed without cache)
    for step in range(6):
        context = a[:, : 5 + step]
        logits = model(context, attention_mask=np.concatenate([mask, np.ones((2, step), np.int32)], 1)).logits
        top3 = tf.math.top_k(logits[:, -1], 3).indices.numpy()
        assert all(a[row, 5 + step] in top3[row] for row in range(2))
    many = model.generate(ids, mask, do_sample=True, num_return_sequences=3, max_new_tokens=2, seed=0)
    assert tuple(many.shape) == (6, 7) and np.array_equal(many.numpy()[:3, :5], np.repeat(ids[:1], 3, 0))


def test_filters_equal_pytorch_filters() -> None:
    scores = np.random.RandomState(0).randn(4, 50).astype(np.float32) * 3
    for k in (1, 5, 49, 50):
        assert np.array_equal(filter_top_k(tf.constant(scores), k).numpy(),
                              pt_generation.filter_top_k(torch.from_numpy(scores), k).numpy())
    for p in (0.05, 0.5, 0.9, 0.999):
        assert np.array_equal(filter_top_p(tf.constant(scores), p).numpy(),
                              pt_generation.filter_top_p(torch.from_numpy(scores), p).numpy())


def test_bad_arguments(decoders: Any, tmp_path: Path) -> None:
    _, model = decoders()
    ids, _ = prompts([3])
    _, encoder = pair(tmp_path, "ForCausalLM", is_decoder=False)
    with pytest.raises(ValueError, match="is_decoder=False"):
        encoder.generate(ids)
    with pytest.raises(ValueError, match="3 tokens plus 36 new tokens is longer than the model's 38 positions"):
        model.generate(ids, max_new_tokens=36)
    with pytest.raises(TypeError, match="unknown generation argument"):
        model.generate(ids, max_tokens=3)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(ids, do_sample=True, top_p=1.5)
    with pytest.raises(ValueError, match="empty"):
        model.generate(ids[:, :0])
    with pytest.raises(TypeError, match="integers"):
        model.generate(ids.astype(np.float32))
    assert generate(model, ids, generation_config=GenerationConfig(max_new_tokens=2)).shape[1] == 5
