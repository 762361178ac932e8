"""Loading and saving checkpoints, each checked against ``transformers`` (the oracle) where it can be.

Covers: transformers folders into our classes (ties, loading info), our folders into transformers,
the ``roberta_prelayernorm.`` prefix between the bare model and the heads, shape mismatches, shards,
``pytorch_model.bin`` (and its refusal of pickled code), legacy keys, dtypes, atomic saves, loading
from a prepared offline hub cache, embedding resizing and parameter counting.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch
import transformers
from model_helpers import HEADS, batch, reference_model, tiny
from safetensors import safe_open

import roberta_prelayernorm
from roberta_prelayernorm import CheckpointError
from roberta_prelayernorm.core.errors import CheckpointShapeError

ATOL = 1e-5
LOGGER = "roberta_prelayernorm"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is several times faster than two on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ours(name: str) -> type:
    return getattr(roberta_prelayernorm, name)


def head_kwargs(name: str) -> dict:
    return {"is_decoder": True} if "CausalLM" in name else {}


def main_output(model: torch.nn.Module, name: str, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The output tensor that each class is for (hidden states, logits, start/end logits).

    Per-token outputs are zeroed at padding: the reference's values there mean nothing, and our fast
    path leaves zeros there, so only real tokens are compared.
    """
    with torch.no_grad():
        if "MultipleChoice" in name:
            return model(input_ids=ids.view(1, *ids.shape), attention_mask=mask.view(1, *mask.shape)).logits
        out = model(input_ids=ids, attention_mask=mask)
    if "QuestionAnswering" in name:
        return torch.stack([out.start_logits, out.end_logits]) * mask
    if "SequenceClassification" in name:
        return out.logits
    per_token = out.last_hidden_state if name == "RobertaPreLayerNormModel" else out.logits
    return per_token * mask[..., None]


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def safetensors_keys(path: Path) -> tuple[set[str], dict]:
    with safe_open(str(path), "pt") as f:
        return set(f.keys()), f.metadata()


def ref_info(info: dict) -> dict:
    """transformers' loading info as sorted lists (it returns sets) for comparison."""
    return {k: sorted(tuple(x) if isinstance(x, tuple) else x for x in v) if k != "mismatched_keys" else
            sorted((key, tuple(a), tuple(b)) for key, a, b in v) for k, v in info.items() if k != "error_msgs"}


def our_info(info: dict) -> dict:
    return {k: sorted(v) for k, v in info.items() if k != "error_msgs"}


# ---------------------------------------------------------------------------------- (a) transformers → ours
def test_transformers_masked_lm_loads_with_ties(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path)
    model, info = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    assert model.lm_head.decoder.weight is model.roberta_prelayernorm.embeddings.word_embeddings.weight
    assert model.lm_head.decoder.bias is model.lm_head.bias
    assert not model.training
    ids, mask = batch()
    close(main_output(model, "RobertaPreLayerNormForMaskedLM", ids, mask),
          main_output(ref, "RobertaPreLayerNormForMaskedLM", ids, mask))
    # the tie is live: training the embeddings moves the LM head too
    with torch.no_grad():
        model.roberta_prelayernorm.embeddings.word_embeddings.weight[5] += 1.0
    assert torch.equal(model.lm_head.decoder.weight[5], model.get_input_embeddings().weight[5])


@pytest.mark.parametrize("name", HEADS)
def test_transformers_folder_loads_for_every_head(tmp_path: Path, name: str) -> None:
    ref = reference_model(name, **head_kwargs(name))
    ref.save_pretrained(tmp_path)
    model, info = ours(name).from_pretrained(tmp_path, output_loading_info=True)
    _, expected = getattr(transformers, name).from_pretrained(tmp_path, output_loading_info=True)
    assert our_info(info) == ref_info(expected)
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


# ---------------------------------------------------------------------------------- (b) ours → transformers
@pytest.mark.parametrize("name", HEADS)
def test_our_save_loads_in_transformers(tmp_path: Path, name: str) -> None:
    ref = reference_model(name, **head_kwargs(name))
    ref.save_pretrained(tmp_path / "ref")
    model = ours(name).from_pretrained(tmp_path / "ref")
    model.save_pretrained(tmp_path / "ours")

    keys, metadata = safetensors_keys(tmp_path / "ours" / "model.safetensors")
    ref_keys, _ = safetensors_keys(tmp_path / "ref" / "model.safetensors")
    assert metadata == {"format": "pt"}
    assert keys == ref_keys  # the same keys transformers writes: no tied alias
    assert not {"lm_head.decoder.weight", "lm_head.decoder.bias"} & keys
    assert keys == set(model.state_dict()) - set(model.tied_aliases())

    again, info = getattr(transformers, name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, mask = batch()
    close(main_output(again.eval(), name, ids, mask), main_output(ref, name, ids, mask))
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["architectures"] == [name]
    assert saved["model_type"] == "roberta-prelayernorm"


def test_our_save_round_trips_in_ours(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path / "ref")
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ref")
    model.save_pretrained(tmp_path / "ours")
    again, info = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not any(info.values())
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert again.lm_head.decoder.weight is again.get_input_embeddings().weight


@pytest.mark.parametrize("name", ["RobertaPreLayerNormForMaskedLM", "RobertaPreLayerNormForCausalLM"])
def test_untied_lm_head_round_trip(tmp_path: Path, name: str) -> None:
    """With tie_word_embeddings=False transformers 5 keeps lm_head.decoder.weight *and* lm_head.decoder.bias as
    parameters of their own (the forward uses decoder.bias, not lm_head.bias): both must load and be saved."""
    ref = reference_model(name, tie_word_embeddings=False, **head_kwargs(name))
    ref.save_pretrained(tmp_path / "ref")
    model = ours(name).from_pretrained(tmp_path / "ref")
    assert model.lm_head.decoder.weight is not model.get_input_embeddings().weight
    assert torch.equal(model.lm_head.decoder.weight, ref.lm_head.decoder.weight)
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))

    model.save_pretrained(tmp_path / "ours")
    again, info = getattr(transformers, name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    close(main_output(again, name, ids, mask), main_output(ref, name, ids, mask))


# ------------------------------------------------------------------------------------ (c) base ↔ head prefix
def test_masked_lm_checkpoint_into_bare_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    model, info = ours("RobertaPreLayerNormModel").from_pretrained(tmp_path, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormModel.from_pretrained(tmp_path, output_loading_info=True)
    assert our_info(info)["unexpected_keys"] == ref_info(expected)["unexpected_keys"]
    # keys are named as the checkpoint names them, as transformers 4.37.2 does (the newest names missing
    # keys as the model does; test_loading_report_names_keys_as_4_37_2 covers every direction)
    assert sorted(info["missing_keys"]) == ["roberta_prelayernorm.pooler.dense.bias",
                                            "roberta_prelayernorm.pooler.dense.weight"]
    assert info["unexpected_keys"] and all(k.startswith("lm_head.") for k in info["unexpected_keys"])
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert any("pooler.dense.weight" in m and "newly initialized" in m for m in messages)
    assert any("lm_head.dense.weight" in m and "not used" in m for m in messages)
    # the encoder is the reference's: compare the hidden states (the pooler is new)
    ids, mask = batch()
    close(main_output(model, "RobertaPreLayerNormModel", ids, mask),
          main_output(ref.roberta_prelayernorm, "RobertaPreLayerNormModel", ids, mask))


def test_base_checkpoint_into_sequence_classification(tmp_path: Path) -> None:
    base = reference_model("RobertaPreLayerNormModel")
    base.save_pretrained(tmp_path)
    model, info = ours("RobertaPreLayerNormForSequenceClassification").from_pretrained(
        tmp_path, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormForSequenceClassification.from_pretrained(
        tmp_path, output_loading_info=True)
    assert our_info(info) == ref_info(expected)
    assert sorted(info["missing_keys"]) == sorted(
        f"classifier.{m}.{p}" for m in ("dense", "out_proj") for p in ("weight", "bias"))
    ids, mask = batch()
    close(main_output(model.roberta_prelayernorm, "RobertaPreLayerNormModel", ids, mask),
          main_output(base, "RobertaPreLayerNormModel", ids, mask))
    # the new classifier is initialised like the reference: N(0, 0.02), zero biases
    assert torch.equal(model.classifier.out_proj.bias, torch.zeros(2))
    assert 0.005 < model.classifier.dense.weight.std().item() < 0.05


def test_bare_model_save_into_head_and_back(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForTokenClassification")
    ref.save_pretrained(tmp_path / "ref")
    head = ours("RobertaPreLayerNormForTokenClassification").from_pretrained(tmp_path / "ref")
    head.roberta_prelayernorm.save_pretrained(tmp_path / "base")
    keys, _ = safetensors_keys(tmp_path / "base" / "model.safetensors")
    assert keys == set(head.roberta_prelayernorm.state_dict())
    assert not any(k.startswith("roberta_prelayernorm.") for k in keys)
    ref_base = transformers.RobertaPreLayerNormModel.from_pretrained(tmp_path / "base", add_pooling_layer=False)
    ids, mask = batch()
    close(main_output(ref_base, "RobertaPreLayerNormModel", ids, mask),
          main_output(ref.roberta_prelayernorm, "RobertaPreLayerNormModel", ids, mask))


# ------------------------------------------------------------------------------------- (d) shape mismatch
def test_shape_mismatch_raises(tmp_path: Path) -> None:
    reference_model("RobertaPreLayerNormForSequenceClassification", num_labels=3).save_pretrained(tmp_path)
    with pytest.raises(CheckpointShapeError, match=r"classifier\.out_proj\.weight") as caught:
        ours("RobertaPreLayerNormForSequenceClassification").from_pretrained(tmp_path, num_labels=5)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, ValueError)
    assert isinstance(caught.value, CheckpointError)
    assert "ignore_mismatched_sizes" in str(caught.value)


def test_ignore_mismatched_sizes(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForSequenceClassification", num_labels=3)
    ref.save_pretrained(tmp_path)
    model, info = ours("RobertaPreLayerNormForSequenceClassification").from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert sorted(info["mismatched_keys"]) == ref_info(expected)["mismatched_keys"]
    assert sorted(info["mismatched_keys"]) == [
        ("classifier.out_proj.bias", (3,), (5,)), ("classifier.out_proj.weight", (3, 32), (5, 32))]
    assert model.config.num_labels == 5 and model.classifier.out_proj.weight.shape == (5, 32)
    assert torch.equal(model.classifier.dense.weight, ref.classifier.dense.weight)
    assert torch.equal(model.classifier.out_proj.bias, torch.zeros(5))
    ids, mask = batch()
    close(main_output(model.roberta_prelayernorm, "RobertaPreLayerNormModel", ids, mask),
          main_output(ref.roberta_prelayernorm, "RobertaPreLayerNormModel", ids, mask))


def test_mismatched_keys_not_also_reported_missing(tmp_path: Path) -> None:
    """transformers lists a re-initialised mismatched weight once, under mismatched_keys only."""
    reference_model("RobertaPreLayerNormForSequenceClassification", num_labels=3).save_pretrained(tmp_path)
    _, info = ours("RobertaPreLayerNormForSequenceClassification").from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ref_info(expected)["missing_keys"]


# ------------------------------------------------------------------------------------------- (e) shards
def test_sharded_save(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path / "ref")
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ref")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")

    files = sorted(p.name for p in (tmp_path / "sharded").iterdir())
    shards = [f for f in files if f.endswith(".safetensors")]
    assert len(shards) > 1
    assert shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    assert set(files) == set(shards) | {"config.json", "model.safetensors.index.json"}
    index = json.loads((tmp_path / "sharded" / "model.safetensors.index.json").read_text())
    state = {k: v for k, v in model.state_dict().items() if k not in model.tied_aliases()}
    assert set(index["weight_map"]) == set(state)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in state.values())
    for shard in shards:
        keys, metadata = safetensors_keys(tmp_path / "sharded" / shard)
        assert metadata == {"format": "pt"}
        assert keys == {k for k, f in index["weight_map"].items() if f == shard}
        size = sum(state[k].numel() * state[k].element_size() for k in keys)
        assert size <= 20_000 or len(keys) == 1

    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    again = ours(name).from_pretrained(tmp_path / "sharded")
    close(main_output(again, name, ids, mask), main_output(ref, name, ids, mask))
    assert again.lm_head.decoder.weight is again.get_input_embeddings().weight
    theirs, info = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(
        tmp_path / "sharded", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    close(main_output(theirs, name, ids, mask), main_output(ref, name, ids, mask))


def test_transformers_sharded_save_loads(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    model, info = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values())
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


def test_resave_unsharded_removes_stale_shards(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path / "ref")
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ref")
    model.save_pretrained(tmp_path / "out", max_shard_size="20KB")
    (tmp_path / "out" / "tokenizer.json").write_text("{}")
    model.save_pretrained(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "model.safetensors",
                                                                   "tokenizer.json"]
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "out")
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    close(main_output(theirs, name, ids, mask), main_output(ref, name, ids, mask))


# ------------------------------------------------------------------------------------ (f) pytorch_model.bin
def test_pytorch_bin_loads(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.config.save_pretrained(tmp_path)
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")  # with the tied aliases, as old files have
    model, info = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.lm_head.decoder.weight is model.get_input_embeddings().weight
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


def test_safetensors_preferred_over_bin(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.save_pretrained(tmp_path)
    torch.save(reference_model("RobertaPreLayerNormForMaskedLM", seed=1).state_dict(), tmp_path / "pytorch_model.bin")
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path)
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path)
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    close(main_output(model, name, ids, mask), main_output(theirs, name, ids, mask))


class Payload:
    """A pickled object whose unpickling creates a folder (proof of code execution)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


class Harmless:
    def __init__(self) -> None:
        self.value = 3


@pytest.mark.parametrize("kind", ["code", "instance", "function"])
def test_bin_with_pickled_objects_refused(tmp_path: Path, kind: str) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.config.save_pretrained(tmp_path / "ckpt")
    side_effect = tmp_path / "side_effect"
    state: dict = dict(ref.state_dict())
    state["extra"] = {"code": Payload(str(side_effect)), "instance": Harmless(), "function": os.getcwd}[kind]
    torch.save(state, tmp_path / "ckpt" / "pytorch_model.bin")
    if kind == "code":  # the payload does run when unpickled unsafely: the check below can fail
        proof = tmp_path / "proof"
        pickle.loads(pickle.dumps(Payload(str(proof))))
        assert proof.is_dir()
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ckpt")
    assert not side_effect.exists()


def test_bin_that_is_not_a_state_dict_refused(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.config.save_pretrained(tmp_path)
    torch.save([t for t in ref.state_dict().values()], tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="state dict"):
        ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path)


# ------------------------------------------------------------------------------------------ (g) legacy keys
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_position_ids_key_loads_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture, fmt: str) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.config.save_pretrained(tmp_path)
    state = {k: v.clone().contiguous() for k, v in ref.state_dict().items() if not k.startswith("lm_head.decoder")}
    state["roberta_prelayernorm.embeddings.position_ids"] = torch.arange(40).expand(1, -1).contiguous()
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, tmp_path / "pytorch_model.bin")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path)
    assert not [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


def test_position_ids_key_not_in_loading_info(tmp_path: Path) -> None:
    """transformers drops the legacy key from unexpected_keys as well as from the warning."""
    ref = reference_model("RobertaPreLayerNormForMaskedLM")
    ref.config.save_pretrained(tmp_path)
    state = dict(ref.state_dict())
    state["roberta_prelayernorm.embeddings.position_ids"] = torch.arange(40).expand(1, -1).contiguous()
    torch.save(state, tmp_path / "pytorch_model.bin")
    _, info = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == ref_info(expected)["unexpected_keys"]


# ----------------------------------------------------------------------------------------------- (h) dtypes
@pytest.mark.parametrize("requested", [torch.float16, "bfloat16", torch.bfloat16, "float16"])
def test_torch_dtype(tmp_path: Path, requested: torch.dtype | str) -> None:
    reference_model("RobertaPreLayerNormForMaskedLM").save_pretrained(tmp_path)
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path, torch_dtype=requested)
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path, dtype=requested)
    assert {p.dtype for p in model.parameters()} == {p.dtype for p in theirs.parameters()} == {
        getattr(torch, str(requested).removeprefix("torch."))}
    assert model.dtype == theirs.dtype
    theirs_state = theirs.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, theirs_state[key]), key
    assert model.lm_head.decoder.weight is model.get_input_embeddings().weight


@pytest.mark.parametrize("saved_by", ["transformers", "ours"])
def test_torch_dtype_auto(tmp_path: Path, saved_by: str) -> None:
    ref = reference_model("RobertaPreLayerNormForMaskedLM").half()
    ref.save_pretrained(tmp_path / "transformers")
    if saved_by == "ours":
        ours("RobertaPreLayerNormForMaskedLM").from_pretrained(
            tmp_path / "transformers", torch_dtype=torch.float16).save_pretrained(tmp_path / "ours")
    folder = tmp_path / saved_by
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(folder, torch_dtype="auto")
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(folder, dtype="auto")
    assert {p.dtype for p in model.parameters()} == {p.dtype for p in theirs.parameters()} == {torch.float16}
    # without torch_dtype the weights are upcast to float32, as in transformers 4.x (5.x defaults to "auto")
    default = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(folder)
    assert {p.dtype for p in default.parameters()} == {torch.float32}
    upcast = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(folder, dtype=torch.float32)
    for key, value in default.state_dict().items():
        assert torch.equal(value, upcast.state_dict()[key]), key


def test_half_model_saved_as_half_for_transformers(tmp_path: Path) -> None:
    """A model loaded from a transformers-5 folder (config key "dtype": "float32"), cast to fp16 and saved,
    must declare fp16: transformers reads the dtype of the saved folder with dtype="auto"."""
    reference_model("RobertaPreLayerNormForMaskedLM").save_pretrained(tmp_path / "ref")
    model = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ref").half()
    model.save_pretrained(tmp_path / "half")
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "half", dtype="auto")
    assert theirs.dtype == torch.float16
    assert ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "half", torch_dtype="auto").dtype \
        == torch.float16


# ------------------------------------------------------------------------------------------ (i) atomic save
def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_save_leaves_folder_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    target = tmp_path / "model"
    reference_model("RobertaPreLayerNormForMaskedLM").save_pretrained(tmp_path / "ref")
    first = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(tmp_path / "ref")
    first.save_pretrained(target)
    (target / "tokenizer.json").write_text('{"version": "1.0"}')
    before = snapshot(target)

    second = ours("RobertaPreLayerNormForMaskedLM")(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny()))
    written = []

    def full_disk(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)  # a partial file, then the disk is full
        written.append(filename)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with pytest.raises(CheckpointError, match="No space left"):
        second.save_pretrained(target, max_shard_size="20KB")
    assert written  # the failure really happened inside the save
    assert snapshot(target) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert not [p.name for p in target.iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.undo()
    reloaded = ours("RobertaPreLayerNormForMaskedLM").from_pretrained(target)
    for key, value in first.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key


def test_save_into_unwritable_parent(tmp_path: Path) -> None:
    model = ours("RobertaPreLayerNormModel")(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny()))
    if os.geteuid() != 0:
        parent = tmp_path / "readonly"
        parent.mkdir()
        parent.chmod(0o555)
    elif Path("/sys").is_dir():  # root ignores permission bits; sysfs refuses new files even for root
        parent = Path("/sys")
    else:
        pytest.skip("no read-only location available")
    try:
        with pytest.raises(CheckpointError, match="write|save"):
            model.save_pretrained(parent / "rpln-test-model")
        assert not (parent / "rpln-test-model").exists()
    finally:
        if parent != Path("/sys"):
            parent.chmod(0o755)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_files_have_ordinary_permissions(tmp_path: Path, umask: int) -> None:
    """Atomic writing goes through private temporary files; what appears has the umask's permissions."""
    model = ours("RobertaPreLayerNormModel")(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny()))
    old = os.umask(umask)
    try:
        model.save_pretrained(tmp_path / "new")  # a new folder, renamed into place whole
        model.save_pretrained(tmp_path / "new", max_shard_size=20_000)  # into an existing one, sharded
    finally:
        os.umask(old)
    folder = tmp_path / "new"
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask
    names = sorted(p.name for p in folder.iterdir())
    assert "model.safetensors.index.json" in names and "config.json" in names
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_save_where_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    model = ours("RobertaPreLayerNormModel")(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny()))
    with pytest.raises(CheckpointError):
        model.save_pretrained(tmp_path / "file" / "model")
    assert (tmp_path / "file").read_text() == "x"


# --------------------------------------------------------------------------------------- (j) offline hub cache
COMMITS = ("1" * 40, "2" * 40)


def make_cache(root: Path) -> tuple[Path, list[torch.nn.Module]]:
    """``models--org--name`` with two snapshots: ``main`` → the first, ``v2`` → the second."""
    repo = root / "models--org--name"
    models = []
    for seed, commit in enumerate(COMMITS):
        model = reference_model("RobertaPreLayerNormForMaskedLM", seed=seed)
        model.save_pretrained(repo / "snapshots" / commit)
        models.append(model)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMITS[0])
    (repo / "refs" / "v2").write_text(COMMITS[1])
    return root, models


HUB_SCRIPT = r"""
import json, sys
import huggingface_hub.constants
assert huggingface_hub.constants.HF_HUB_OFFLINE, "HF_HUB_OFFLINE was not read"
from safetensors.torch import save_file
import torch
from roberta_prelayernorm import CheckpointError, RobertaPreLayerNormForMaskedLM as M
cache, out = sys.argv[1], sys.argv[2]
ids = torch.tensor(json.loads(sys.argv[3]))
result, logits = {}, {}
with torch.no_grad():
    logits["main"] = M.from_pretrained("org/name", cache_dir=cache)(ids).logits
    logits["v2"] = M.from_pretrained("org/name", cache_dir=cache, revision="v2")(ids).logits
    logits["commit"] = M.from_pretrained("org/name", cache_dir=cache, revision="2" * 40)(ids).logits
try:
    M.from_pretrained("org/missing", cache_dir=cache)
    result["missing"] = None
except CheckpointError as e:
    result["missing"] = str(e)
save_file({k: v.contiguous() for k, v in logits.items()}, out + "/logits.safetensors")
with open(out + "/result.json", "w") as f:
    json.dump(result, f)
"""


def test_hub_cache_offline_subprocess(tmp_path: Path) -> None:
    cache, models = make_cache(tmp_path / "cache")
    ids, _ = batch()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", HUB_SCRIPT, str(cache), str(tmp_path), json.dumps(ids.tolist())],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from safetensors.torch import load_file

    logits = load_file(str(tmp_path / "logits.safetensors"))
    with torch.no_grad():
        close(logits["main"], models[0](ids).logits)
        close(logits["v2"], models[1](ids).logits)
        close(logits["commit"], models[1](ids).logits)
    assert not torch.allclose(logits["main"], logits["v2"])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["missing"] is not None
    assert re.search(r"not in the cache|not cached|offline", result["missing"]), result["missing"]


def test_hub_cache_local_files_only(tmp_path: Path) -> None:
    cache, models = make_cache(tmp_path / "cache")
    ids, mask = batch()
    name = "RobertaPreLayerNormForMaskedLM"
    model = ours(name).from_pretrained("org/name", cache_dir=cache, local_files_only=True)
    close(main_output(model, name, ids, mask), main_output(models[0], name, ids, mask))
    model = ours(name).from_pretrained("org/name", cache_dir=cache, local_files_only=True, revision="v2")
    close(main_output(model, name, ids, mask), main_output(models[1], name, ids, mask))
    config = roberta_prelayernorm.RobertaPreLayerNormConfig.from_pretrained(
        "org/name", cache_dir=cache, local_files_only=True)
    assert config.architectures == [name]


def test_hub_id_not_cached(tmp_path: Path) -> None:
    cache, _ = make_cache(tmp_path / "cache")
    with pytest.raises(CheckpointError, match=r"not in the cache|not cached|offline"):
        ours("RobertaPreLayerNormForMaskedLM").from_pretrained("org/missing", cache_dir=cache, local_files_only=True)


def test_hub_revision_not_cached(tmp_path: Path) -> None:
    cache, _ = make_cache(tmp_path / "cache")
    with pytest.raises(CheckpointError, match=r"not in the cache|not cached|offline|revision"):
        ours("RobertaPreLayerNormForMaskedLM").from_pretrained("org/name", cache_dir=cache, local_files_only=True,
                                                             revision="v3")


# ------------------------------------------------------------------------------------------ (k) resizing
@pytest.mark.parametrize("new_size, multiple", [(121, 8), (None, 64), (45, 16)])
def test_resize_token_embeddings(tmp_path: Path, new_size: int | None, multiple: int | None) -> None:
    name = "RobertaPreLayerNormForMaskedLM"
    ref = reference_model(name)
    ref.save_pretrained(tmp_path / "ref")
    model = ours(name).from_pretrained(tmp_path / "ref")
    old_embeddings = model.get_input_embeddings().weight.detach().clone()
    old_bias = model.lm_head.bias.detach().clone()

    returned = model.resize_token_embeddings(new_size, pad_to_multiple_of=multiple)
    ref.resize_token_embeddings(new_size, pad_to_multiple_of=multiple, mean_resizing=False)
    n = ref.config.vocab_size
    assert model.config.vocab_size == n == ref.get_input_embeddings().num_embeddings
    assert returned is model.get_input_embeddings()
    assert model.get_input_embeddings().weight.shape == (n, 32)
    keep = min(n, 99)
    assert torch.equal(model.get_input_embeddings().weight[:keep], old_embeddings[:keep])
    assert torch.equal(model.lm_head.bias[:keep], old_bias[:keep])
    assert model.lm_head.decoder.weight is model.get_input_embeddings().weight
    assert model.lm_head.decoder.bias is model.lm_head.bias and model.lm_head.bias.shape == (n,)

    model.save_pretrained(tmp_path / "resized")
    theirs, info = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(
        tmp_path / "resized", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, mask = batch(vocab=min(n, 99))
    close(main_output(theirs, name, ids, mask), main_output(model, name, ids, mask))
    # the kept part of the vocabulary gives the reference's logits
    close(main_output(model, name, ids, mask)[..., :keep], main_output(ref, name, ids, mask)[..., :keep])


def test_resize_untied(tmp_path: Path) -> None:
    name = "RobertaPreLayerNormForMaskedLM"
    ref = reference_model(name, tie_word_embeddings=False)
    ref.save_pretrained(tmp_path / "ref")
    model = ours(name).from_pretrained(tmp_path / "ref")
    old_decoder = model.lm_head.decoder.weight.detach().clone()
    model.resize_token_embeddings(110)
    assert model.lm_head.decoder.weight is not model.get_input_embeddings().weight
    assert torch.equal(model.lm_head.decoder.weight[:99], old_decoder)
    assert model.lm_head.decoder.weight.shape == (110, 32)


def test_resize_bare_model(tmp_path: Path) -> None:
    ref = reference_model("RobertaPreLayerNormModel")
    ref.save_pretrained(tmp_path / "ref")
    model = ours("RobertaPreLayerNormModel").from_pretrained(tmp_path / "ref")
    model.resize_token_embeddings(130)
    model.save_pretrained(tmp_path / "resized")
    theirs = transformers.RobertaPreLayerNormModel.from_pretrained(tmp_path / "resized")
    assert theirs.config.vocab_size == 130
    ids, mask = batch(vocab=130)
    close(main_output(theirs, "RobertaPreLayerNormModel", ids, mask),
          main_output(model, "RobertaPreLayerNormModel", ids, mask))


# -------------------------------------------------------------------------- (l) counting and accessors
@pytest.mark.parametrize("name", HEADS)
def test_num_parameters(name: str) -> None:
    ref = reference_model(name, **head_kwargs(name))
    model = ours(name)(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny(**head_kwargs(name))))
    assert model.num_parameters() == ref.num_parameters()
    assert model.num_parameters(exclude_embeddings=True) == ref.num_parameters(exclude_embeddings=True)
    for m in (model, ref):
        m.base_model.embeddings.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == ref.num_parameters(only_trainable=True)
    assert model.num_parameters(only_trainable=True) < model.num_parameters()


@pytest.mark.parametrize("name", HEADS)
def test_input_output_embeddings(tmp_path: Path, name: str) -> None:
    ref = reference_model(name, **head_kwargs(name))
    ref.save_pretrained(tmp_path)
    model = ours(name).from_pretrained(tmp_path)
    assert torch.equal(model.get_input_embeddings().weight, ref.get_input_embeddings().weight)
    assert model.get_input_embeddings() is model.base_model.embeddings.word_embeddings
    out, ref_out = model.get_output_embeddings(), ref.get_output_embeddings()
    assert (out is None) == (ref_out is None)
    if out is not None:
        assert out is model.lm_head.decoder
        assert torch.equal(out.weight, ref_out.weight) and torch.equal(out.bias, ref_out.bias)

    gen = torch.Generator().manual_seed(3)
    new = torch.nn.Embedding(99, 32, padding_idx=1)
    with torch.no_grad():
        new.weight.copy_(torch.randn(99, 32, generator=gen))
    ref_new = torch.nn.Embedding(99, 32, padding_idx=1)
    ref_new.load_state_dict(new.state_dict())
    model.set_input_embeddings(new)
    ref.set_input_embeddings(ref_new)
    assert model.get_input_embeddings() is new
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


def test_set_output_embeddings(tmp_path: Path) -> None:
    name = "RobertaPreLayerNormForMaskedLM"
    ref = reference_model(name, tie_word_embeddings=False)
    ref.save_pretrained(tmp_path)
    model = ours(name).from_pretrained(tmp_path)
    gen = torch.Generator().manual_seed(4)
    new = torch.nn.Linear(32, 99)
    with torch.no_grad():
        new.weight.copy_(torch.randn(99, 32, generator=gen))
        new.bias.copy_(torch.randn(99, generator=gen))
    ref_new = torch.nn.Linear(32, 99)
    ref_new.load_state_dict(new.state_dict())
    model.set_output_embeddings(new)
    ref.set_output_embeddings(ref_new)
    assert model.get_output_embeddings() is new
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))


# ----------------------------------------------------------------- (m) drop-in loading (transformers 4.37.2)
GOLDEN_CONFIGS = Path(__file__).resolve().parent / "golden" / "dropin_configs.json"
FIXTURE_TOKENIZER = Path(__file__).resolve().parent / "fixtures" / "tokenizer"


@pytest.fixture(scope="module")
def golden_configs() -> dict:
    data = json.loads(GOLDEN_CONFIGS.read_text(encoding="utf-8"))
    assert data["generated_with"]["transformers"] == "4.37.2"
    return data


@pytest.mark.golden
def test_loading_report_names_keys_as_4_37_2(golden_configs: dict, tmp_path: Path) -> None:
    """A key dropped, a foreign key added and a shape changed, loaded across the base prefix both ways:
    missing, unexpected and mismatched keys named as the checkpoint names them (4.37.2's report)."""
    from safetensors.torch import load_file, save_file

    lm = golden_configs["saved"]["defaults"]["written"]
    config = roberta_prelayernorm.RobertaPreLayerNormConfig(**{k: v for k, v in lm.items() if k != "is_decoder"})
    for case in golden_configs["loading"]:
        folder = tmp_path / case["source"]
        if not folder.exists():
            ours(case["source"])(config).save_pretrained(folder)
            state = load_file(str(folder / "model.safetensors"))
            edits = case["edits"]
            del state[edits["drop"]]
            state[edits["add"]] = torch.zeros(2)
            state[edits["resize"]] = torch.zeros(98, 32)
            save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        _, info = ours(case["target"]).from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=True)
        got = {"missing_keys": sorted(info["missing_keys"]), "unexpected_keys": sorted(info["unexpected_keys"]),
               "mismatched_keys": sorted([k, list(a), list(b)] for k, a, b in info["mismatched_keys"])}
        assert got == case["info"], (case["source"], case["target"])


def test_from_pretrained_with_a_state_dict(tmp_path: Path) -> None:
    """``from_pretrained(None, config=, state_dict=)`` and ``from_pretrained(folder, state_dict=)``, as
    transformers: the tensors given are used, the folder's weight files are not read."""
    name = "RobertaPreLayerNormForMaskedLM"
    ref = reference_model(name)
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    config = roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny())
    model, info = ours(name).from_pretrained(None, config=config, state_dict=state, output_loading_info=True)
    _, expected = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(
        None, config=ref.config, state_dict=state, output_loading_info=True)
    assert our_info(info) == ref_info(expected) and not info["missing_keys"]
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))
    assert not model.training and model.lm_head.decoder.weight is model.get_input_embeddings().weight

    config.save_pretrained(tmp_path / "config_only")  # a folder without weights: the state dict is enough
    again = ours(name).from_pretrained(tmp_path / "config_only", state_dict=state)
    close(main_output(again, name, ids, mask), main_output(ref, name, ids, mask))
    base = {k.removeprefix("roberta_prelayernorm."): v for k, v in state.items() if k.startswith("roberta_")}
    bare, info = ours("RobertaPreLayerNormModel").from_pretrained(None, config=config, state_dict=base,
                                                                  output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["pooler.dense.bias", "pooler.dense.weight"]
    with pytest.raises(ValueError, match="config= and state_dict="):
        ours(name).from_pretrained(None, state_dict=state)
    with pytest.raises(ValueError, match="config= and state_dict="):
        ours(name).from_pretrained(None, config=config)
    with pytest.raises(TypeError, match="state_dict must be a dict of tensors"):
        ours(name).from_pretrained(None, config=config, state_dict={"a": [1.0]})


def make_subfolder_repo(root: Path) -> tuple[Path, torch.nn.Module]:
    """A model with its tokenizer in ``sub/`` of a folder (and nothing at the top)."""
    model = reference_model("RobertaPreLayerNormForMaskedLM", seed=3)
    model.save_pretrained(root / "sub")
    for f in FIXTURE_TOKENIZER.iterdir():
        (root / "sub" / f.name).write_bytes(f.read_bytes())
    return root, model


@pytest.mark.parametrize("where", ["local", "hub"])
def test_subfolder_for_config_model_and_tokenizer(tmp_path: Path, where: str) -> None:
    name = "RobertaPreLayerNormForMaskedLM"
    if where == "local":
        path, ref = make_subfolder_repo(tmp_path / "repo")
        hub: dict = {}
    else:  # a prepared offline cache whose snapshot holds the model in sub/
        _, ref = make_subfolder_repo(tmp_path / "cache" / "models--org--name" / "snapshots" / COMMITS[0])
        (tmp_path / "cache" / "models--org--name" / "refs").mkdir()
        (tmp_path / "cache" / "models--org--name" / "refs" / "main").write_text(COMMITS[0])
        path, hub = "org/name", {"cache_dir": tmp_path / "cache", "local_files_only": True}
    config = roberta_prelayernorm.RobertaPreLayerNormConfig.from_pretrained(path, subfolder="sub", **hub)
    assert config.architectures == [name] and not hasattr(config, "subfolder")
    model = ours(name).from_pretrained(path, subfolder="sub", **hub)
    assert not hasattr(model.config, "subfolder")
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(path, subfolder="sub", **hub)
    ids, mask = batch()
    close(main_output(model, name, ids, mask), main_output(theirs, name, ids, mask))
    close(main_output(model, name, ids, mask), main_output(ref, name, ids, mask))
    tokenizer = roberta_prelayernorm.RobertaTokenizer.from_pretrained(path, subfolder="sub", **hub)
    their_tokenizer = transformers.AutoTokenizer.from_pretrained(path, subfolder="sub", **hub)
    assert tokenizer("a cat sat")["input_ids"] == their_tokenizer("a cat sat")["input_ids"]
    with pytest.raises(CheckpointError):
        ours(name).from_pretrained(path, subfolder="elsewhere", **hub)


@pytest.mark.golden
def test_generation_config_saved_and_loaded_with_the_model(golden_configs: dict, tmp_path: Path) -> None:
    """The causal LM writes ``generation_config.json`` beside ``config.json`` (as 4.37.2 does, legacy
    generation parameters of the model config included) and reads it back; other heads write none."""
    written = golden_configs["saved"]["defaults"]["written"]
    config = roberta_prelayernorm.RobertaPreLayerNormConfig(**written)
    lm = ours("RobertaPreLayerNormForCausalLM")(config)
    for cls, can in golden_configs["can_generate"].items():
        assert ours(cls)(roberta_prelayernorm.RobertaPreLayerNormConfig(**written)).can_generate() == can, cls
    lm.save_pretrained(tmp_path / "lm")
    saved = json.loads((tmp_path / "lm" / "generation_config.json").read_text())
    assert saved == golden_configs["generation_config_json"]
    ours("RobertaPreLayerNormForMaskedLM")(config).save_pretrained(tmp_path / "mlm")
    assert not (tmp_path / "mlm" / "generation_config.json").exists()

    legacy = roberta_prelayernorm.RobertaPreLayerNormConfig(**written, max_length=40, num_beams=4,
                                                            no_repeat_ngram_size=3)
    ours("RobertaPreLayerNormForCausalLM")(legacy).save_pretrained(tmp_path / "legacy")
    saved = json.loads((tmp_path / "legacy" / "generation_config.json").read_text())
    assert saved == golden_configs["generation_config_json_from_legacy"]

    lm.generation_config = lm.generation_config.updated(num_beams=3, max_new_tokens=4, repetition_penalty=1.3)
    lm.save_pretrained(tmp_path / "custom")
    loaded = ours("RobertaPreLayerNormForCausalLM").from_pretrained(tmp_path / "custom")
    assert (loaded.generation_config.num_beams, loaded.generation_config.max_new_tokens) == (3, 4)
    theirs = transformers.GenerationConfig.from_pretrained(tmp_path / "custom")
    assert (theirs.num_beams, theirs.max_new_tokens, theirs.repetition_penalty, theirs.eos_token_id) == (3, 4, 1.3, 2)
    ids = torch.randint(3, 99, (2, 5), generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded.generate(ids), loaded.generate(ids, generation_config=rp_generation_config(
        num_beams=3, max_new_tokens=4, repetition_penalty=1.3, bos_token_id=0, eos_token_id=2, pad_token_id=1)))


def rp_generation_config(**kwargs: object):
    from roberta_prelayernorm import GenerationConfig

    return GenerationConfig(**kwargs)


def test_resize_to_a_fractional_multiple_is_a_value_error(tmp_path: Path) -> None:
    model = ours("RobertaPreLayerNormForMaskedLM")(roberta_prelayernorm.RobertaPreLayerNormConfig(**tiny()))
    with pytest.raises(ValueError):
        reference_model("RobertaPreLayerNormForMaskedLM").resize_token_embeddings(100, pad_to_multiple_of=1.3)
    for kwargs, match in (({"pad_to_multiple_of": 1.3}, "pad_to_multiple_of must be an integer"),
                          ({"pad_to_multiple_of": 0}, "pad_to_multiple_of must be positive"),
                          ({"new_num_tokens": 100.0}, "new_num_tokens must be an integer")):
        with pytest.raises(ValueError, match=match):
            model.resize_token_embeddings(kwargs.pop("new_num_tokens", 100), **kwargs)
    assert model.config.vocab_size == 99
