"""The pipelines run a TensorFlow or Flax model the same way as the PyTorch one: same folder, same
weights, same results (the pre- and post-processing is shared numpy code; only the runner differs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roberta_prelayernorm.pipelines import pipeline
from test_pipelines import FIXTURE_TOKENIZER, NER_LABELS, NO_CLEANUP, model_folder

FRAMEWORKS = [pytest.param("flax", marks=pytest.mark.flax), pytest.param("tf", marks=pytest.mark.tf)]
ATOL = 1e-5

CASES: dict[str, tuple[str, dict[str, Any], Any, dict[str, Any]]] = {
    "fill-mask": ("RobertaPreLayerNormForMaskedLM", {}, ["The capital of France is <mask>.", "a <mask> b <mask>"],
                  {"top_k": 3}),
    "feature-extraction": ("RobertaPreLayerNormForMaskedLM", {}, ["Hello world!", "a"], {"pooling": "mean"}),
    "text-classification": ("RobertaPreLayerNormForSequenceClassification", {"id2label": {0: "n", 1: "p"}},
                            ["great", {"text": "a", "text_pair": "b"}], {"top_k": None}),
    "token-classification": ("RobertaPreLayerNormForTokenClassification", {"id2label": NER_LABELS},
                             ["Jim Henson lives in New York City."], {"aggregation_strategy": "simple",
                                                                     "ignore_labels": []}),
    "question-answering": ("RobertaPreLayerNormForQuestionAnswering", {}, None, {"top_k": 2}),
    "text-generation": ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}, ["Hello", "The cat sat on"],
                        {"max_new_tokens": 5}),
}


def assert_close(a: Any, b: Any, path: str = "") -> None:
    """Same structure; floats within ATOL, everything else equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert abs(a - b) <= ATOL, (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("framework_pipelines")
    return {task: model_folder(root / task.replace("-", "_"), cls, tokenizer_config=NO_CLEANUP, **config)
            for task, (cls, config, _, _) in CASES.items()}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("task", list(CASES))
def test_pipeline_gives_the_pytorch_results(framework: str, task: str, folders: dict[str, Path]) -> None:
    pytest.importorskip("jax" if framework == "flax" else "tensorflow")
    import jax

    if framework == "flax":
        jax.config.update("jax_default_matmul_precision", "highest")
    inputs, params = CASES[task][2], CASES[task][3]
    ours_pt = pipeline(task, model=folders[task], **params)
    ours_other = pipeline(task, model=folders[task], framework=framework, **params)
    assert ours_other.runner.framework == framework
    if task == "question-answering":
        call = dict(question="Who lives in New York?", context="Jim Henson lives in New York City with his dog.")
        assert_close(ours_other(**call), ours_pt(**call))
    else:
        assert_close(ours_other(inputs), ours_pt(inputs))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_model_object_of_another_framework_plugs_in(framework: str, folders: dict[str, Path]) -> None:
    pytest.importorskip("jax" if framework == "flax" else "tensorflow")
    import roberta_prelayernorm as rp
    from roberta_prelayernorm import AutoTokenizer

    cls = getattr(rp, ("Flax" if framework == "flax" else "TF") + "RobertaPreLayerNormForMaskedLM")
    model = cls.from_pretrained(folders["fill-mask"])
    tokenizer = AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER, **NO_CLEANUP)
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    expected = pipeline("fill-mask", model=folders["fill-mask"])("Paris is the <mask> of France.")
    assert_close(fill("Paris is the <mask> of France."), expected)
    with pytest.raises(ValueError, match="framework"):
        pipeline("fill-mask", model=model, tokenizer=tokenizer, framework="pt")
    with pytest.raises(ValueError, match="device"):
        pipeline("fill-mask", model=model, tokenizer=tokenizer, device="cuda")
