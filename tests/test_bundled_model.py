"""The model bundled with the package (src/roberta_prelayernorm/models/default): found by default,
loadable here and in transformers with the same numbers, small, and documented by its model card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import roberta_prelayernorm
from roberta_prelayernorm import AutoTokenizer, RobertaPreLayerNormForMaskedLM, pipeline
from roberta_prelayernorm.pipelines import base

FOLDER = Path(roberta_prelayernorm.__file__).resolve().parent / "models" / "default"
TEXTS = ["the capital and largest city of <mask>", "a young dog kept as a pet; \"the dog barked\"", "café ☕ 123"]


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(base.DEFAULT_MODEL_ENV, raising=False)


def test_it_is_the_default_and_small() -> None:
    assert base.default_model_path() == str(FOLDER)
    assert base.default_model_path("fill-mask") == str(FOLDER)
    size = sum(p.stat().st_size for p in FOLDER.iterdir())
    assert size < 25e6
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["model_type"] == "roberta-prelayernorm"
    assert config["architectures"] == ["RobertaPreLayerNormForMaskedLM"]


@pytest.mark.oracle
def test_same_tokens_and_logits_as_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    ours_tok = AutoTokenizer.from_pretrained(FOLDER)
    ref_tok = transformers.AutoTokenizer.from_pretrained(str(FOLDER))
    for text in TEXTS:
        assert ours_tok(text)["input_ids"] == ref_tok(text)["input_ids"], text
    inputs = ours_tok(TEXTS, padding=True, return_tensors="pt")
    ours = RobertaPreLayerNormForMaskedLM.from_pretrained(FOLDER).eval()
    # stored as float16; loaded as float32 here (as transformers 4.37.2 did; its newest release keeps the
    # stored dtype unless told)
    ref = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(str(FOLDER), dtype=torch.float32).eval()
    assert ours.dtype == torch.float32
    with torch.no_grad():
        a = ours(**inputs).logits
        b = ref(**inputs).logits
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(a[real], b[real], rtol=0, atol=1e-5)


def test_model_card_and_results() -> None:
    card = (FOLDER / "README.md").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in card  # the license's notice travels along
    assert "rpln pretrain" in card
    results = json.loads((FOLDER / "eval_results.json").read_text())
    final = results["phase2"]
    assert final["eval_accuracy"] > final["unigram_accuracy"] + 0.1
    assert final["eval_loss"] < final["unigram_loss"] - 1.0
    steps = [json.loads(line)["step"] for line in (FOLDER / "metrics.jsonl").read_text().splitlines()]
    assert steps and steps == sorted(steps)
    assert (FOLDER / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_uses_it_when_no_model_is_given() -> None:
    env = {k: v for k, v in os.environ.items() if k != base.DEFAULT_MODEL_ENV}
    done = subprocess.run([sys.executable, "-m", "roberta_prelayernorm", "fill-mask", "--json", "--top-k", "3",
                           TEXTS[0]], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(done.stdout)["predictions"][0]  # one list per mask
    expected = pipeline("fill-mask", str(FOLDER))(TEXTS[0], top_k=3)
    assert [p["token"] for p in from_cli] == [p["token"] for p in expected]
    for got, want in zip(from_cli, expected):
        assert abs(got["score"] - want["score"]) < 1e-6
