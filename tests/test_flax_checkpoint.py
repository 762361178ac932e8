"""Flax checkpoints, bad input and generation.

Loading: ``flax_model.msgpack`` in the reference's layout (single and sharded), PyTorch folders
(automatically, and with ``from_pt=True``), base weights into heads and back, the loading report;
saving is atomic and round-trips. Bad input raises the PyTorch family's exception types with messages
that name the problem. ``generate``: greedy equals our PyTorch ``generate`` on the same weights.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from flax_helpers import ATOL, max_diff, pair, torch_model
from model_helpers import batch, tiny

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import roberta_prelayernorm as rp  # noqa: E402
from roberta_prelayernorm import CheckpointError  # noqa: E402
from roberta_prelayernorm.core.errors import CheckpointShapeError  # noqa: E402
from roberta_prelayernorm.flax.checkpoint import flatten  # noqa: E402

pytestmark = pytest.mark.flax
MLM = "RobertaPreLayerNormForMaskedLM"
IDS, MASK = (x.numpy() for x in batch())


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Any, Path, Path]:
    """(PyTorch MLM, Flax MLM loaded from it, the PyTorch folder, the folder the Flax model saved)."""
    pt_folder = tmp_path_factory.mktemp("pt")
    pt, fx = pair(MLM, pt_folder)
    flax_folder = tmp_path_factory.mktemp("flax") / "model"
    fx.save_pretrained(flax_folder)
    return pt, fx, pt_folder, flax_folder


def assert_same_params(a: Any, b: Any) -> None:
    fa, fb = flatten(a), flatten(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        np.testing.assert_array_equal(np.asarray(fa[key]), np.asarray(fb[key]), err_msg=key)


# ------------------------------------------------------------------------------------------- loading
def test_save_writes_the_reference_layout_and_round_trips(saved: tuple) -> None:
    pt, fx, _, folder = saved
    assert sorted(os.listdir(folder)) == ["config.json", "flax_model.msgpack"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["RobertaPreLayerNormForMaskedLM"]  # the reference drops "Flax"
    assert not {"cache_dir", "revision", "token"} & set(config)  # hub options are not config keys
    from flax.serialization import msgpack_restore

    tree = msgpack_restore((folder / "flax_model.msgpack").read_bytes())
    keys = set(flatten(tree))
    assert "roberta_prelayernorm/encoder/layer/0/attention/self/query/kernel" in keys
    assert "roberta_prelayernorm/embeddings/LayerNorm/scale" in keys and "lm_head/bias" in keys
    assert not any("decoder" in k for k in keys)  # tied: no decoder kernel
    np.testing.assert_array_equal(tree["roberta_prelayernorm"]["encoder"]["layer"]["1"]["intermediate"]["dense"]["kernel"],
                                  pt.roberta_prelayernorm.encoder.layer[1].intermediate.dense.weight.detach().numpy().T)
    again, info = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    assert_same_params(again.params, fx.params)


def test_sharded_msgpack(saved: tuple, tmp_path: Path) -> None:
    _, fx, _, _ = saved
    fx.save_pretrained(tmp_path, max_shard_size="20KB")
    index = json.loads((tmp_path / "flax_model.msgpack.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and all(re.fullmatch(r"flax_model-\d{5}-of-\d{5}\.msgpack", s) for s in shards)
    assert "roberta_prelayernorm/embeddings/word_embeddings/embedding" in index["weight_map"]
    assert_same_params(rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path).params, fx.params)
    fx.save_pretrained(tmp_path)  # a single file again: the stale shards go
    assert sorted(os.listdir(tmp_path)) == ["config.json", "flax_model.msgpack"]


def test_pytorch_folders_load_automatically_and_with_from_pt(saved: tuple, tmp_path: Path) -> None:
    pt, fx, pt_folder, flax_folder = saved
    both = tmp_path / "both"
    both.mkdir()
    for name in ("config.json", "model.safetensors"):
        (both / name).write_bytes((pt_folder / name).read_bytes())
    fx.save_pretrained(both)
    # a Flax file of different weights beside the PyTorch ones: Flax first, unless from_pt
    other = rp.FlaxRobertaPreLayerNormForMaskedLM(fx.config, seed=3)
    other.save_pretrained(both)
    assert_same_params(rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(both).params, other.params)
    assert_same_params(rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(both, from_pt=True).params, fx.params)
    # a pytorch_model.bin (read through torch)
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "config.json").write_bytes((pt_folder / "config.json").read_bytes())
    torch.save(pt.state_dict(), binary / "pytorch_model.bin")
    assert_same_params(rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(binary).params, fx.params)


def test_flax_weights_load_into_pytorch_through_the_table(saved: tuple, tmp_path: Path) -> None:
    """The inverse direction of the table: a Flax save, turned into a PyTorch state dict, gives our PyTorch model."""
    from roberta_prelayernorm.flax.checkpoint import read_msgpack, to_pytorch

    pt, _, _, flax_folder = saved
    state = {k: torch.from_numpy(np.array(v)) for k, v in
             to_pytorch(read_msgpack([str(flax_folder / "flax_model.msgpack")])).items()}
    model = rp.RobertaPreLayerNormForMaskedLM(pt.config)
    info = model.load_checkpoint_state(state)
    assert not info.missing_keys and not info.unexpected_keys
    with torch.no_grad():
        torch.testing.assert_close(model(torch.from_numpy(IDS)).logits, pt(torch.from_numpy(IDS)).logits, atol=0, rtol=0)


def test_base_weights_into_heads_and_back(saved: tuple, tmp_path: Path) -> None:
    _, fx, _, flax_folder = saved
    base, info = rp.FlaxRobertaPreLayerNormModel.from_pretrained(flax_folder, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["pooler/dense/bias", "pooler/dense/kernel"]  # MLM files have no pooler
    assert {k.split("/")[0] for k in info["unexpected_keys"]} == {"lm_head"}
    assert_same_params(base.params["encoder"], fx.params["roberta_prelayernorm"]["encoder"])
    base.save_pretrained(tmp_path / "base")
    head, info = rp.FlaxRobertaPreLayerNormForTokenClassification.from_pretrained(
        tmp_path / "base", num_labels=5, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier/bias", "classifier/kernel"]
    assert head.params["classifier"]["kernel"].shape == (32, 5)
    assert_same_params(head.params["roberta_prelayernorm"], {k: v for k, v in base.params.items() if k != "pooler"})
    # _do_init=False: the model holds no parameters and from_pretrained returns them
    model, params = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(flax_folder, _do_init=False)
    with pytest.raises(ValueError, match="not initialised"):
        model.params
    np.testing.assert_array_equal(np.asarray(model(IDS, params=params).logits), np.asarray(fx(IDS).logits))


def test_untied_lm_head_and_mlm_checkpoint_without_pooler(tmp_path: Path) -> None:
    pt, fx = pair(MLM, tmp_path / "untied", tie_word_embeddings=False)
    assert "decoder" in fx.params["lm_head"]
    with torch.no_grad():
        assert max_diff(fx(IDS, MASK), pt(torch.from_numpy(IDS), torch.from_numpy(MASK)), MASK) <= ATOL
    fx.save_pretrained(tmp_path / "saved")
    again = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "saved")
    assert_same_params(again.params, fx.params)


# ------------------------------------------------------------------------------------ bad checkpoints
CATCHABLE = (ValueError, TypeError, OSError)


def raises_cleanly(call: Callable[[], Any], match: str, expected: type | tuple = CATCHABLE) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    assert re.search(match, str(error)), f"{match!r} not in {type(error).__name__}: {str(error)!r}"
    return error


def load(path: Path, **kwargs: Any) -> Callable[[], Any]:
    return lambda: rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(path, **kwargs)


@pytest.mark.parametrize("damage", ["truncated", "random", "not a tree", "empty"])
def test_corrupt_msgpack_is_a_checkpoint_error(saved: tuple, tmp_path: Path, damage: str) -> None:
    _, fx, _, _ = saved
    fx.save_pretrained(tmp_path)
    data = (tmp_path / "flax_model.msgpack").read_bytes()
    from flax.serialization import msgpack_serialize

    broken = {"truncated": data[: len(data) // 2], "random": os.urandom(4096),
              "not a tree": msgpack_serialize([1, 2, 3]), "empty": b""}[damage]
    (tmp_path / "flax_model.msgpack").write_bytes(broken)
    raises_cleanly(load(tmp_path), r"flax_model\.msgpack", CheckpointError)


def test_missing_shard_and_bad_index(saved: tuple, tmp_path: Path) -> None:
    _, fx, _, _ = saved
    fx.save_pretrained(tmp_path, max_shard_size="20KB")
    second = sorted(tmp_path.glob("flax_model-00002-of-*.msgpack"))[0]
    second.unlink()
    raises_cleanly(load(tmp_path), re.escape(second.name), CheckpointError)
    (tmp_path / "flax_model.msgpack.index.json").write_text("{")
    raises_cleanly(load(tmp_path), r"index", CheckpointError)


def test_no_weights_and_no_folder(saved: tuple, tmp_path: Path) -> None:
    _, _, pt_folder, _ = saved
    raises_cleanly(load(tmp_path / "nothing-here"), r"nothing-here.*(does not exist|not found)", CheckpointError)
    (tmp_path / "config.json").write_bytes((pt_folder / "config.json").read_bytes())
    raises_cleanly(load(tmp_path), r"no weights.*flax_model\.msgpack.*model\.safetensors", CheckpointError)


@pytest.mark.parametrize("override, key", [
    ({"vocab_size": 100}, r"word_embeddings"),
    ({"max_position_embeddings": 50}, r"position_embeddings"),
    ({"intermediate_size": 40}, r"intermediate/dense"),
])
def test_checkpoint_shapes_do_not_fit_config(saved: tuple, override: dict, key: str) -> None:
    _, _, _, flax_folder = saved
    error = raises_cleanly(load(flax_folder, **override), key, CheckpointShapeError)
    assert isinstance(error, OSError) and isinstance(error, ValueError)
    model, info = rp.FlaxRobertaPreLayerNormForMaskedLM.from_pretrained(
        flax_folder, ignore_mismatched_sizes=True, output_loading_info=True, **override)
    assert any(re.search(key, k) for k, _, _ in info["mismatched_keys"])
    assert model.params is not None


def test_param_tree_of_the_wrong_shape_names_the_first_mismatch(saved: tuple) -> None:
    _, fx, _, _ = saved
    params = jax.tree_util.tree_map(lambda x: x, fx.params)
    params["roberta_prelayernorm"]["encoder"]["layer"]["1"]["output"]["dense"]["kernel"] = jnp.zeros((37, 31))
    raises_cleanly(lambda: fx(IDS, params=params),
                   r"roberta_prelayernorm/encoder/layer/1/output/dense/kernel.*\(37, 31\).*\(37, 32\)", ValueError)
    del params["lm_head"]["bias"]
    raises_cleanly(lambda: fx(IDS, params=params), r"lack.*lm_head/bias", ValueError)
    with pytest.raises(ValueError, match="lm_head/bias"):
        fx.params = params
    # also under jit: shapes are known while tracing
    raises_cleanly(lambda: jax.jit(lambda p: fx(IDS, params=p).logits)(params), r"lm_head/bias", ValueError)


# ------------------------------------------------------------------------------------------ bad input
FORWARD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "token id negative": ({"input_ids": np.where(np.arange(9) == 3, -1, IDS)}, r"input_ids.*-1.*vocab_size"),
    "token id too large": ({"input_ids": np.where(np.arange(9) == 3, 99, IDS)}, r"input_ids.*99.*vocab_size"),
    "token type too large": ({"input_ids": IDS, "token_type_ids": np.full_like(IDS, 2)}, r"token_type.*type_vocab_size"),
    "token type negative": ({"input_ids": IDS, "token_type_ids": np.full_like(IDS, -1)}, r"token_type.*type_vocab_size"),
    "39 tokens": ({"input_ids": np.full((1, 39), 5)}, r"max_position_embeddings.*38 tokens"),
    "position id too large": ({"input_ids": IDS, "position_ids": np.full_like(IDS, 40)}, r"position.*max_position"),
    "2-D mask too short": ({"input_ids": IDS, "attention_mask": MASK[:, :5]}, r"attention_mask.*shape"),
    "2-D mask wrong batch": ({"input_ids": IDS, "attention_mask": MASK[:2]}, r"attention_mask.*shape"),
    "3-D mask wrong keys": ({"input_ids": IDS, "attention_mask": np.ones((3, 9, 8))}, r"attention_mask.*shape"),
    "1-D mask": ({"input_ids": IDS, "attention_mask": np.ones(9)}, r"attention_mask.*shape"),
    "mask not an array": ({"input_ids": IDS, "attention_mask": "ones"}, r"attention_mask.*array"),
    "float input_ids": ({"input_ids": IDS.astype(np.float32)}, r"input_ids.*integer"),
    "bool input_ids": ({"input_ids": IDS > 3}, r"input_ids.*integer"),
    "ragged list input_ids": ({"input_ids": [[0, 5, 2], [0, 2]]}, r"input_ids.*ragged"),
    "1-D input_ids": ({"input_ids": IDS[0]}, r"input_ids.*shape"),
    "empty sequence": ({"input_ids": np.zeros((1, 0), np.int32)}, r"input_ids.*empty"),
    "token_type_ids wrong shape": ({"input_ids": IDS, "token_type_ids": np.zeros((3, 4), np.int32)},
                                   r"token_type_ids.*shape"),
    "float position_ids": ({"input_ids": IDS, "position_ids": np.zeros((3, 9))}, r"position_ids.*integer"),
    "head_mask wrong heads": ({"input_ids": IDS, "head_mask": np.ones(3)}, r"head_mask.*shape"),
    "head_mask wrong layers": ({"input_ids": IDS, "head_mask": np.ones((3, 4))}, r"head_mask.*shape"),
    "encoder states without cross-attention": ({"input_ids": IDS, "encoder_hidden_states": np.ones((3, 5, 32))},
                                               r"cross-attention"),
    "cache on an encoder": ({"input_ids": IDS, "past_key_values": {}}, r"past_key_values.*decoder"),
}


@pytest.fixture(scope="module")
def model() -> Any:
    return rp.FlaxRobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny()))


@pytest.mark.parametrize("case", list(FORWARD_CASES))
def test_bad_forward_input(model: Any, case: str) -> None:
    kwargs, match = FORWARD_CASES[case]
    raises_cleanly(lambda: model(**kwargs), match)


def test_value_checks_need_concrete_arrays(model: Any) -> None:
    """Shape and dtype checks run under jit too; checks that read values run only outside it (documented)."""
    bad = np.where(np.arange(9) == 3, 99, IDS)
    raises_cleanly(lambda: jax.jit(lambda ids: model(ids).last_hidden_state)(IDS.astype(np.float32)),
                   r"input_ids.*integer", TypeError)
    out = jax.jit(lambda ids: model(ids).last_hidden_state)(bad)  # no error: the ids are tracers
    assert out.shape == (3, 9, 32)


def test_decoder_input_errors(tmp_path: Path) -> None:
    decoder = rp.FlaxRobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(
        **tiny(is_decoder=True, add_cross_attention=True)))
    raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=np.ones((3, 5, 31))), r"encoder_hidden_states.*shape")
    raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=np.ones((3, 5, 32)), encoder_attention_mask=np.ones((3, 4))),
                   r"encoder_attention_mask.*shape")
    cache = decoder.init_cache(3, 9)
    raises_cleanly(lambda: decoder(IDS[:, :4], attention_mask=MASK[:, :4], past_key_values=cache),
                   r"attention_mask.*whole cache")
    out = decoder(IDS[:, :8], attention_mask=MASK, past_key_values=cache)
    raises_cleanly(lambda: decoder(IDS[:, :2], attention_mask=MASK, past_key_values=out.past_key_values),
                   r"cache holds 9 positions: 8 are used")
    raises_cleanly(lambda: decoder(IDS, past_key_values={"not": "a cache"}), r"past_key_values.*init_cache")
    encoder = rp.FlaxRobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(**tiny()))
    raises_cleanly(lambda: encoder.init_cache(1, 4), r"init_cache.*decoder")


def test_bad_construction() -> None:
    raises_cleanly(lambda: rp.FlaxRobertaPreLayerNormModel(tiny()), r"RobertaPreLayerNormConfig", TypeError)
    raises_cleanly(lambda: rp.FlaxRobertaPreLayerNormModel(rp.RobertaPreLayerNormConfig(**tiny(add_cross_attention=True))),
                   r"is_decoder", ValueError)
    raises_cleanly(lambda: rp.FlaxRobertaPreLayerNormForQuestionAnswering(rp.RobertaPreLayerNormConfig(
        **tiny(num_labels=3))), r"num_labels=2", ValueError)
    mc = rp.FlaxRobertaPreLayerNormForMultipleChoice(rp.RobertaPreLayerNormConfig(**tiny()))
    raises_cleanly(lambda: mc(IDS), r"choices", ValueError)


# ----------------------------------------------------------------------------------------- generation
@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Any]:
    return pair("RobertaPreLayerNormForCausalLM", tmp_path_factory.mktemp("decoder"), is_decoder=True)


def test_greedy_generate_equals_pytorch(decoders: tuple) -> None:
    pt, fx = decoders
    prompts = np.array([[1, 1, 0, 17, 33], [0, 45, 12, 8, 71]])  # left-padded first row
    ours = np.asarray(fx.generate(prompts, max_new_tokens=12).sequences)
    ref = pt.generate(torch.from_numpy(prompts), max_new_tokens=12).numpy()
    assert ours.shape == (2, 17)
    np.testing.assert_array_equal(ours[:, :ref.shape[1]], ref)
    assert (ours[:, ref.shape[1]:] == 1).all()  # PyTorch stops once every row has ended; ours pads
    # an end-of-sequence token that is reached: the row is filled with padding after it, as in PyTorch
    eos = int(ours[0, 7])
    ours = np.asarray(fx.generate(prompts, max_new_tokens=12, eos_token_id=eos).sequences)
    ref = pt.generate(torch.from_numpy(prompts), max_new_tokens=12, eos_token_id=eos).numpy()
    np.testing.assert_array_equal(ours[:, :ref.shape[1]], ref)
    assert (ours[:, ref.shape[1]:] == 1).all()


def test_sampling_is_seeded_and_filters_as_pytorch(decoders: tuple) -> None:
    from roberta_prelayernorm.flax.generation import filter_top_k, filter_top_p
    from roberta_prelayernorm.torch.generation import filter_top_k as torch_top_k
    from roberta_prelayernorm.torch.generation import filter_top_p as torch_top_p

    pt, fx = decoders
    prompts = np.array([[0, 45, 12]])
    sample = dict(max_new_tokens=8, do_sample=True, top_k=0, num_return_sequences=3)  # one compiled loop
    a = np.asarray(fx.generate(prompts, seed=1, **sample).sequences)
    b = np.asarray(fx.generate(prompts, seed=1, **sample).sequences)
    c = np.asarray(fx.generate(prompts, seed=2, **sample).sequences)
    assert a.shape == (3, 11) and (a[:, :3] == prompts).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and len({tuple(row) for row in a}) > 1  # the copies draw differently
    greedy = np.asarray(fx.generate(prompts, max_new_tokens=8).sequences)
    np.testing.assert_array_equal(np.asarray(fx.generate(prompts, max_new_tokens=8, do_sample=True, top_k=1,
                                                         seed=5).sequences), greedy)
    scores = np.random.default_rng(0).standard_normal((4, 99)).astype(np.float32)
    for k in (1, 5, 98):
        np.testing.assert_array_equal(np.asarray(filter_top_k(jnp.asarray(scores), k)),
                                      torch_top_k(torch.from_numpy(scores), k).numpy())
    for p in (0.1, 0.5, 0.9):
        np.testing.assert_array_equal(np.asarray(filter_top_p(jnp.asarray(scores), p)),
                                      torch_top_p(torch.from_numpy(scores), p).numpy())


def test_generate_errors(decoders: tuple) -> None:
    _, fx = decoders
    raises_cleanly(lambda: fx.generate(np.array([[0, 5]]), max_new_tokens=40), r"longer than the model's 38 positions")
    raises_cleanly(lambda: fx.generate(np.array([[0.5]])), r"integers", TypeError)
    raises_cleanly(lambda: fx.generate(np.array([[0, 5]]), temperature=0.0, do_sample=True), r"temperature")
    raises_cleanly(lambda: fx.generate(np.array([[0, 5]]), beams=3), r"unknown generation argument", TypeError)
    encoder = rp.FlaxRobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(**tiny()))
    raises_cleanly(lambda: encoder.generate(np.array([[0, 5]])), r"is_decoder")
