"""Bad inputs raise a catchable error (ValueError, TypeError or OSError) that names the problem.

Never an IndexError / RuntimeError from deep inside torch, and never a silent wrong answer. Where a
boundary is checked (38 tokens fit a 40-row position table with pad id 1), the accepted side is
compared with the reference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
import transformers
from model_helpers import batch, reference_model, tiny

import roberta_prelayernorm
from roberta_prelayernorm import CheckpointError, RobertaPreLayerNormConfig
from roberta_prelayernorm.core.errors import CheckpointShapeError

CATCHABLE = (ValueError, TypeError, OSError)
TORCH_INTERNAL = (IndexError, RuntimeError)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is several times faster than two on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def raises_cleanly(call: Callable[[], Any], match: str, expected: type | tuple = CATCHABLE) -> BaseException:
    """``call`` raises ``expected`` whose message matches ``match``; never a torch IndexError / RuntimeError."""
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value
    assert not isinstance(error, TORCH_INTERNAL), f"torch-internal {type(error).__name__}: {error}"
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    assert re.search(match, str(error)), f"{match!r} not in {type(error).__name__}: {str(error)!r}"
    return error


def ours(name: str, **config: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return getattr(roberta_prelayernorm, name)(RobertaPreLayerNormConfig(**tiny(**config))).eval()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return ours("RobertaPreLayerNormModel")


# ---------------------------------------------------------------------------------------- forward inputs
IDS, MASK = batch()
EMBEDS = torch.randn(3, 9, 32)
AT_3 = torch.tensor([3])

FORWARD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "token id negative": ({"input_ids": IDS.clone().index_fill_(1, AT_3, -1)}, r"input_ids.*-1.*vocab_size"),
    "token id too large": ({"input_ids": IDS.clone().index_fill_(1, AT_3, 99)}, r"input_ids.*99.*vocab_size"),
    "token type too large": ({"input_ids": IDS, "token_type_ids": torch.full_like(IDS, 2)},
                             r"token_type.*type_vocab_size"),
    "token type negative": ({"input_ids": IDS, "token_type_ids": torch.full_like(IDS, -1)},
                            r"token_type.*type_vocab_size"),
    "39 tokens": ({"input_ids": torch.full((1, 39), 5)}, r"max_position_embeddings.*38 tokens"),
    "39 embedded tokens": ({"inputs_embeds": torch.randn(1, 39, 32)}, r"max_position_embeddings.*38 tokens"),
    "position id too large": ({"input_ids": IDS, "position_ids": torch.full_like(IDS, 40)}, r"position.*max_position"),
    "2-D mask too short": ({"input_ids": IDS, "attention_mask": MASK[:, :5]}, r"attention_mask.*shape"),
    "2-D mask wrong batch": ({"input_ids": IDS, "attention_mask": MASK[:2]}, r"attention_mask.*shape"),
    "3-D mask wrong keys": ({"input_ids": IDS, "attention_mask": torch.ones(3, 9, 8)}, r"attention_mask.*shape"),
    "3-D mask wrong queries": ({"input_ids": IDS, "attention_mask": torch.ones(3, 4, 9)}, r"attention_mask.*shape"),
    "1-D mask": ({"input_ids": IDS, "attention_mask": torch.ones(9)}, r"attention_mask.*shape"),
    "mask not a tensor": ({"input_ids": IDS, "attention_mask": MASK.tolist()}, r"attention_mask.*Tensor"),
    "float input_ids": ({"input_ids": IDS.float()}, r"input_ids.*integer"),
    "bool input_ids": ({"input_ids": IDS > 3}, r"input_ids.*integer"),
    "list input_ids": ({"input_ids": IDS.tolist()}, r"input_ids.*Tensor"),
    "1-D input_ids": ({"input_ids": IDS[0]}, r"input_ids.*shape"),
    "both ids and embeds": ({"input_ids": IDS, "inputs_embeds": EMBEDS}, r"input_ids.*inputs_embeds"),
    "neither ids nor embeds": ({}, r"input_ids.*inputs_embeds"),
    "embeds too narrow": ({"inputs_embeds": torch.randn(3, 9, 31)}, r"inputs_embeds.*hidden_size"),
    "embeds 2-D": ({"inputs_embeds": torch.randn(9, 32)}, r"inputs_embeds.*shape"),
    "embeds integer": ({"inputs_embeds": torch.zeros(3, 9, 32, dtype=torch.long)}, r"inputs_embeds.*floating"),
    "head_mask wrong heads": ({"input_ids": IDS, "head_mask": torch.ones(3)}, r"head_mask.*shape"),
    "head_mask wrong layers": ({"input_ids": IDS, "head_mask": torch.ones(3, 4)}, r"head_mask.*shape"),
    "head_mask 3-D": ({"input_ids": IDS, "head_mask": torch.ones(2, 4, 1)}, r"head_mask.*shape"),
    "encoder states without cross-attention": (
        {"input_ids": IDS, "encoder_hidden_states": torch.randn(3, 5, 32)}, r"cross-attention"),
}


@pytest.mark.parametrize("case", list(FORWARD_CASES))
def test_bad_forward_input(model: torch.nn.Module, case: str) -> None:
    kwargs, match = FORWARD_CASES[case]
    with torch.no_grad():
        raises_cleanly(lambda: model(**kwargs), match)


# found while writing the cases above: shapes and dtypes that reach torch unchecked
UNCHECKED_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "token_type_ids wrong shape": ({"input_ids": IDS, "token_type_ids": torch.zeros(3, 4, dtype=torch.long)},
                                   r"token_type_ids.*shape"),
    "position_ids wrong shape": ({"input_ids": IDS, "position_ids": torch.zeros(3, 4, dtype=torch.long)},
                                 r"position_ids.*shape"),
    "float token_type_ids": ({"input_ids": IDS, "token_type_ids": torch.zeros(3, 9)}, r"token_type_ids.*integer"),
    "float position_ids": ({"input_ids": IDS, "position_ids": torch.zeros(3, 9)}, r"position_ids.*integer"),
    "empty sequence": ({"input_ids": torch.zeros(1, 0, dtype=torch.long)}, r"input_ids.*(empty|length|shape)"),
    "float64 embeds into float32 model": ({"inputs_embeds": EMBEDS.double()}, r"inputs_embeds.*dtype"),
}


@pytest.mark.parametrize("case", list(UNCHECKED_CASES))
def test_bad_forward_input_reaching_torch(model: torch.nn.Module, case: str) -> None:
    kwargs, match = UNCHECKED_CASES[case]
    with torch.no_grad():
        raises_cleanly(lambda: model(**kwargs), match)


def test_encoder_states_of_wrong_width() -> None:
    decoder = ours("RobertaPreLayerNormModel", is_decoder=True, add_cross_attention=True)
    with torch.no_grad():
        raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=torch.randn(3, 5, 31)),
                       r"encoder_hidden_states.*(hidden_size|shape)")


def test_encoder_mask_of_wrong_shape() -> None:
    decoder = ours("RobertaPreLayerNormModel", is_decoder=True, add_cross_attention=True)
    with torch.no_grad():
        raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=torch.randn(3, 5, 32),
                                       encoder_attention_mask=torch.ones(3, 4)), r"encoder_attention_mask.*shape")


def test_longest_sequence_fits_and_matches_reference(tmp_path: Path) -> None:
    """max_position_embeddings=40 with pad id 1 leaves positions 2..39: 38 tokens work, 39 do not."""
    ref = reference_model("RobertaPreLayerNormModel")
    ref.save_pretrained(tmp_path)
    model = roberta_prelayernorm.RobertaPreLayerNormModel.from_pretrained(tmp_path)
    ids = torch.randint(3, 99, (2, 38), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).last_hidden_state, ref(ids).last_hidden_state, atol=1e-5, rtol=0)
        torch.testing.assert_close(model(inputs_embeds=ref.embeddings.word_embeddings(ids)).last_hidden_state,
                                   ref(inputs_embeds=ref.embeddings.word_embeddings(ids)).last_hidden_state,
                                   atol=1e-5, rtol=0)
        # the reference fails inside torch one token later; we raise a clear error instead
        with pytest.raises((IndexError, RuntimeError)):
            ref(torch.full((1, 39), 5))
        raises_cleanly(lambda: model(torch.full((1, 39), 5)), r"38 tokens")
        # right padding does not count: 38 tokens plus padding still fit
        padded = torch.cat([ids, torch.ones(2, 2, dtype=torch.long)], dim=1)
        mask = (padded != 1).long()
        torch.testing.assert_close(model(padded, attention_mask=mask).last_hidden_state[:, :38],
                                   ref(padded, attention_mask=mask).last_hidden_state[:, :38], atol=1e-5, rtol=0)


def test_multiple_choice_needs_choices() -> None:
    mc = ours("RobertaPreLayerNormForMultipleChoice")
    with torch.no_grad():
        raises_cleanly(lambda: mc(IDS), r"choices")


# ---------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("kwargs, match", [
    ({"vocab_size": 0}, r"vocab_size"),
    ({"type_vocab_size": 0}, r"type_vocab_size"),
    ({"hidden_size": "32"}, r"hidden_size"),
    ({"hidden_size": 30, "num_attention_heads": 4}, r"hidden_size \(30\).*num_attention_heads \(4\)"),
    ({"pad_token_id": 99}, r"pad_token_id"),
])
def test_sizes_a_model_cannot_have(kwargs: dict, match: str) -> None:
    """Accepted by the config, as by the reference's; refused when a model is built (or on validate())."""
    config = RobertaPreLayerNormConfig(**tiny(**kwargs))
    raises_cleanly(config.validate, match, ValueError)
    raises_cleanly(lambda: roberta_prelayernorm.RobertaPreLayerNormModel(config), match, ValueError)


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden_act": "tanhh"}, r"hidden_act"),
    ({"position_embedding_type": "rotary"}, r"position_embedding_type"),
    ({"problem_type": "ranking"}, r"problem_type"),
    ({"hidden_dropout_prob": 1.5}, r"hidden_dropout_prob"),
    ({"num_labels": 0}, r"num_labels"),
    ({"num_labels": 3, "id2label": {0: "a"}}, r"num_labels.*id2label"),
])
def test_bad_config(kwargs: dict, match: str) -> None:
    raises_cleanly(lambda: RobertaPreLayerNormConfig(**tiny(**kwargs)), match, ValueError)


@pytest.mark.parametrize("name", ["RobertaPreLayerNormModel", "RobertaPreLayerNormForMaskedLM"])
def test_heads_must_divide_hidden_size_when_the_model_is_built(name: str) -> None:
    """As the reference: the config is accepted, building a model from it raises, naming both numbers."""
    config = RobertaPreLayerNormConfig(**tiny(hidden_size=30, num_attention_heads=4))
    transformers.RobertaPreLayerNormConfig(**tiny(hidden_size=30, num_attention_heads=4))  # accepted there too
    with pytest.raises(ValueError):
        getattr(transformers, name)(transformers.RobertaPreLayerNormConfig(**tiny(hidden_size=30,
                                                                                   num_attention_heads=4)))
    raises_cleanly(lambda: getattr(roberta_prelayernorm, name)(config), r"hidden_size \(30\).*num_attention_heads \(4\)",
                   ValueError)
    raises_cleanly(config.validate, r"hidden_size \(30\).*num_attention_heads \(4\)", ValueError)


def test_cross_attention_needs_decoder() -> None:
    config = RobertaPreLayerNormConfig(**tiny(add_cross_attention=True))
    for name in ("RobertaPreLayerNormModel", "RobertaPreLayerNormForCausalLM"):
        raises_cleanly(lambda: getattr(roberta_prelayernorm, name)(config), r"is_decoder", ValueError)


def test_config_must_be_a_config() -> None:
    raises_cleanly(lambda: roberta_prelayernorm.RobertaPreLayerNormModel(tiny()), r"RobertaPreLayerNormConfig",
                   TypeError)


# ------------------------------------------------------------------------------------------------ labels
LABEL_CASES: dict[str, tuple[str, dict, dict[str, torch.Tensor]]] = {
    "masked lm: too short": ("RobertaPreLayerNormForMaskedLM", {}, {"labels": IDS[:, :8]}),
    "masked lm: flat": ("RobertaPreLayerNormForMaskedLM", {}, {"labels": IDS.flatten()}),
    "causal lm: wrong batch": ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}, {"labels": IDS[:2]}),
    "causal lm: too long": ("RobertaPreLayerNormForCausalLM", {"is_decoder": True},
                            {"labels": torch.cat([IDS, IDS[:, :1]], 1)}),
    "single-label: wrong batch": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3},
                                  {"labels": torch.tensor([0, 1, 2, 0])}),
    "single-label: per token": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3},
                                {"labels": torch.zeros(3, 9, dtype=torch.long)}),
    "multi-label: too few labels": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3},
                                    {"labels": torch.zeros(3, 2)}),
    "multi-label: explicit, flat": ("RobertaPreLayerNormForSequenceClassification",
                                    {"num_labels": 3, "problem_type": "multi_label_classification"},
                                    {"labels": torch.zeros(9)}),
    "regression: wrong batch": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1},
                                {"labels": torch.zeros(4)}),
    "regression: two targets": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1},
                                {"labels": torch.zeros(3, 2)}),
    "regression, 2 outputs: flat": ("RobertaPreLayerNormForSequenceClassification",
                                    {"num_labels": 2, "problem_type": "regression"}, {"labels": torch.zeros(3)}),
    "token classification: too short": ("RobertaPreLayerNormForTokenClassification", {"num_labels": 3},
                                        {"labels": torch.zeros(3, 8, dtype=torch.long)}),
    "token classification: per sequence": ("RobertaPreLayerNormForTokenClassification", {"num_labels": 3},
                                           {"labels": torch.zeros(3, dtype=torch.long)}),
    "qa: start wrong batch": ("RobertaPreLayerNormForQuestionAnswering", {},
                              {"start_positions": torch.tensor([1, 2]), "end_positions": torch.tensor([1, 2, 3])}),
    "qa: end per token": ("RobertaPreLayerNormForQuestionAnswering", {},
                          {"start_positions": torch.tensor([1, 2, 3]), "end_positions": torch.zeros(3, 9).long()}),
    "multiple choice: per choice": ("RobertaPreLayerNormForMultipleChoice", {},
                                    {"labels": torch.tensor([0, 1, 2])}),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_labels_of_wrong_shape(case: str) -> None:
    name, config, labels = LABEL_CASES[case]
    model = ours(name, **config)
    inputs = {"input_ids": IDS[None], "attention_mask": MASK[None]} if "MultipleChoice" in name else {
        "input_ids": IDS, "attention_mask": MASK}
    which = "start_positions|end_positions" if "QuestionAnswering" in name else "labels"
    with torch.no_grad():
        raises_cleanly(lambda: model(**inputs, **labels), rf"({which}).*shape", ValueError)


@pytest.mark.parametrize("name, config, labels", [
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1}, torch.randn(3)),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1}, torch.randn(3, 1)),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3}, torch.tensor([0, 2, 1])),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3}, torch.tensor([[0], [2], [1]])),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3},
     torch.tensor([[0.0, 1, 1], [1, 0, 0], [0, 0, 1]])),
    ("RobertaPreLayerNormForTokenClassification", {"num_labels": 3}, (IDS % 3).masked_fill(MASK == 0, -100)),
    ("RobertaPreLayerNormForMaskedLM", {}, IDS.masked_fill(MASK == 0, -100)),
    ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}, IDS.masked_fill(MASK == 0, -100)),
])
def test_accepted_label_shapes_give_reference_loss(tmp_path: Path, name: str, config: dict,
                                                   labels: torch.Tensor) -> None:
    """The shape checks do not refuse what the reference accepts, and the loss is the reference's."""
    ref = reference_model(name, **config)
    ref.save_pretrained(tmp_path)
    model = getattr(roberta_prelayernorm, name).from_pretrained(tmp_path)
    with torch.no_grad():
        expected = ref(input_ids=IDS, attention_mask=MASK, labels=labels).loss
        got = model(input_ids=IDS, attention_mask=MASK, labels=labels).loss
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, config", [
    ("RobertaPreLayerNormForTokenClassification", {"num_labels": 3}),
    ("RobertaPreLayerNormForMaskedLM", {}),
    ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}),
])
def test_labels_at_padding_count_as_in_reference(tmp_path: Path, name: str, config: dict) -> None:
    """Labels that are not -100 at padded positions enter the reference's loss with the reference's logits
    there; a loss computed from zeroed padding logits would be silently different."""
    ref = reference_model(name, **config)
    ref.save_pretrained(tmp_path)
    model = getattr(roberta_prelayernorm, name).from_pretrained(tmp_path)
    labels = IDS % 3  # every position labelled, padding included
    with torch.no_grad():
        expected = ref(input_ids=IDS, attention_mask=MASK, labels=labels).loss
        got = model(input_ids=IDS, attention_mask=MASK, labels=labels).loss
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


# labels with the right shape but impossible values: torch raises IndexError / RuntimeError deep inside
@pytest.mark.parametrize("name, config, labels, match", [
    ("RobertaPreLayerNormForMaskedLM", {}, torch.full_like(IDS, 200), r"labels.*(vocab|range|outside)"),
    ("RobertaPreLayerNormForMaskedLM", {}, torch.zeros(3, 9), r"labels.*(integer|dtype)"),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3}, torch.tensor([0, 1, 7]),
     r"labels.*(num_labels|range|outside)"),
    ("RobertaPreLayerNormForTokenClassification", {"num_labels": 3}, torch.full_like(IDS, 5),
     r"labels.*(num_labels|range|outside)"),
])
def test_label_values_out_of_range(name: str, config: dict, labels: torch.Tensor, match: str) -> None:
    model = ours(name, **config)
    with torch.no_grad():
        raises_cleanly(lambda: model(input_ids=IDS, attention_mask=MASK, labels=labels), match, (ValueError, TypeError))


# ---------------------------------------------------------------------------------------------- loading
MLM = "RobertaPreLayerNormForMaskedLM"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    reference_model(MLM).save_pretrained(folder)
    torch.save(reference_model(MLM).state_dict(), folder.parent / "pytorch_model.bin")
    return folder


def copy_of(good: Path, tmp_path: Path, weights: bool = True) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(good / "config.json", folder)
    if weights:
        shutil.copy(good / "model.safetensors", folder)
    return folder


def load(path: Path | str, **kwargs: Any) -> Callable[[], Any]:
    return lambda: getattr(roberta_prelayernorm, MLM).from_pretrained(path, **kwargs)


def test_missing_path(tmp_path: Path) -> None:
    raises_cleanly(load(tmp_path / "does-not-exist"), r"does-not-exist.*(does not exist|not found)", CheckpointError)


def test_missing_relative_path_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path that does not exist looks like a hub id; offline, the message must still help."""
    monkeypatch.chdir(tmp_path)
    raises_cleanly(load("no-such-folder", cache_dir=tmp_path / "cache", local_files_only=True),
                   r"no-such-folder.*(not a local folder|does not exist|not in the cache)", CheckpointError)


def test_empty_folder(tmp_path: Path) -> None:
    raises_cleanly(load(tmp_path), r"config\.json", CheckpointError)


def test_config_but_no_weights(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path, weights=False)
    raises_cleanly(load(folder), r"no weights.*model\.safetensors.*pytorch_model\.bin", CheckpointError)


def test_truncated_safetensors(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    raises_cleanly(load(folder), r"model\.safetensors.*(truncated|corrupt)", CheckpointError)


def test_corrupt_safetensors(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path)
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    raises_cleanly(load(folder), r"model\.safetensors.*(truncated|corrupt)", CheckpointError)


def test_truncated_pytorch_bin(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path, weights=False)
    data = (good.parent / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    raises_cleanly(load(folder), r"pytorch_model\.bin.*(truncated|corrupt)", CheckpointError)


def test_missing_shard(tmp_path: Path) -> None:
    reference_model(MLM).save_pretrained(tmp_path, max_shard_size="20KB")
    (tmp_path / "model-00002-of-00005.safetensors").unlink()
    raises_cleanly(load(tmp_path), r"model-00002-of-00005\.safetensors", CheckpointError)


def test_shard_index_not_json(tmp_path: Path) -> None:
    reference_model(MLM).save_pretrained(tmp_path, max_shard_size="20KB")
    (tmp_path / "model.safetensors.index.json").write_text("{")
    raises_cleanly(load(tmp_path), r"index", CheckpointError)


@pytest.mark.parametrize("text", ["{not json", "", '{"hidden_size": 32,}'])
def test_config_not_json(good: Path, tmp_path: Path, text: str) -> None:
    folder = copy_of(good, tmp_path)
    (folder / "config.json").write_text(text)
    raises_cleanly(load(folder), r"config\.json.*JSON", OSError)
    raises_cleanly(lambda: RobertaPreLayerNormConfig.from_pretrained(folder), r"config\.json.*JSON", OSError)


def test_config_json_not_an_object(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path)
    (folder / "config.json").write_text("[1, 2, 3]")
    raises_cleanly(load(folder), r"config\.json.*(object|dict)", OSError)


def test_config_path_is_a_weights_file(good: Path) -> None:
    """Passing the safetensors file instead of the folder: the config reader must say what is wrong."""
    raises_cleanly(lambda: RobertaPreLayerNormConfig.from_pretrained(good / "model.safetensors"),
                   r"model\.safetensors.*(JSON|config)", OSError)


def test_config_values_invalid_in_file(good: Path, tmp_path: Path) -> None:
    folder = copy_of(good, tmp_path)
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**data, "num_attention_heads": 5}))
    raises_cleanly(load(folder), r"hidden_size.*num_attention_heads", ValueError)


@pytest.mark.parametrize("override, key", [
    ({"hidden_size": 64, "num_attention_heads": 4}, r"word_embeddings|LayerNorm|dense"),
    ({"vocab_size": 100}, r"word_embeddings"),
    ({"max_position_embeddings": 50}, r"position_embeddings"),
    ({"intermediate_size": 40}, r"intermediate\.dense"),
])
def test_checkpoint_shapes_do_not_fit_config(good: Path, override: dict, key: str) -> None:
    error = raises_cleanly(load(good, **override), key, CheckpointShapeError)
    assert isinstance(error, OSError) and isinstance(error, ValueError)
    # the reference refuses the same checkpoint too
    with pytest.raises(Exception):
        transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(good, **override)


def test_unknown_dtype(good: Path) -> None:
    raises_cleanly(load(good, torch_dtype="float17"), r"float17", ValueError)
    raises_cleanly(load(good, torch_dtype=torch.int8), r"floating", ValueError)
