"""Every Flax code example of the documentation runs with ``transformers`` replaced by ``roberta_prelayernorm``.

As in ``test_doc_examples.py`` (whose helpers this reuses), the hub id becomes a local folder with a
tiny random model and the fixture tokenizer. transformers 5 has no Flax classes, so the oracle is our
PyTorch family: the same example with the PyTorch class and ``return_tensors="pt"`` runs on the same
folder, and everything both compute (encodings, model outputs, logits) must agree within 1e-5.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from flax_helpers import ATOL
from test_doc_examples import DOCS, HUB_ID, run_example, tokenizer_folder  # noqa: F401  (a fixture)
from test_pipelines import NO_CLEANUP, model_folder

import jax  # noqa: E402

pytestmark = pytest.mark.flax


def flax_examples() -> list[tuple[str, str]]:
    """(section, code) of each ``>>>`` block of the Flax sections."""
    examples, section, block, inside = [], "", [], False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            if inside and any(x.startswith(">>>") for x in block) and section.startswith("Flax"):
                examples.append((section, "\n".join(block) + "\n"))
            inside, block = not inside, []
        elif inside:
            block.append(line)
    return examples


EXAMPLES = flax_examples()


def as_pytorch(code: str) -> str:
    """The same example for the PyTorch class: ``FlaxX`` → ``X``, JAX/numpy tensors → torch."""
    return re.sub(r'return_tensors="(jax|np)"', 'return_tensors="pt"', code.replace("FlaxRobertaPreLayerNorm",
                                                                                   "RobertaPreLayerNorm"))


def arrays(value: Any) -> dict[str, np.ndarray]:
    """The arrays of a value: itself, or the array fields of a model output / encoding."""
    def convert(x: Any) -> np.ndarray | None:
        if isinstance(x, torch.Tensor):
            return x.detach().numpy()
        if isinstance(x, (np.ndarray, jax.Array)):
            return np.asarray(x)
        return None

    if convert(value) is not None:
        return {"": convert(value)}
    found = {}
    if hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, type):
        for key in value.keys():
            item = convert(value[key])
            if item is not None:
                found[key] = item
    return found


def test_the_documentation_has_seven_flax_examples() -> None:
    assert [s for s, _ in EXAMPLES] == [
        "FlaxRobertaPreLayerNormModel", "FlaxRobertaPreLayerNormForCausalLM", "FlaxRobertaPreLayerNormForMaskedLM",
        "FlaxRobertaPreLayerNormForSequenceClassification", "FlaxRobertaPreLayerNormForMultipleChoice",
        "FlaxRobertaPreLayerNormForTokenClassification", "FlaxRobertaPreLayerNormForQuestionAnswering"]


@pytest.mark.parametrize("section, code", EXAMPLES, ids=[s for s, _ in EXAMPLES])
def test_flax_example_runs_and_agrees_with_pytorch(section: str, code: str, tmp_path: Path,
                                                   tokenizer_folder: Path) -> None:  # noqa: F811
    assert HUB_ID in code
    folder = model_folder(tmp_path / "model", section.removeprefix("Flax"), tokenizer=tokenizer_folder,
                          tokenizer_config=NO_CLEANUP, vocab_size=801, max_position_embeddings=130)
    ours, _ = run_example(code, "roberta_prelayernorm", folder)
    assert type(ours["model"]).__name__ == section and "flax" in type(ours["model"]).__module__
    theirs, _ = run_example(as_pytorch(code), "roberta_prelayernorm", folder)
    compared = 0
    for name, value in theirs.items():
        if name.startswith("__") or name not in ours or name in ("model", "tokenizer"):
            continue
        a, b = arrays(ours[name]), arrays(value)
        for key in a.keys() & b.keys():
            assert a[key].shape == b[key].shape, f"{name}.{key}"
            if np.issubdtype(b[key].dtype, np.floating):
                np.testing.assert_allclose(a[key], b[key], atol=ATOL, rtol=0, err_msg=f"{name}.{key}")
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}.{key}")
            compared += 1
    assert compared >= 3, f"{section}: too little was compared ({compared})"
