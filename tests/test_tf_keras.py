"""The TF classes as Keras models: compile + fit on the model's own loss, evaluate, predict, and serving exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tf_helpers import ATOL, batch, max_diff, pair, tf

pytestmark = pytest.mark.tf
keras = pytest.importorskip("keras")

IDS, MASK = batch(8, 9, seed=3)
# a learnable rule: the class is whether token 0 < token 1 (so the loss can fall well below log 2)
LABELS = (IDS[:, 1] < IDS[:, 2]).astype(np.int32)


def test_fit_trains_on_the_labels_in_the_inputs(tmp_path: Path) -> None:
    """compile(optimizer) with no loss, fit on a dataset of dicts holding the labels: the loss falls."""
    _, model = pair(tmp_path, "ForSequenceClassification", num_labels=2)
    data = tf.data.Dataset.from_tensor_slices({"input_ids": IDS, "attention_mask": MASK, "labels": LABELS}).batch(8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(data, verbose=0)
    expected = float(tf.reduce_mean(model(input_ids=IDS, attention_mask=MASK, labels=LABELS).loss))
    assert abs(before - expected) <= ATOL  # evaluate reports the model's own loss
    history = model.fit(data, epochs=12, shuffle=False, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0], history
    after = model.evaluate(data, verbose=0)
    assert after < before
    predicted = model.predict({"input_ids": IDS, "attention_mask": MASK}, batch_size=4, verbose=0)
    assert set(predicted) == {"logits"}
    assert max_diff(predicted["logits"], model(IDS, attention_mask=MASK).logits) <= ATOL


def test_fit_with_keras_targets_and_metrics(tmp_path: Path) -> None:
    """fit(x, y): the targets become the labels; compiled metrics see the logits."""
    _, model = pair(tmp_path, "ForSequenceClassification", num_labels=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = model.fit({"input_ids": IDS, "attention_mask": MASK}, LABELS, batch_size=8, epochs=3, verbose=0).history
    assert set(history) == {"loss", "accuracy"} and history["loss"][-1] < history["loss"][0]
    logits = model(IDS, attention_mask=MASK).logits.numpy()
    _, accuracy = model.evaluate({"input_ids": IDS, "attention_mask": MASK}, LABELS, verbose=0)
    assert accuracy == pytest.approx(float(np.mean(logits.argmax(-1) == LABELS)))
    # a Keras loss instead of the model's own: it gets the logits (here the same cross-entropy)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_loss = model.evaluate({"input_ids": IDS, "attention_mask": MASK}, LABELS, verbose=0, return_dict=True)["loss"]
    own = float(tf.reduce_mean(model(IDS, attention_mask=MASK, labels=LABELS).loss))
    assert abs(keras_loss - own) <= ATOL


def test_fit_without_labels_says_what_is_missing(tmp_path: Path) -> None:
    _, model = pair(tmp_path, "ForMaskedLM")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="no loss.*labels"):
        model.fit({"input_ids": IDS, "attention_mask": MASK}, epochs=1, verbose=0)


def test_question_answering_trains_with_positions(tmp_path: Path) -> None:
    _, model = pair(tmp_path, "ForQuestionAnswering")
    data = {"input_ids": IDS, "attention_mask": MASK, "start_positions": np.full(8, 1), "end_positions": np.full(8, 2)}
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(data, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]


def serve_inputs(model: Any) -> dict[str, tf.Tensor]:
    names = model.input_signature()
    values = {"input_ids": IDS, "attention_mask": MASK, "token_type_ids": np.zeros_like(IDS)}
    return {k: tf.constant(values[k]) for k in names}


@pytest.mark.parametrize("head", ["ForCausalLM", "ForTokenClassification"])
def test_export_reloads_with_the_same_outputs(tmp_path: Path, head: str) -> None:
    """model.export → a SavedModel whose ``serve`` endpoint gives the model's outputs (any batch and length)."""
    _, model = pair(tmp_path / "model", head)
    model.export(tmp_path / "exported", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    inputs = serve_inputs(model)
    served = reloaded.serve(inputs)
    expected = model(inputs)
    assert set(served) == {"logits"}
    assert max_diff(served["logits"], expected.logits, MASK.astype(bool)) <= ATOL
    shorter = {k: v[:2, :5] for k, v in inputs.items()}
    assert max_diff(reloaded.serve(shorter)["logits"], model(shorter).logits) <= ATOL


def test_tf_saved_model_save_has_a_serving_signature(tmp_path: Path) -> None:
    _, model = pair(tmp_path / "model", "Model")
    tf.saved_model.save(model, str(tmp_path / "saved"))
    signature = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    served = signature(**serve_inputs(model))
    expected = model(serve_inputs(model))
    assert set(served) == {"last_hidden_state", "pooler_output"}
    assert max_diff(served["last_hidden_state"], expected.last_hidden_state, MASK.astype(bool)) <= ATOL
    assert max_diff(served["pooler_output"], expected.pooler_output) <= ATOL
