"""Golden tests: our models against tensors written by transformers 4.37.2.

The cases live in ``tests/golden/<case>/`` and are written by ``tests/reference/make_golden.py``
(see ``tests/golden/README.md``). Every recorded output tensor is compared by name with a max abs
diff of ``ATOL`` (1e-5, fp32); cached decoding steps are fed our own cache and, separately, the
golden one.

Self-check: with ``GOLDEN_ORACLE=transformers`` the same tests load the cases with transformers
itself (it must be 4.37.2), which proves the golden files and this test agree with the reference::

    GOLDEN_ORACLE=transformers .venv-golden/bin/python -m pytest --noconftest tests/test_golden.py
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.golden

TESTS_DIR = Path(__file__).resolve().parent
GOLDEN_DIR = TESTS_DIR / "golden"


def _load_format() -> ModuleType:
    """Imports tests/reference/golden_format.py by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("golden_format", TESTS_DIR / "reference" / "golden_format.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fmt = _load_format()
FRAMEWORK_DIRS = ("tf", "flax")  # golden files of the other families, with their own tests (test_tf_golden.py)
CASE_DIRS = sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir() and p.name not in FRAMEWORK_DIRS) \
    if GOLDEN_DIR.is_dir() else []


@cache
def library() -> ModuleType:
    """The implementation under test: ours, or transformers 4.37.2 when GOLDEN_ORACLE=transformers."""
    oracle = os.environ.get("GOLDEN_ORACLE", "")
    if oracle == "transformers":
        import transformers

        assert transformers.__version__ == "4.37.2", f"GOLDEN_ORACLE needs 4.37.2, not {transformers.__version__}"
        return transformers
    assert not oracle, f"GOLDEN_ORACLE={oracle!r}: the only oracle is 'transformers'"
    import roberta_prelayernorm

    return roberta_prelayernorm


@dataclass
class GoldenCase:
    """One case folder: its case.json and its io.safetensors."""

    folder: Path
    spec: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @classmethod
    def load(cls, folder: Path) -> GoldenCase:
        missing = [name for name in fmt.REQUIRED_FILES if not (folder / name).is_file()]
        assert not missing, f"{folder} lacks {missing}: regenerate with `make golden`"
        spec = json.loads((folder / fmt.CASE_FILE).read_text())
        return cls(folder, spec, load_file(str(folder / fmt.IO_FILE)))

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.spec["calls"]

    def model(self, fast_path: bool = False) -> torch.nn.Module:
        """The case's model loaded from its folder with ``from_pretrained``, in eval mode.

        Ours runs the exact path unless ``fast_path``: only it computes the padding positions that
        4.37.2 records (the fast path leaves them at zero; ``test_fast_path_matches_golden`` checks it).
        """
        model_class = getattr(library(), self.spec["class"])
        model = model_class.from_pretrained(self.folder, **self.spec["init_kwargs"]).eval()
        if hasattr(model, "set_fast_path"):
            model.set_fast_path(fast_path)
        return model

    def deviation(self, call: dict[str, Any]) -> str | None:
        """Why our output deliberately differs from 4.37.2's for this call, or None.

        With relative positions 4.37.2 gives every query of a cached multi-token step the position of
        the last key; we give each query its own position, so cached decoding equals recomputation
        (checked by ``test_incremental_decoding_matches_full_run`` instead).
        """
        if library().__name__ == "transformers" or not call["past_key_values_from"]:
            return None
        config = json.loads((self.folder / "config.json").read_text())
        new_tokens = self.tensors[fmt.input_prefix(call["name"]) + "input_ids"].shape[1]
        if config.get("position_embedding_type", "absolute") != "absolute" and new_tokens > 1:
            return "relative positions in a cached multi-token step"
        return None

    def expected(self, call: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The golden outputs of a call, by flattened name."""
        prefix = fmt.output_prefix(call["name"])
        return {name: t for name, t in self.tensors.items() if name.startswith(prefix)}

    def forward(self, model: torch.nn.Module, call: dict[str, Any], past: Any, *, return_dict: bool) -> Any:
        """Runs one recorded call on ``model``, with ``past`` as its past_key_values (or None)."""
        kwargs: dict[str, Any] = {**fmt.select(self.tensors, fmt.input_prefix(call["name"])), **call["options"]}
        if call["past_key_values_from"]:
            assert past is not None, f"{call['name']} needs the cache of {call['past_key_values_from']}"
            kwargs["past_key_values"] = past
        with torch.no_grad():
            return model(**kwargs, return_dict=return_dict)

    def run(self, model: torch.nn.Module) -> dict[str, Any]:
        """Runs every call with ``return_dict=True``, feeding cached steps the model's own cache."""
        outputs: dict[str, Any] = {}
        for call in self.calls:
            source = call["past_key_values_from"]
            past = outputs[source]["past_key_values"] if source else None
            outputs[call["name"]] = self.forward(model, call, past, return_dict=True)
        return outputs

    def golden_past(self, call: dict[str, Any]) -> Any:
        """The golden cache a call is fed (None when it takes none)."""
        source = call["past_key_values_from"]
        return fmt.nest_past(self.tensors, source) if source else None


def _params(cases: list[Path]) -> list[Any]:
    return [pytest.param(folder, id=folder.name) for folder in cases]


def _spec(folder: Path) -> dict[str, Any]:
    """A folder's case.json for selecting cases at collection time ({} if absent: the test fails later)."""
    path = folder / fmt.CASE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


CACHE_CASES = [f for f in CASE_DIRS if any(c["past_key_values_from"] for c in _spec(f).get("calls", []))]
INCREMENTAL_CASES = [f for f in CASE_DIRS if "incremental" in _spec(f)]


def assert_close(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Same tensor names, shapes and values within ``ATOL``; reports every mismatch at once."""
    assert sorted(actual) == sorted(expected), (
        f"missing {sorted(expected.keys() - actual.keys())}, unexpected {sorted(actual.keys() - expected.keys())}"
    )
    problems = []
    for name in sorted(expected):
        got, want = actual[name], expected[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(f"{name}: {got.dtype}{list(got.shape)} != {want.dtype}{list(want.shape)}")
            continue
        diff = (got.detach().double() - want.double()).abs().max().item() if want.numel() else 0.0
        if not diff <= fmt.ATOL:  # also catches NaN
            problems.append(f"{name}: max abs diff {diff:.3g}")
    assert not problems, "\n".join(problems)


def test_golden_folder_is_complete() -> None:
    """Every case listed by the generator has a complete folder, and there are no strays."""
    index = GOLDEN_DIR / fmt.INDEX_FILE
    assert index.is_file(), f"{index} is missing: regenerate with `make golden`"
    listed = json.loads(index.read_text())
    assert [p.name for p in CASE_DIRS] == sorted(listed)
    for folder in CASE_DIRS:
        GoldenCase.load(folder)


@pytest.mark.parametrize("folder", _params(CASE_DIRS))
def test_outputs_match_golden(folder: Path) -> None:
    """Every call's outputs (fields, order, values) match; cached steps get our own cache."""
    case = GoldenCase.load(folder)
    outputs = case.run(case.model())
    for call in case.calls:
        if case.deviation(call):
            continue
        out = outputs[call["name"]]
        fields = call["fields"]
        assert list(out.keys()) == fields, call["name"]
        entries = out.to_tuple()
        assert len(entries) == len(fields)
        for i, field in enumerate(fields):
            assert fmt.identical(out[i], out[field]) and fmt.identical(entries[i], getattr(out, field)), field
        assert_close(fmt.flatten_output(call["name"], out), case.expected(call))


@pytest.mark.parametrize("folder", _params(CACHE_CASES))
def test_cached_steps_with_golden_cache(folder: Path) -> None:
    """Cached steps fed the golden cache (not ours) match too."""
    case = GoldenCase.load(folder)
    model = case.model()
    for call in case.calls:
        if call["past_key_values_from"] and not case.deviation(call):
            out = case.forward(model, call, case.golden_past(call), return_dict=True)
            assert_close(fmt.flatten_output(call["name"], out), case.expected(call))


@pytest.mark.parametrize("folder", _params(CASE_DIRS))
def test_return_dict_false_tuple(folder: Path) -> None:
    """``return_dict=False`` gives a tuple laid out like 4.37.2's (None entries included)."""
    case = GoldenCase.load(folder)
    model = case.model()
    for call in case.calls:
        if case.deviation(call):
            continue
        out = case.forward(model, call, case.golden_past(call), return_dict=False)
        assert isinstance(out, tuple), type(out)
        layout = call["tuple_fields"]
        assert len(out) == len(layout), f"{call['name']}: {len(out)} entries, expected {layout}"
        flat: dict[str, torch.Tensor] = {}
        for entry, field in zip(out, layout):
            if field is None:
                assert entry is None, f"{call['name']}: expected None where 4.37.2 has one"
            else:
                flat.update(fmt.flatten(fmt.output_prefix(call["name"]) + field, entry))
        assert_close(flat, case.expected(call))


@pytest.mark.parametrize("folder", _params(INCREMENTAL_CASES))
def test_incremental_decoding_matches_full_run(folder: Path) -> None:
    """Our cached steps equal our no-cache run at the new positions exactly where 4.37.2's do.

    4.37.2 has two documented divergences (recorded as ``matches_full: false``): multi-token steps
    with relative positions, and left-padded rows, whose new tokens get shifted positions.
    """
    case = GoldenCase.load(folder)
    outputs = case.run(case.model())
    full_name = case.spec["incremental"]["full"]
    full_mask = fmt.select(case.tensors, fmt.input_prefix(full_name))["attention_mask"]
    for step in case.spec["incremental"]["steps"]:
        logits = outputs[step["call"]].logits
        diff = fmt.incremental_max_diff(logits, outputs[full_name].logits, full_mask, step["start"])
        call = next(c for c in case.calls if c["name"] == step["call"])
        matches_full = step["matches_full"] or case.deviation(call) is not None
        assert (diff <= fmt.ATOL) == matches_full, f"{step}: max abs diff {diff:.3g}"


FAST_CASES = [f for f in CASE_DIRS if not any(c["past_key_values_from"] for c in _spec(f).get("calls", []))]


@pytest.mark.skipif(os.environ.get("GOLDEN_ORACLE") == "transformers", reason="our fast path only")
@pytest.mark.parametrize("folder", _params(FAST_CASES))
def test_fast_path_matches_golden(folder: Path) -> None:
    """The default (fast) path gives 4.37.2's numbers at every real token; padding is not computed."""
    case = GoldenCase.load(folder)
    outputs = case.run(case.model(fast_path=True))
    for call in case.calls:
        inputs = fmt.select(case.tensors, fmt.input_prefix(call["name"]))
        mask = inputs.get("attention_mask")
        padding_mask = mask is not None and (mask.dim() == 2 or case.spec["class"].endswith("MultipleChoice"))
        real = mask.reshape(-1, mask.shape[-1]).bool() if padding_mask else None  # 3-D masks run exact
        actual = fmt.flatten_output(call["name"], outputs[call["name"]])
        expected = case.expected(call)
        if real is not None:
            for name, tensor in expected.items():
                if tensor.dim() >= 2 and tuple(tensor.shape[:2]) == tuple(real.shape) and name in actual:
                    actual[name], expected[name] = actual[name][real], tensor[real]
        assert_close(actual, expected)
