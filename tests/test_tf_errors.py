"""Bad inputs to the TF classes raise what the PyTorch classes raise (ValueError / TypeError naming the
problem, never a TensorFlow InvalidArgumentError from inside a kernel), and the environment check."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any, Callable

import numpy as np
import pytest

from model_helpers import tiny
from tf_helpers import batch, tf

import roberta_prelayernorm as rp
from roberta_prelayernorm.tf.backend import check_versions

pytestmark = pytest.mark.tf

IDS, MASK = batch(3, 9)
EMBEDS = np.random.RandomState(0).randn(3, 9, 32).astype(np.float32)


def with_value(ids: np.ndarray, value: int) -> np.ndarray:
    ids = ids.copy()
    ids[:, 3] = value
    return ids


def raises_cleanly(call: Callable[[], Any], match: str, expected: type | tuple = (ValueError, TypeError)) -> None:
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value
    assert not isinstance(error, tf.errors.OpError), f"TensorFlow-internal {type(error).__name__}: {error}"
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    assert re.search(match, str(error)), f"{match!r} not in {type(error).__name__}: {str(error)!r}"
    assert "Arguments received by" not in str(error)  # our message, not Keras's wrapping of it


def ours(head: str = "Model", **config: Any) -> Any:
    return getattr(rp, f"TFRobertaPreLayerNorm{head}")(rp.RobertaPreLayerNormConfig(**tiny(**config)))


@pytest.fixture(scope="module")
def model() -> Any:
    return ours()


FORWARD_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "token id negative": ({"input_ids": with_value(IDS, -1)}, r"input_ids.*-1.*vocab_size"),
    "token id too large": ({"input_ids": with_value(IDS, 99)}, r"input_ids.*99.*vocab_size"),
    "token type too large": ({"input_ids": IDS, "token_type_ids": np.full_like(IDS, 2)},
                             r"token_type.*type_vocab_size"),
    "token type negative": ({"input_ids": IDS, "token_type_ids": np.full_like(IDS, -1)},
                            r"token_type.*type_vocab_size"),
    "39 tokens": ({"input_ids": np.full((1, 39), 5)}, r"max_position_embeddings.*38 tokens"),
    "39 embedded tokens": ({"inputs_embeds": np.zeros((1, 39, 32), np.float32)}, r"max_position_embeddings.*38 tokens"),
    "position id too large": ({"input_ids": IDS, "position_ids": np.full_like(IDS, 40)}, r"position.*max_position"),
    "2-D mask too short": ({"input_ids": IDS, "attention_mask": MASK[:, :5]}, r"attention_mask.*shape"),
    "2-D mask wrong batch": ({"input_ids": IDS, "attention_mask": MASK[:2]}, r"attention_mask.*shape"),
    "3-D mask wrong keys": ({"input_ids": IDS, "attention_mask": np.ones((3, 9, 8))}, r"attention_mask.*shape"),
    "3-D mask wrong queries": ({"input_ids": IDS, "attention_mask": np.ones((3, 4, 9))}, r"attention_mask.*shape"),
    "1-D mask": ({"input_ids": IDS, "attention_mask": np.ones(9)}, r"attention_mask.*shape"),
    "float input_ids": ({"input_ids": IDS.astype(np.float32)}, r"input_ids.*integer"),
    "bool input_ids": ({"input_ids": IDS > 3}, r"input_ids.*integer"),
    "string input_ids": ({"input_ids": np.array([["a", "b"]])}, r"input_ids.*integer"),
    "1-D input_ids": ({"input_ids": IDS[0]}, r"input_ids.*shape"),
    "both ids and embeds": ({"input_ids": IDS, "inputs_embeds": EMBEDS}, r"input_ids.*inputs_embeds"),
    "neither ids nor embeds": ({}, r"input_ids.*inputs_embeds"),
    "embeds too narrow": ({"inputs_embeds": EMBEDS[..., :31]}, r"inputs_embeds.*hidden_size"),
    "embeds 2-D": ({"inputs_embeds": EMBEDS[0]}, r"inputs_embeds.*shape"),
    "embeds integer": ({"inputs_embeds": np.zeros((3, 9, 32), np.int32)}, r"inputs_embeds.*float"),
    "head_mask wrong heads": ({"input_ids": IDS, "head_mask": np.ones(3)}, r"head_mask.*shape"),
    "head_mask wrong layers": ({"input_ids": IDS, "head_mask": np.ones((3, 4))}, r"head_mask.*shape"),
    "head_mask 3-D": ({"input_ids": IDS, "head_mask": np.ones((2, 4, 1))}, r"head_mask.*shape"),
    "encoder states without cross-attention": (
        {"input_ids": IDS, "encoder_hidden_states": np.zeros((3, 5, 32), np.float32)}, r"cross-attention"),
    "token_type_ids wrong shape": ({"input_ids": IDS, "token_type_ids": np.zeros((3, 4), np.int32)},
                                   r"token_type_ids.*shape"),
    "position_ids wrong shape": ({"input_ids": IDS, "position_ids": np.zeros((3, 4), np.int32)},
                                 r"position_ids.*shape"),
    "float token_type_ids": ({"input_ids": IDS, "token_type_ids": np.zeros((3, 9), np.float32)},
                             r"token_type_ids.*integer"),
    "float position_ids": ({"input_ids": IDS, "position_ids": np.zeros((3, 9), np.float32)}, r"position_ids.*integer"),
    "empty sequence": ({"input_ids": np.zeros((1, 0), np.int32)}, r"input_ids.*(empty|length|shape)"),
    "mask of objects": ({"input_ids": IDS, "attention_mask": object()}, r"attention_mask.*(tensor|array)"),
    "unknown input": ({"input_ids": IDS, "labels_": IDS}, r"unexpected inputs.*labels_"),
}


@pytest.mark.parametrize("case", list(FORWARD_CASES))
def test_bad_forward_input(model: Any, case: str) -> None:
    kwargs, match = FORWARD_CASES[case]
    raises_cleanly(lambda: model(**kwargs), match)


def test_encoder_states_and_mask_of_wrong_shape() -> None:
    decoder = ours(is_decoder=True, add_cross_attention=True)
    raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=np.zeros((3, 5, 31), np.float32)),
                   r"encoder_hidden_states.*(hidden_size|shape)")
    raises_cleanly(lambda: decoder(IDS, encoder_hidden_states=np.zeros((3, 5, 32), np.float32),
                                   encoder_attention_mask=np.ones((3, 4))), r"encoder_attention_mask.*shape")


def test_multiple_choice_needs_choices() -> None:
    raises_cleanly(lambda: ours("ForMultipleChoice")(IDS), r"multiple choice.*\(batch, choices, length\)")


def test_config_errors() -> None:
    raises_cleanly(lambda: rp.TFRobertaPreLayerNormModel({"hidden_size": 32}), r"RobertaPreLayerNormConfig", TypeError)
    raises_cleanly(lambda: ours(add_cross_attention=True), r"add_cross_attention.*is_decoder")
    raises_cleanly(lambda: ours("ForQuestionAnswering", num_labels=3), r"num_labels=2")


LABEL_CASES: dict[str, tuple[str, dict, dict[str, np.ndarray]]] = {
    "masked lm: too short": ("ForMaskedLM", {}, {"labels": IDS[:, :8]}),
    "masked lm: flat": ("ForMaskedLM", {}, {"labels": IDS.flatten()}),
    "causal lm: wrong batch": ("ForCausalLM", {"is_decoder": True}, {"labels": IDS[:2]}),
    "causal lm: too long": ("ForCausalLM", {"is_decoder": True}, {"labels": np.concatenate([IDS, IDS[:, :1]], 1)}),
    "single-label: wrong batch": ("ForSequenceClassification", {"num_labels": 3}, {"labels": np.array([0, 1, 2, 0])}),
    "single-label: per token": ("ForSequenceClassification", {"num_labels": 3}, {"labels": np.zeros((3, 9), np.int32)}),
    "multi-label: too few labels": ("ForSequenceClassification", {"num_labels": 3}, {"labels": np.zeros((3, 2))}),
    "multi-label: explicit, flat": ("ForSequenceClassification",
                                    {"num_labels": 3, "problem_type": "multi_label_classification"},
                                    {"labels": np.zeros(9)}),
    "regression: wrong batch": ("ForSequenceClassification", {"num_labels": 1}, {"labels": np.zeros(4)}),
    "regression: two targets": ("ForSequenceClassification", {"num_labels": 1}, {"labels": np.zeros((3, 2))}),
    "token classification: too short": ("ForTokenClassification", {"num_labels": 3},
                                        {"labels": np.zeros((3, 8), np.int32)}),
    "token classification: per sequence": ("ForTokenClassification", {"num_labels": 3},
                                           {"labels": np.zeros(3, np.int32)}),
    "qa: start wrong batch": ("ForQuestionAnswering", {},
                              {"start_positions": np.array([1, 2]), "end_positions": np.array([1, 2, 3])}),
    "qa: end per token": ("ForQuestionAnswering", {},
                          {"start_positions": np.array([1, 2, 3]), "end_positions": np.zeros((3, 9), np.int32)}),
    "multiple choice: per choice": ("ForMultipleChoice", {}, {"labels": np.array([0, 1, 2])}),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_labels_of_wrong_shape(case: str) -> None:
    head, config, labels = LABEL_CASES[case]
    model = ours(head, **config)
    inputs = {"input_ids": IDS[None], "attention_mask": MASK[None]} if head == "ForMultipleChoice" else {
        "input_ids": IDS, "attention_mask": MASK}
    which = "start_positions|end_positions" if head == "ForQuestionAnswering" else "labels"
    raises_cleanly(lambda: model(**inputs, **labels), rf"({which}).*shape", ValueError)


@pytest.mark.parametrize("head, config, labels, match", [
    ("ForMaskedLM", {}, np.full_like(IDS, 200), r"labels.*(vocab|range|outside)"),
    ("ForMaskedLM", {}, np.zeros((3, 9), np.float32), r"labels.*(integer|dtype)"),
    ("ForSequenceClassification", {"num_labels": 3}, np.array([0, 1, 7]), r"labels.*(range|outside)"),
    ("ForTokenClassification", {"num_labels": 3}, np.full_like(IDS, 5), r"labels.*(range|outside)"),
    ("ForTokenClassification", {"num_labels": 3}, np.full_like(IDS, -3), r"labels.*(range|outside|-100)"),
    ("ForQuestionAnswering", {}, np.zeros(3, np.float32), r"start_positions.*integer"),
])
def test_label_values_out_of_range(head: str, config: dict, labels: np.ndarray, match: str) -> None:
    model = ours(head, **config)
    key = {"start_positions": labels, "end_positions": np.zeros(3, np.int32)} if head == "ForQuestionAnswering" \
        else {"labels": labels}
    raises_cleanly(lambda: model(input_ids=IDS, attention_mask=MASK, **key), match)


def test_input_list_longer_than_the_signature(model: Any) -> None:
    raises_cleanly(lambda: model([IDS] * 20), r"20 inputs in the list.*at most", TypeError)


# ------------------------------------------------------------------------------------------ environment
@pytest.mark.parametrize("versions, needed", [
    (("2.15.1", "2.15.0", "tensorflow"), r"TensorFlow >= 2\.16 with Keras 3.*found TensorFlow 2\.15\.1"),
    (("2.16.1", "2.15.0", "tensorflow"),
     r"TensorFlow >= 2\.16 with Keras 3.*found Keras 2\.15\.0.*TF_USE_LEGACY_KERAS"),
    (("2.21.0", "3.15.1", "jax"), r"TensorFlow backend.*'jax'.*KERAS_BACKEND=tensorflow"),
])
def test_environment_check_names_the_versions_needed(versions: tuple[str, str, str], needed: str) -> None:
    with pytest.raises(ImportError, match=needed) as caught:
        check_versions(*versions)
    assert "\n" not in str(caught.value)
    check_versions("2.21.0", "3.15.1", "tensorflow")
    check_versions("2.16.0rc0", "3.0.0", "tensorflow")


def test_old_tensorflow_gives_one_import_error_line(tmp_path: Any) -> None:
    """With a TensorFlow older than 2.16 on the path, importing a TF class fails with one clear line."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '2.15.1'\n")
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import roberta_prelayernorm as r\n"
            "try:\n    r.TFRobertaPreLayerNormModel\nexcept ImportError as e:\n    print('ImportError:', e)\n"
            % str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = r"ImportError: the TF classes need TensorFlow >= 2\.16 with Keras 3 .*found TensorFlow 2\.15\.1\n"
    assert re.fullmatch(expected, result.stdout), result.stdout


def test_importing_the_package_imports_no_tensorflow() -> None:
    code = ("import sys, roberta_prelayernorm as r\n"
            "r.RobertaPreLayerNormConfig\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'h5py') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
