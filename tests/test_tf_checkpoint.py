"""TF checkpoints: tf_model.h5 (one file or shards), PyTorch weights through the layout table, base ↔ head
prefixes, the loading report, and files that are wrong. (transformers 4.37.2's own files and its loading of
ours: test_tf_golden.py.)"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tf_helpers import ATOL, HEADS, batch, max_diff, pair, pt_model, tf, to_torch

import roberta_prelayernorm as rp
from roberta_prelayernorm import CheckpointError
from roberta_prelayernorm.core.errors import CheckpointShapeError
from roberta_prelayernorm.core.layouts import apply
from roberta_prelayernorm.core.weights import TF_WEIGHTS_INDEX_NAME, TF_WEIGHTS_NAME
from roberta_prelayernorm.tf.checkpoint import pt_to_tf, read_names, tf_to_pt, write_names

pytestmark = pytest.mark.tf
h5py = pytest.importorskip("h5py")

IDS, MASK = batch(3, 9)
MLM = "TFRobertaPreLayerNormForMaskedLM"


def tf_class(head: str) -> Any:
    return getattr(rp, f"TFRobertaPreLayerNorm{head}")


def weights_of(model: Any) -> dict[str, np.ndarray]:
    return {name: v.numpy() for name, v in model.named_weights().items()}


def same_weights(a: Any, b: Any) -> bool:
    wa, wb = weights_of(a), weights_of(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def mlm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a PyTorch MLM folder, the same weights saved by our TF class as tf_model.h5)."""
    root = tmp_path_factory.mktemp("tf_ckpt")
    _, model = pair(root / "pt", "ForMaskedLM")
    model.save_pretrained(root / "tf")
    return root / "pt", root / "tf"


# ------------------------------------------------------------------------------------------ the table
@pytest.mark.parametrize("config", [{}, {"position_embedding_type": "relative_key", "is_decoder": True,
                                         "add_cross_attention": True}, {"tie_word_embeddings": False}])
@pytest.mark.parametrize("head", HEADS)
def test_layout_table_maps_every_weight_both_ways(head: str, config: dict) -> None:
    """Each PyTorch key (tied aliases aside) ↔ exactly one TF variable of the same class, shapes transposed.
    (The bare PyTorch model's keys have no base prefix; TF names always have it.)"""
    pt = pt_model(head, **config)
    model = tf_class(head)(pt.config)
    names = {name: tuple(v.shape) for name, v in model.named_weights().items()}
    aliases = set(pt.tied_aliases())
    mapped = {}
    for key, tensor in pt.state_dict().items():
        if key in aliases:
            continue
        key = f"roberta_prelayernorm.{key}" if head == "Model" else key
        name, transform = pt_to_tf(key)
        assert name in names, (key, name)
        assert apply(tensor.numpy(), transform).shape == names[name], key
        assert tf_to_pt(name) == (key, transform)
        mapped[name] = key
    assert sorted(mapped) == sorted(names)


# ------------------------------------------------------------------------------------------- h5 files
@pytest.mark.parametrize("head", HEADS)
def test_h5_round_trip(tmp_path: Path, head: str) -> None:
    pt, model = pair(tmp_path / "pt", head)
    model.save_pretrained(tmp_path / "tf")
    assert sorted(os.listdir(tmp_path / "tf")) == ["config.json", TF_WEIGHTS_NAME]
    assert json.loads((tmp_path / "tf" / "config.json").read_text())["architectures"] == [type(model).__name__]
    again, info = tf_class(head).from_pretrained(tmp_path / "tf", output_loading_info=True)
    assert not any(info.values()), info
    assert same_weights(again, model)


def test_h5_layout(mlm: tuple[Path, Path]) -> None:
    """The reference's layout: top-level groups, full variable names, the tied LM head listing the embeddings."""
    with h5py.File(mlm[1] / TF_WEIGHTS_NAME, "r") as f:
        assert read_names(f, "layer_names") == ["roberta_prelayernorm", "lm_head"]
        head = read_names(f["lm_head"], "weight_names")
        assert head[0] == "tf_roberta_pre_layer_norm_for_masked_lm/lm_head/bias:0"
        model = "tf_roberta_pre_layer_norm_for_masked_lm"
        assert f"{model}/roberta_prelayernorm/embeddings/word_embeddings/weight:0" in head
        name = f"{model}/roberta_prelayernorm/encoder/layer_._1/attention/self/query/kernel:0"
        assert f["roberta_prelayernorm"][name].shape == (32, 32)


def test_sharded_save_loads_and_resave_removes_stale_shards(mlm: tuple[Path, Path], tmp_path: Path) -> None:
    model = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1])
    model.save_pretrained(tmp_path, max_shard_size="8KB")
    shards = sorted(p.name for p in tmp_path.glob("tf_model-*.h5"))
    assert len(shards) > 2 and (tmp_path / TF_WEIGHTS_INDEX_NAME).is_file()
    assert not (tmp_path / TF_WEIGHTS_NAME).exists()
    index = json.loads((tmp_path / TF_WEIGHTS_INDEX_NAME).read_text())
    assert sorted(set(index["weight_map"].values())) == shards
    assert all(k.startswith("tf_roberta_pre_layer_norm_for_masked_lm/") and k.endswith(":0")
               for k in index["weight_map"])
    assert same_weights(rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path), model)
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", TF_WEIGHTS_NAME]


def test_long_attribute_lists_are_split_as_keras_does(tmp_path: Path) -> None:
    names = [f"layer_{i}/" + "x" * 200 for i in range(700)]  # ~140 KB: over HDF5's 64 KB header limit
    with h5py.File(tmp_path / "a.h5", "w") as f:
        write_names(f, "weight_names", names)
        assert "weight_names" not in f.attrs and "weight_names0" in f.attrs and "weight_names2" in f.attrs
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert read_names(f, "weight_names") == names


# ------------------------------------------------------------------------------------ PyTorch weights
def test_pytorch_weights_without_tf_weights_and_with_from_pt(mlm: tuple[Path, Path], tmp_path: Path) -> None:
    """A folder with both: tf_model.h5 by default, the PyTorch weights with from_pt=True."""
    folder = tmp_path / "both"
    other = pt_model("ForMaskedLM", seed=5)
    other.save_pretrained(folder)
    for name in (TF_WEIGHTS_NAME,):
        (folder / name).write_bytes((mlm[1] / name).read_bytes())
    from_h5 = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(folder)
    from_pt = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(folder, from_pt=True)
    assert same_weights(from_h5, rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1]))
    with torch.no_grad():
        expected = other(to_torch(IDS), attention_mask=to_torch(MASK)).logits
    assert max_diff(from_pt(IDS, attention_mask=MASK).logits, expected, MASK.astype(bool)) <= ATOL


@pytest.mark.parametrize("kind", ["bin", "sharded safetensors"])
def test_pytorch_bin_and_shards(tmp_path: Path, kind: str) -> None:
    pt = pt_model("ForMaskedLM")
    folder = tmp_path / "pt"
    if kind == "bin":
        pt.config.save_pretrained(folder)
        state = dict(pt.state_dict(), **{"roberta_prelayernorm.embeddings.position_ids": torch.arange(40)[None]})
        torch.save(state, folder / "pytorch_model.bin")  # tied aliases and an old position_ids key included
    else:
        pt.save_pretrained(folder, max_shard_size="20KB")
        assert len(list(folder.glob("model-*.safetensors"))) > 1
    model, info = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info
    with torch.no_grad():
        expected = pt(to_torch(IDS), attention_mask=to_torch(MASK)).logits
    assert max_diff(model(IDS, attention_mask=MASK).logits, expected, MASK.astype(bool)) <= ATOL


def test_untied_lm_head(tmp_path: Path) -> None:
    pt, model = pair(tmp_path / "pt", "ForMaskedLM", tie_word_embeddings=False)
    assert "lm_head/decoder/weight" in model.named_weights()
    with torch.no_grad():
        expected = pt(to_torch(IDS), attention_mask=to_torch(MASK)).logits
    assert max_diff(model(IDS, attention_mask=MASK).logits, expected, MASK.astype(bool)) <= ATOL
    model.save_pretrained(tmp_path / "tf")
    assert same_weights(rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "tf"), model)


# ---------------------------------------------------------------------------------- base ↔ head prefixes
def test_masked_lm_weights_into_the_bare_model_and_back(mlm: tuple[Path, Path], tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="roberta_prelayernorm")
    source = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1])
    bare, info = rp.TFRobertaPreLayerNormModel.from_pretrained(mlm[1], output_loading_info=True)
    pooler = ["roberta_prelayernorm/pooler/dense/bias", "roberta_prelayernorm/pooler/dense/kernel"]
    assert sorted(info["missing_keys"]) == pooler
    assert info["unexpected_keys"] and all(k.startswith("lm_head/") for k in info["unexpected_keys"])
    assert any("newly initialized" in r.getMessage() and "pooler" in r.getMessage() for r in caplog.records)
    mask = MASK.astype(bool)
    assert max_diff(bare(IDS, attention_mask=MASK).last_hidden_state,
                    source.roberta_prelayernorm(input_ids=tf.constant(IDS), attention_mask=tf.constant(MASK))
                    .last_hidden_state, mask) <= ATOL
    bare.save_pretrained(tmp_path / "bare")
    head, info = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "bare", output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == pooler
    assert sorted(info["missing_keys"]) == sorted(k for k in head.named_weights() if k.startswith("lm_head/"))


def test_bare_pytorch_checkpoint_into_a_head(tmp_path: Path) -> None:
    """PyTorch bare-model keys have no prefix; TF names always do: it is added."""
    pt = pt_model("Model")
    pt.save_pretrained(tmp_path)
    model, info = rp.TFRobertaPreLayerNormForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["missing_keys"]) == sorted(k for k in model.named_weights() if k.startswith("classifier/"))
    assert sorted(info["unexpected_keys"]) == ["pooler/dense/bias", "pooler/dense/kernel"]  # as PyTorch names them
    with torch.no_grad():
        expected = pt(to_torch(IDS), attention_mask=to_torch(MASK)).last_hidden_state
    got = model.roberta_prelayernorm(input_ids=tf.constant(IDS), attention_mask=tf.constant(MASK)).last_hidden_state
    assert max_diff(got, expected, MASK.astype(bool)) <= ATOL


# ------------------------------------------------------------------------------------------ bad files
@pytest.mark.parametrize("override, first", [
    ({"vocab_size": 100}, "word_embeddings"),
    ({"intermediate_size": 40}, "intermediate/dense"),
])
def test_shapes_that_do_not_fit_name_the_weight(mlm: tuple[Path, Path], override: dict, first: str) -> None:
    with pytest.raises(CheckpointShapeError, match=first) as caught:
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1], **override)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, OSError)
    model, info = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(
        mlm[1], ignore_mismatched_sizes=True, output_loading_info=True, **override)
    assert first in info["mismatched_keys"][0][0]
    mismatched = {k for k, _, _ in info["mismatched_keys"]}
    loaded = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1])
    kept = [k for k in model.named_weights() if k not in mismatched]
    assert kept and all(np.array_equal(model.named_weights()[k].numpy(), loaded.named_weights()[k].numpy())
                        for k in kept if k in loaded.named_weights())


def test_tf_file_of_another_architecture(tmp_path: Path, mlm: tuple[Path, Path]) -> None:
    (tmp_path / "config.json").write_text((mlm[1] / "config.json").read_text())
    with h5py.File(tmp_path / TF_WEIGHTS_NAME, "w") as f:
        write_names(f, "layer_names", ["bert"])
        group = f.create_group("bert")
        write_names(group, "weight_names", ["tf_bert_model/bert/embeddings/word_embeddings/weight:0"])
        group.create_dataset("tf_bert_model/bert/embeddings/word_embeddings/weight:0",
                             data=np.zeros((99, 32), np.float32))
    with pytest.raises(CheckpointError, match="none of the weights.*bert/embeddings/word_embeddings/weight"):
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "no layer_names", "missing shard"])
def test_damaged_h5_is_a_checkpoint_error(mlm: tuple[Path, Path], tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text((mlm[1] / "config.json").read_text())
    data = (mlm[1] / TF_WEIGHTS_NAME).read_bytes()
    if damage == "truncated":
        (folder / TF_WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    elif damage == "random bytes":
        (folder / TF_WEIGHTS_NAME).write_bytes(os.urandom(4096))
    elif damage == "no layer_names":
        with h5py.File(folder / TF_WEIGHTS_NAME, "w") as f:
            f.create_dataset("kernel", data=np.zeros(3))
    else:
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1]).save_pretrained(folder, max_shard_size="8KB")
        (folder / ("tf_model-00002-of-%05d.h5" % len(list(folder.glob("tf_model-*.h5"))))).unlink()
    match = {"no layer_names": "layer_names", "missing shard": "tf_model-00002"}.get(damage, "truncated|corrupt")
    with pytest.raises(CheckpointError, match=match):
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(folder)


def test_failed_save_leaves_the_folder_as_it_was(mlm: tuple[Path, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    model = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1])
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_text("{}")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", full_disk)
    with pytest.raises(CheckpointError, match="No space left"):
        model.save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_save_options(mlm: tuple[Path, Path], tmp_path: Path) -> None:
    model = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1])
    with pytest.raises(ValueError, match="tf_model.h5"):
        model.save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(TypeError, match="config overrides need config=None"):
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1], config=model.config, num_labels=3)


# ------------------------------------------------------------------------------------------------- hub
def test_hub_id_from_the_cache(tmp_path: Path, mlm: tuple[Path, Path]) -> None:
    """A hub id resolves in the cache: a revision with tf_model.h5, another with PyTorch weights only."""
    repo = tmp_path / "cache" / "models--org--name"
    commits = {"main": "a" * 40, "v2": "b" * 40}
    shutil.copytree(mlm[1], repo / "snapshots" / commits["main"])
    other = pt_model("ForMaskedLM", seed=7)
    other.save_pretrained(repo / "snapshots" / commits["v2"])
    (repo / "refs").mkdir()
    for ref, commit in commits.items():
        (repo / "refs" / ref).write_text(commit)
    main = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained("org/name", cache_dir=tmp_path / "cache",
                                                               local_files_only=True)
    assert same_weights(main, rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained(mlm[1]))
    v2 = rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained("org/name", cache_dir=tmp_path / "cache",
                                                             local_files_only=True, revision="v2")
    with torch.no_grad():
        expected = other(to_torch(IDS), attention_mask=to_torch(MASK)).logits
    assert max_diff(v2(IDS, attention_mask=MASK).logits, expected, MASK.astype(bool)) <= ATOL
    with pytest.raises(CheckpointError, match="not in the cache"):
        rp.TFRobertaPreLayerNormForMaskedLM.from_pretrained("org/missing", cache_dir=tmp_path / "cache")
