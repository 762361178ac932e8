"""Every PyTorch code example of the documentation runs with ``transformers`` replaced by ``roberta_prelayernorm``.

The examples are read from the documentation itself (``DOCS``), split into statements with ``doctest``
and run in order; the hub id is replaced by a local folder holding a tiny model of the example's class
(all weights random) and the fixture tokenizer (800 tokens, plus "Paris"; see ``tokenizer_folder``).
The printed values of the documentation (``' Paris'``, ``0.69``) need the real weights and are not
compared; instead each example also runs with the reference ``transformers`` on the same folder, and
everything it computes (tensors, model outputs, printed values, label lists) must agree with ours
within 1e-5.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from test_pipelines import FIXTURE_TOKENIZER, NO_CLEANUP, model_folder

DOCS = Path(os.environ.get("RPLN_DOCS", "/work/shared/reference/roberta-prelayernorm-docs.zh.md"))
HUB_ID = "andreasmadsen/efficient_mlm_m0.40"
ATOL = 1e-5


def pytorch_examples() -> list[tuple[str, str]]:
    """(section, code) of each ``>>>`` block outside the TensorFlow and Flax sections."""
    examples, section, block, inside = [], "", [], False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            if inside and any(x.startswith(">>>") for x in block) and not section.startswith(("TF", "Flax")):
                examples.append((section, "\n".join(block) + "\n"))
            inside, block = not inside, []
        elif inside:
            block.append(line)
    return examples


EXAMPLES = pytorch_examples()


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture tokenizer plus "Paris" as one token that takes the space before it, as ``<mask>`` does:
    the masked-LM example labels "... is Paris." against "... is <mask>.", which needs equal lengths."""
    from tokenizers import AddedToken

    from roberta_prelayernorm import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    tokenizer.add_tokens([AddedToken("Paris", lstrip=True)])
    folder = tmp_path_factory.mktemp("doc_tokenizer")
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_example(code: str, library: str, folder: Path | None) -> tuple[dict[str, Any], list[str]]:
    """Run the statements of an example against ``library``; returns its namespace and what it printed."""
    code = re.sub(r"\btransformers\b", library, code)
    if folder is not None:
        code = code.replace(f'"{HUB_ID}"', repr(str(folder)))
        assert HUB_ID not in code
    namespace: dict[str, Any] = {}
    printed = []
    for example in doctest.DocTestParser().get_examples(code):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(example.source, f"<{library} example>", "single"), namespace)  # noqa: S102
        printed.append(out.getvalue().strip())
    return namespace, printed


def tensors(value: Any) -> dict[str, torch.Tensor]:
    """The tensors of a value: itself, or the tensor fields of a model output / encoding."""
    if isinstance(value, torch.Tensor):
        return {"": value}
    if hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, type):
        found = {}
        for key in value.keys():
            try:
                item = value[key]
            except (KeyError, TypeError):
                continue
            if isinstance(item, torch.Tensor):
                found[key] = item
        return found
    return {}


def compare(name: str, ours: Any, theirs: Any) -> int:
    """Assert that two values computed by the same example agree; returns how many tensors were compared."""
    compared = 0
    a, b = tensors(ours), tensors(theirs)
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        assert x.shape == y.shape, f"{name}.{key}: shape {tuple(x.shape)} != {tuple(y.shape)}"
        if x.is_floating_point():
            torch.testing.assert_close(x.float(), y.float(), atol=ATOL, rtol=0, msg=f"{name}.{key}")
        else:
            assert torch.equal(x, y), f"{name}.{key}"
        compared += 1
    if isinstance(theirs, (int, float, str)) or (isinstance(theirs, list) and all(isinstance(v, str) for v in theirs)):
        assert ours == pytest.approx(theirs, abs=ATOL) if isinstance(theirs, float) else ours == theirs, name
    return compared


def test_the_documentation_has_nine_pytorch_examples() -> None:
    sections = [s for s, _ in EXAMPLES]
    assert len(EXAMPLES) == 9, sections
    assert sections[0] == "RobertaPreLayerNormConfig" and "RobertaPreLayerNormForQuestionAnswering" in sections


@pytest.mark.parametrize("section, code", EXAMPLES, ids=[f"{i}-{s}" for i, (s, _) in enumerate(EXAMPLES)])
def test_example_runs_and_agrees_with_the_reference(section: str, code: str, tmp_path: Path,
                                                    tokenizer_folder: Path) -> None:
    if HUB_ID not in code:  # the configuration example: a full-size model from the default config
        namespace, _ = run_example(code, "roberta_prelayernorm", None)
        assert namespace["model"].num_parameters() > 100_000_000 and namespace["configuration"].hidden_size == 768
        return
    class_name = re.search(r"\b(RobertaPreLayerNorm(?:Model|For\w+))\b", code).group(1)
    folder = model_folder(tmp_path / "model", class_name, tokenizer=tokenizer_folder, tokenizer_config=NO_CLEANUP,
                          vocab_size=801, max_position_embeddings=130)
    ours, ours_printed = run_example(code, "roberta_prelayernorm", folder)
    transformers = pytest.importorskip("transformers")
    theirs, theirs_printed = run_example(code, "transformers", folder)
    assert type(ours["model"]).__module__.startswith("roberta_prelayernorm")
    assert type(theirs["model"]).__module__.startswith(transformers.__name__)
    compared = 0
    for name, value in theirs.items():
        if name.startswith("__") or name not in ours or name in ("model", "tokenizer", "config", "torch"):
            continue
        compared += compare(name, ours[name], value)
    assert compared >= 2, f"{section}: nothing numeric was compared"
    for a, b in zip(ours_printed, theirs_printed):
        try:
            assert abs(float(a) - float(b)) <= 0.01 + 1e-9  # round(..., 2) of values equal within 1e-5
        except ValueError:
            assert a == b
