"""Fine-tuning every head on small synthetic tasks: a working head learns them, a broken one cannot."""

from __future__ import annotations

import json

import pytest
import torch
from finetune_helpers import (
    base_model,
    classification_rows,
    conll_text,
    regression_rows,
    squad_json,
    swag_rows,
    write_csv,
    write_jsonl,
)

from roberta_prelayernorm.torch import modeling
from roberta_prelayernorm.training import FinetuneConfig, finetune
from roberta_prelayernorm.training.tasks import DataError


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    torch.set_num_threads(1)
    return base_model(tmp_path_factory.mktemp("base") / "model")


def write_task(task: str, folder, train: int, dev: int):
    if task == "classification":
        return write_csv(folder / "train.csv", classification_rows(train, 0)), \
            write_csv(folder / "dev.tsv", classification_rows(dev, 1), delimiter="\t")
    if task == "regression":
        return write_jsonl(folder / "train.jsonl", regression_rows(train, 0)), \
            write_jsonl(folder / "dev.jsonl", regression_rows(dev, 1))
    if task == "token-classification":
        (folder / "train.conll").write_text(conll_text(train, 0))
        (folder / "dev.conll").write_text(conll_text(dev, 1))
        return folder / "train.conll", folder / "dev.conll"
    if task == "question-answering":
        (folder / "train.json").write_text(json.dumps(squad_json(train, 0)))
        (folder / "dev.json").write_text(json.dumps(squad_json(dev, 1)))
        return folder / "train.json", folder / "dev.json"
    return write_jsonl(folder / "train.jsonl", swag_rows(train, 0)), write_jsonl(folder / "dev.jsonl", swag_rows(dev, 1))


# training examples, epochs and learning rate per task (a few seconds each on one core)
BUDGET = {"classification": (300, 4.0, 1e-2), "regression": (300, 3.0, 3e-3), "token-classification": (200, 3.0, 3e-3),
          "question-answering": (300, 3.0, 3e-3), "multiple-choice": (200, 3.0, 3e-3)}


def run(task, base, folder, *, train=None, dev=60, epochs=None, **overrides):
    n, default_epochs, lr = BUDGET[task]
    train_file, dev_file = write_task(task, folder, train or n, dev)
    settings = dict(task=task, model=str(base), train_file=str(train_file), eval_file=str(dev_file),
                    output_dir=str(folder / "out"), epochs=epochs or default_epochs, batch_size=16, lr=lr,
                    max_length=64, progress=False, quiet=True)
    return finetune(FinetuneConfig(**(settings | overrides)))


# task → (metric, what a working head reaches, what chance gives at most)
EXPECTED = {
    "classification": ("accuracy", 0.9, 0.7),
    "regression": ("pearson", 0.7, 0.3),
    "token-classification": ("f1", 0.9, 0.3),
    "question-answering": ("f1", 80.0, 45.0),
    "multiple-choice": ("accuracy", 0.9, 0.45),
}
HEADS = {
    "classification": "RobertaPreLayerNormForSequenceClassification",
    "regression": "RobertaPreLayerNormForSequenceClassification",
    "token-classification": "RobertaPreLayerNormForTokenClassification",
    "question-answering": "RobertaPreLayerNormForQuestionAnswering",
    "multiple-choice": "RobertaPreLayerNormForMultipleChoice",
}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(EXPECTED))
def test_head_learns_and_folder_loads(task, base, tmp_path):
    result = run(task, base, tmp_path)
    metric, good, _ = EXPECTED[task]
    assert result.best[metric] >= good, result.history
    out = tmp_path / "out"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "eval_results.json", "metrics.jsonl"):
        assert (out / name).is_file()
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved[metric] == pytest.approx(result.best[metric]) and saved["step"] == result.best_step
    # the best checkpoint is the one saved: reloading it reproduces its score
    model = getattr(modeling, HEADS[task]).from_pretrained(out)
    if task == "classification":
        assert model.config.id2label == {0: "no", 1: "yes"}
    if task == "regression":
        assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    if task == "token-classification":
        assert set(model.config.id2label.values()) == {"O", "B-ANI", "B-LOC", "I-LOC"}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "token-classification", "question-answering", "multiple-choice"])
def test_a_head_that_ignores_the_encoder_stays_at_chance(task, base, tmp_path, monkeypatch):
    """The same runs with the encoder's output zeroed before the head: the tests above can fail."""
    real = modeling.RobertaPreLayerNormModel.encode  # what every head calls

    def blind(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        out.rows = torch.zeros_like(out.rows)  # the final hidden states (the pooler reads them too)
        return out

    monkeypatch.setattr(modeling.RobertaPreLayerNormModel, "encode", blind)
    result = run(task, base, tmp_path)
    metric, _, chance = EXPECTED[task]
    assert result.best[metric] <= chance, result.best


def test_reloaded_model_reproduces_the_best_score(base, tmp_path):
    from roberta_prelayernorm.training.finetuning import make_task, run_evaluation
    from roberta_prelayernorm.training.text import load_tokenizer

    config_kw = dict(epochs=1.0, train=64, dev=32)
    result = run("classification", base, tmp_path, **config_kw)
    out = tmp_path / "out"
    model = modeling.RobertaPreLayerNormForSequenceClassification.from_pretrained(out)
    config = FinetuneConfig(task="classification", model=str(out), train_file=str(tmp_path / "train.csv"),
                            output_dir=str(tmp_path / "x"), max_length=64)
    task = make_task(config)
    task.fit_labels(task.read(config.train_file), None)
    examples = task.read(str(tmp_path / "dev.tsv"))
    features = task.features(examples, load_tokenizer(out), training=False)
    scores, _ = run_evaluation(model, task, examples, features, 16, 1, torch.device("cpu"))
    assert scores["accuracy"] == pytest.approx(result.best["accuracy"])


def test_label_not_in_the_label_set(base, tmp_path):
    train = write_csv(tmp_path / "train.csv", classification_rows(20, 0))
    rows = classification_rows(5, 1)
    rows[3]["label"] = "maybe"
    dev = write_csv(tmp_path / "dev.csv", rows)
    with pytest.raises(DataError, match=r"dev.csv, row 4 \(line 5\): label 'maybe' is not in the label set \['no', 'yes'\]"):
        finetune(FinetuneConfig(task="classification", model=str(base), train_file=str(train), eval_file=str(dev),
                                output_dir=str(tmp_path / "out"), quiet=True, progress=False))
    (tmp_path / "dev.conll").write_text("zebra NN O B-ANIMAL\n")
    (tmp_path / "train.conll").write_text(conll_text(5, 0))
    with pytest.raises(DataError, match="tag 'B-ANIMAL' is not in the label set"):
        finetune(FinetuneConfig(task="token-classification", model=str(base), train_file=str(tmp_path / "train.conll"),
                                eval_file=str(tmp_path / "dev.conll"), output_dir=str(tmp_path / "o2"), quiet=True))
    bad_choice = swag_rows(3, 0)
    bad_choice[1]["label"] = 7
    with pytest.raises(DataError, match="label 7 is not the index of one of its 4 choices"):
        finetune(FinetuneConfig(task="multiple-choice", model=str(base), output_dir=str(tmp_path / "o3"),
                                train_file=str(write_jsonl(tmp_path / "mc.jsonl", bad_choice)), quiet=True))


def test_bad_files(base, tmp_path):
    squad = squad_json(2, 0, unanswerable=0.0)
    squad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    (tmp_path / "bad.json").write_text(json.dumps(squad))
    with pytest.raises(DataError, match="is not at answer_start"):
        finetune(FinetuneConfig(task="question-answering", model=str(base), train_file=str(tmp_path / "bad.json"),
                                output_dir=str(tmp_path / "o"), quiet=True))
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(DataError, match="unknown format"):
        finetune(FinetuneConfig(task="classification", model=str(base), train_file=str(tmp_path / "t.txt"),
                                output_dir=str(tmp_path / "o"), quiet=True))
    rows = regression_rows(4, 0)
    rows[2]["label"] = "high"
    with pytest.raises(DataError, match="regression needs a number, got 'high'"):
        finetune(FinetuneConfig(task="regression", model=str(base), output_dir=str(tmp_path / "o"), quiet=True,
                                train_file=str(write_jsonl(tmp_path / "r.jsonl", rows))))


def test_cli_finetune(base, tmp_path, capsys):
    from roberta_prelayernorm.cli import main

    train, dev = write_task("classification", tmp_path, 32, 16)
    code = main(["finetune", "classification", "--model", str(base), "--train", str(train), "--eval", str(dev),
                 "--output", str(tmp_path / "out"), "--epochs", "1", "--max-length", "64", "--quiet",
                 "--no-progress"])
    assert code == 0
    assert "accuracy" in json.loads(capsys.readouterr().out)
    bad = write_csv(tmp_path / "bad.csv", [{"sentence1": "a", "sentence2": "b", "label": "x"}])
    code = main(["finetune", "classification", "--model", str(base), "--train", str(train), "--eval", str(bad),
                 "--output", str(tmp_path / "out2"), "--quiet"])
    assert code == 1 and "label 'x' is not in the label set" in capsys.readouterr().err
