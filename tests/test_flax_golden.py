"""Golden files of transformers 4.37.2's own Flax classes (tests/golden/flax, made by
tests/reference/make_flax_golden.py): each ``flax_model.msgpack`` loads in our classes with no missing
or unexpected parameter, and the recorded calls give the recorded outputs within 1e-5 (every position,
padding included: the reference's Flax classes compute them all, and so do ours)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flax_helpers import ATOL

import roberta_prelayernorm as rp  # noqa: E402

pytestmark = [pytest.mark.flax, pytest.mark.golden]
GOLDEN = Path(__file__).parent / "golden" / "flax"
CASES = json.loads((GOLDEN / "cases.json").read_text())


def test_every_case_folder_is_listed() -> None:
    folders = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
    assert folders == sorted(CASES)
    classes = {json.loads((GOLDEN / c / "case.json").read_text())["class"] for c in CASES}
    assert len(classes) == 7  # every Flax head


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str) -> None:
    from safetensors.numpy import load_file

    folder = GOLDEN / case
    meta = json.loads((folder / "case.json").read_text())
    golden = load_file(str(folder / "io.safetensors"))
    model, info = getattr(rp, meta["class"]).from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    caches: dict[str, Any] = {}
    for call in meta["calls"]:
        inputs = {k: golden[f"{call['name']}.in.{k}"] for k in call["inputs"]}
        if call["cache"]:
            inputs["past_key_values"] = (model.init_cache(inputs["input_ids"].shape[0], inputs["attention_mask"].shape[1])
                                         if call["cache"] == "init" else caches[call["cache"]])
        out = model(**inputs, **call["options"])
        if call["cache"]:
            caches[call["name"]] = out.past_key_values
        assert [k for k in out.keys() if k != "past_key_values"] == call["fields"]
        prefix = f"{call['name']}.out."
        expected = {k[len(prefix):]: v for k, v in golden.items() if k.startswith(prefix)}
        got: dict[str, np.ndarray] = {}
        for field in call["fields"]:
            value = out[field]
            if isinstance(value, tuple):
                got.update({f"{field}.{i}": np.asarray(v) for i, v in enumerate(value)})
            else:
                got[field] = np.asarray(value)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, atol=ATOL, rtol=0, err_msg=f"{case}/{call['name']}/{name}")
