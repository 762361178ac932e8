"""The on-disk format of tests/golden/tf/, shared by its writer and its readers (numpy only).

Writer: ``tests/reference/make_tf_golden.py`` (transformers 4.37.2's TF classes, TensorFlow 2.15).
Readers: ``tests/test_tf_golden.py`` (our TF classes, Keras 3) and the script's ``--check-ours`` step.

Each case folder holds ``config.json`` + ``tf_model.h5`` (the reference's ``save_pretrained``),
``case.json`` (model class, the calls and their non-tensor options) and ``io.safetensors`` with tensors
named ``<call>.in.<argument>`` and ``<call>.out.<field>[.<i>[.<j>]]`` (tuples flattened by index), as in
the PyTorch golden files.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

CASE_FILE = "case.json"
IO_FILE = "io.safetensors"
INDEX_FILE = "cases.json"
WEIGHTS_FILE = "tf_model.h5"
REQUIRED_FILES = (CASE_FILE, "config.json", WEIGHTS_FILE, IO_FILE)
ATOL = 1e-5


def flatten(name: str, value: Any) -> dict[str, np.ndarray]:
    """A tensor or a nested tuple of tensors → ``{name[.i[.j]]: array}``; None gives {}."""
    if value is None:
        return {}
    if isinstance(value, (tuple, list)):
        flat: dict[str, np.ndarray] = {}
        for i, item in enumerate(value):
            flat.update(flatten(f"{name}.{i}", item))
        return flat
    return {name: np.array(np.asarray(value), order="C")}  # (ascontiguousarray would make a scalar 1-D)


def flatten_output(call: str, output: Mapping[str, Any]) -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for field in output.keys():
        flat.update(flatten(f"{call}.out.{field}", output[field]))
    return flat


def inputs_of(tensors: Mapping[str, np.ndarray], call: str) -> dict[str, np.ndarray]:
    prefix = f"{call}.in."
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def outputs_of(tensors: Mapping[str, np.ndarray], call: str) -> dict[str, np.ndarray]:
    prefix = f"{call}.out."
    return {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}


def max_diff(recorded: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> tuple[float, str]:
    """The largest abs difference between two flattened outputs, and where; their names must agree."""
    assert sorted(recorded) == sorted(got), f"fields differ: recorded {sorted(recorded)}, got {sorted(got)}"
    worst, where = 0.0, ""
    for name, value in recorded.items():
        assert value.shape == got[name].shape, f"{name}: shape {got[name].shape}, recorded {value.shape}"
        diff = float(np.abs(value.astype(np.float64) - got[name].astype(np.float64)).max()) if value.size else 0.0
        if diff >= worst:
            worst, where = diff, name
    return worst, where
