"""Every TensorFlow code example of the documentation runs with ``transformers`` replaced by ``roberta_prelayernorm``.

The examples are read from the documentation (``test_doc_examples.DOCS``); the blocks of one class's
section run in order as one example, with the hub id replaced by a folder holding a tiny random model of
the example's class saved by our PyTorch class (so the TF class also reads PyTorch weights here) and the
fixture tokenizer (see ``test_doc_examples.tokenizer_folder``). transformers 5 has no TF classes, so the
oracle is our PyTorch class on the same folder: every call the example makes to the TF model is replayed on
it, and every output they share must agree within 1e-5 (losses: the TF loss's mean).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tf_helpers import ATOL, max_diff, tf, to_torch
from test_doc_examples import DOCS, run_example, tokenizer_folder  # noqa: F401 (tokenizer_folder: a fixture)
from test_pipelines import NO_CLEANUP, model_folder

import roberta_prelayernorm as rp
from roberta_prelayernorm.tf.pretrained import TFRobertaPreLayerNormPreTrainedModel

pytestmark = pytest.mark.tf


def tf_examples() -> list[tuple[str, str]]:
    """(section, code) of each TF section: its ``>>>`` blocks joined in order."""
    sections: dict[str, list[str]] = {}
    section, block, inside = "", [], False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            if inside and any(x.startswith(">>>") for x in block) and section.startswith("TF"):
                sections.setdefault(section, []).append("\n".join(block) + "\n")
            inside, block = not inside, []
        elif inside:
            block.append(line)
    return [(name, "\n".join(blocks)) for name, blocks in sections.items()]


EXAMPLES = tf_examples()


def test_the_documentation_has_seven_tf_examples() -> None:
    assert [s for s, _ in EXAMPLES] == [f"TFRobertaPreLayerNorm{h}" for h in (
        "Model", "ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
        "ForTokenClassification", "ForQuestionAnswering")]


def as_pytorch_kwargs(model: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """One recorded TF call's inputs as PyTorch keyword arguments."""
    names = model.input_names()
    values: dict[str, Any] = {}
    if args:
        first = args[0]
        values = dict(first.items()) if isinstance(first, Mapping) else {names[0]: first}
    values.update(kwargs)
    out = {}
    for key, value in values.items():
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if key == "labels" and array.ndim == 0:
            array = array.reshape(1)  # the TF example's scalar label for a batch of one
        out[key] = to_torch(array)
    return out


@pytest.mark.parametrize("section, code", EXAMPLES, ids=[s for s, _ in EXAMPLES])
def test_tf_example_runs_and_agrees_with_pytorch(section: str, code: str, tmp_path: Path, tokenizer_folder: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class_name = re.search(r"\b(TFRobertaPreLayerNorm(?:Model|For\w+))\b", code).group(1)
    folder = model_folder(tmp_path / "model", class_name[2:], tokenizer=tokenizer_folder, tokenizer_config=NO_CLEANUP,
                          vocab_size=801, max_position_embeddings=130)
    calls: list[tuple[Any, tuple, dict, Any]] = []
    original = TFRobertaPreLayerNormPreTrainedModel.__call__

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        output = original(self, *args, **kwargs)
        calls.append((self, args, kwargs, output))
        return output

    monkeypatch.setattr(TFRobertaPreLayerNormPreTrainedModel, "__call__", recording)
    namespace, _ = run_example(code, "roberta_prelayernorm", folder)
    assert type(namespace["model"]).__name__ == class_name and namespace["tf"] is tf
    assert calls, f"{section}: the example never called the model"
    compared = 0
    for model, args, kwargs, output in calls:
        pt = getattr(rp, class_name[2:]).from_pretrained(folder, num_labels=model.config.num_labels)
        with torch.no_grad():
            expected = pt(**as_pytorch_kwargs(model, args, kwargs))
        for key in expected.keys():
            if key not in output.keys() or key in ("hidden_states", "attentions", "past_key_values"):
                continue
            if key == "loss":
                assert abs(float(tf.reduce_mean(output.loss)) - float(expected.loss)) <= ATOL, section
            else:
                assert max_diff(output[key], expected[key].numpy()) <= ATOL, (section, key)
            compared += 1
    assert compared >= 1
