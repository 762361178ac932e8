"""Golden tests of the TF classes: transformers 4.37.2's own TF models (their ``tf_model.h5`` and outputs).

The cases live in ``tests/golden/tf/`` and are written by ``tests/reference/make_tf_golden.py`` in the
pinned TensorFlow 2.15 environment (see ``tests/golden/README.md``). Our classes load each reference file
(no missing or unexpected weight), replay every recorded call (fp32, 1e-5), and save files with the
reference's own layout. (That transformers 4.37.2 loads what we save is checked by the script's
``--check-ours`` step in its environment, which ``make golden`` runs.)
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import tf_helpers  # noqa: F401 (skips without TensorFlow >= 2.16; one thread)

import roberta_prelayernorm as rp

pytestmark = [pytest.mark.tf, pytest.mark.golden]
h5py = pytest.importorskip("h5py")
TESTS_DIR = Path(__file__).resolve().parent
GOLDEN_DIR = TESTS_DIR / "golden" / "tf"


def _load_format() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_tf_format", TESTS_DIR / "reference" / "golden_tf_format.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fmt = _load_format()
CASES = json.loads((GOLDEN_DIR / fmt.INDEX_FILE).read_text())


def case_spec(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN_DIR / name / fmt.CASE_FILE).read_text())


def test_index_lists_every_case() -> None:
    assert sorted(CASES) == sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir())
    for name in CASES:
        missing = [f for f in fmt.REQUIRED_FILES if not (GOLDEN_DIR / name / f).is_file()]
        assert not missing, f"{name} lacks {missing}: regenerate with `make golden`"
        assert case_spec(name)["generated_with"]["transformers"] == "4.37.2"


@pytest.mark.parametrize("name", CASES)
def test_reference_file_loads_and_every_call_matches(name: str) -> None:
    from safetensors.numpy import load_file

    spec = case_spec(name)
    model, info = getattr(rp, spec["class"]).from_pretrained(GOLDEN_DIR / name, output_loading_info=True)
    assert not any(info.values()), info
    tensors = load_file(str(GOLDEN_DIR / name / fmt.IO_FILE))
    earlier: dict[str, Any] = {}
    for call in spec["calls"]:
        kwargs = dict(fmt.inputs_of(tensors, call["name"]), **call["options"])
        if call["past_key_values_from"]:
            kwargs["past_key_values"] = earlier[call["past_key_values_from"]].past_key_values  # our own cache
        output = model(**kwargs)
        earlier[call["name"]] = output
        assert list(output.keys()) == call["fields"], (call["name"], list(output.keys()))
        recorded = {f"{call['name']}.out.{k}": v for k, v in fmt.outputs_of(tensors, call["name"]).items()}
        if recorded.get(f"{call['name']}.out.loss", np.zeros(0)).shape == (1,):
            # the masked-mean losses: (1,) in 4.37.2, a scalar here (so that float(loss) works under numpy 2)
            assert output.loss.shape == ()
            recorded[f"{call['name']}.out.loss"] = recorded[f"{call['name']}.out.loss"].reshape(())
        diff, where = fmt.max_diff(recorded, fmt.flatten_output(call["name"], output))
        assert diff <= fmt.ATOL, f"{name}/{where} differs by {diff:.2e}"


def h5_layout(path: Path) -> dict[str, Any]:
    """Groups (those with weights), their weight names in order, and every array."""
    with h5py.File(path, "r") as f:
        groups = {}
        for layer in f.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else str(layer)
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f[layer].attrs["weight_names"]]
            if names:  # the reference also lists its weightless dropout layers
                groups[layer] = [(n, np.asarray(f[layer][n])) for n in names]
        return groups


@pytest.mark.parametrize("name", CASES)
def test_our_save_has_the_reference_layout(name: str, tmp_path: Path) -> None:
    """Loading the reference's file and saving it gives the same groups, names in the same order and arrays."""
    model = getattr(rp, case_spec(name)["class"]).from_pretrained(GOLDEN_DIR / name)
    model.save_pretrained(tmp_path)
    theirs, ours = h5_layout(GOLDEN_DIR / name / fmt.WEIGHTS_FILE), h5_layout(tmp_path / fmt.WEIGHTS_FILE)
    assert list(ours) == list(theirs)
    for layer in theirs:
        # (a model's own first component does not matter to any reader: Keras 2 adds "_1" to a second instance)
        assert [n.split("/", 1)[1] for n, _ in ours[layer]] == [n.split("/", 1)[1] for n, _ in theirs[layer]], layer
        for (n, a), (_, b) in zip(ours[layer], theirs[layer]):
            assert a.dtype == b.dtype and np.array_equal(a, b), n
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [case_spec(name)["class"]]
