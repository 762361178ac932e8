"""End-to-end pretraining on a tiny model: outputs, exact resume, accumulation, errors."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch
from training_helpers import FIXTURE_TOKENIZER, tiny_settings, write_corpus, write_repetition_corpus

from roberta_prelayernorm import CheckpointError, RobertaPreLayerNormForMaskedLM
from roberta_prelayernorm.training import CorpusError, pretrain
from roberta_prelayernorm.training.monitor import read_jsonl
from roberta_prelayernorm.training.pretraining import MaskedLMObjective


def losses(folder) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_jsonl(os.path.join(folder, "metrics.jsonl")) if "loss" in r}


def weights(folder) -> dict[str, torch.Tensor]:
    return RobertaPreLayerNormForMaskedLM.from_pretrained(folder).state_dict()


def test_objective_equals_full_masked_lm_loss():
    """The LM head on the chosen positions only gives the loss of the full head with labels -100 elsewhere."""
    from roberta_prelayernorm import RobertaPreLayerNormConfig

    torch.manual_seed(0)
    model = RobertaPreLayerNormForMaskedLM(RobertaPreLayerNormConfig(
        vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
        max_position_embeddings=20, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).eval()
    ids = torch.randint(4, 60, (3, 12))
    positions = torch.tensor([1, 5, 13, 20, 30, 35])
    targets = torch.randint(4, 60, (6,))
    labels = torch.full((3 * 12,), -100)
    labels[positions] = targets
    loss_sum, correct = MaskedLMObjective(model)(ids, positions, targets)
    full = model(ids, labels=labels.view(3, 12))
    torch.testing.assert_close(loss_sum / 6, full.loss, rtol=1e-6, atol=1e-6)
    predicted = full.logits.view(-1, 60)[positions].argmax(-1)
    assert int(correct) == int((predicted == targets).sum())


@pytest.mark.slow
def test_pretrain_writes_a_loadable_model_and_learns(tmp_path):
    out = tmp_path / "run"
    corpus = write_repetition_corpus(tmp_path / "corpus.txt")
    result = pretrain(tiny_settings(out, corpus, max_steps=150, eval_every=75, lr=1e-2, batch_size=8,
                                    initializer_range=0.1))
    assert result.step == 150
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt",
                 "metrics.jsonl", "loss_curve.png", "eval_results.json", "training_config.json"):
        assert (out / name).is_file(), name
    records = read_jsonl(out / "metrics.jsonl")
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in evals] == [75, 150]
    assert {"loss", "accuracy", "lr", "tokens_per_s", "epoch"} <= set(train[0])
    first, last = sum(r["loss"] for r in train[:5]) / 5, sum(r["loss"] for r in train[-5:]) / 5
    assert last < first - 2.0
    # copying a word from the context: far above the unigram baseline (about 26 % against 0 %)
    assert result.eval["eval_accuracy"] > result.eval["unigram_accuracy"] + 0.15
    assert result.eval["eval_loss"] < result.eval["unigram_loss"] - 1.0
    # the folder loads here and in transformers, with the same logits
    ours = RobertaPreLayerNormForMaskedLM.from_pretrained(out)
    transformers = pytest.importorskip("transformers")
    theirs = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(str(out)).eval()
    ids = torch.tensor([[0, 100, 200, 300, 2]])
    torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, rtol=1e-5, atol=1e-5)


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, corpus):
    # dropout on, so that restoring the RNG state matters too
    settings = dict(max_steps=8, save_every=2, dropout=0.1, mask_split="80/10/10")
    whole = tmp_path / "whole"
    pretrain(tiny_settings(whole, corpus, **settings))
    split = tmp_path / "split"
    first = pretrain(tiny_settings(split, corpus, stop_at=4, **settings))
    assert first.step == 4 and first.checkpoint.endswith("step-00000004")
    assert not (split / "model.safetensors").exists()  # unfinished: only checkpoints
    pretrain(tiny_settings(split, corpus, resume=True, **settings))
    expected, got = losses(whole), losses(split)
    assert sorted(got) == list(range(1, 9))
    for step in range(1, 9):
        assert got[step] == pytest.approx(expected[step], abs=1e-6, rel=0), step
    for key, value in weights(whole).items():
        torch.testing.assert_close(weights(split)[key], value, rtol=0, atol=1e-6)
    # two checkpoints kept (the default), the newest named by `latest`
    ckpts = sorted(os.listdir(split / "checkpoints"))
    assert ckpts == ["latest", "step-00000006", "step-00000008"]


def test_outputs_have_ordinary_permissions(tmp_path, corpus):
    old = os.umask(0o022)
    try:
        pretrain(tiny_settings(tmp_path / "run", corpus, max_steps=2, save_every=2))
    finally:
        os.umask(old)
    found = list((tmp_path / "run").rglob("*"))
    assert any(p.name == "trainer_state.pt" for p in found) and any(p.name == "latest" for p in found)
    for path in found:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


def test_resume_refuses_a_different_config(tmp_path, corpus):
    out = tmp_path / "run"
    pretrain(tiny_settings(out, corpus, stop_at=2, max_steps=4, save_every=2))
    with pytest.raises(CheckpointError, match=r"different configuration \(lr: checkpoint 0.003, now 0.001\)"):
        pretrain(tiny_settings(out, corpus, max_steps=4, save_every=2, lr=1e-3, resume=True))
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        pretrain(tiny_settings(out, corpus, max_steps=4))
    with pytest.raises(CheckpointError, match="nothing to resume"):
        pretrain(tiny_settings(tmp_path / "fresh", corpus, resume=True))


def test_two_phases_short_blocks_then_longer_ones(tmp_path, corpus):
    """max_positions sizes a new model's position table beyond its blocks; a second run continues it."""
    first = tmp_path / "phase1"
    pretrain(tiny_settings(first, corpus, block_size=8, max_positions=16, max_steps=2))
    config = json.loads((first / "config.json").read_text())
    assert config["max_position_embeddings"] == 16 + config["pad_token_id"] + 1
    assert json.loads((first / "tokenizer_config.json").read_text())["model_max_length"] == 16
    # phase 2 from phase 1's weights (an lr of ~0 leaves them as they were), with longer blocks
    second = tmp_path / "phase2"
    result = pretrain(tiny_settings(second, corpus, model=str(first), block_size=16, max_steps=2, lr=1e-12,
                                    warmup_ratio=0.0))
    assert result.step == 2
    before, after = weights(first), weights(second)
    assert before.keys() == after.keys()
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=1e-6, msg=name)
    with pytest.raises(ValueError, match="longer than the model's 16 positions"):
        pretrain(tiny_settings(tmp_path / "too_long", corpus, model=str(first), block_size=32))
    with pytest.raises(ValueError, match=r"max_positions \(8\) must be at least block_size \(16\)"):
        pretrain(tiny_settings(tmp_path / "bad", corpus, max_positions=8))


def test_gradient_accumulation_matches_a_bigger_batch(tmp_path, corpus):
    big = pretrain(tiny_settings(tmp_path / "a", corpus, batch_size=4, max_steps=3))
    accumulated = pretrain(tiny_settings(tmp_path / "b", corpus, batch_size=2, grad_accum=2, max_steps=3))
    assert big.eval["eval_loss"] == pytest.approx(accumulated.eval["eval_loss"], abs=1e-5)
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert a == pytest.approx(b, abs=1e-5)


def test_full_disk_at_save_keeps_the_last_good_checkpoint(tmp_path, corpus, monkeypatch):
    out = tmp_path / "run"
    from roberta_prelayernorm.training import state

    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: the disk is full halfway through
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(state.torch, "save", failing_save)
    with pytest.raises(CheckpointError, match=r"No space left on device; the last good checkpoint, .*step-00000002"):
        pretrain(tiny_settings(out, corpus, max_steps=6, save_every=2))
    assert sorted(os.listdir(out / "checkpoints")) == ["latest", "step-00000002"]  # no half-written folder
    monkeypatch.setattr(state.torch, "save", real_save)
    result = pretrain(tiny_settings(out, corpus, max_steps=6, save_every=2, resume=True))
    assert result.step == 6


def test_unwritable_output_folder(tmp_path, corpus):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CheckpointError, match="cannot write to the output folder"):
        pretrain(tiny_settings(blocker / "run", corpus))


def test_corpus_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.raises(CorpusError, match="empty"):
        pretrain(tiny_settings(tmp_path / "a", empty))
    short = tmp_path / "short.txt"
    short.write_text("a cat.\n\na dog.\n\nthe end.\n")
    with pytest.raises(CorpusError, match="fewer than one block"):
        pretrain(tiny_settings(tmp_path / "b", short, block_size=64))
    with pytest.raises(CorpusError, match="fewer than one global batch"):
        pretrain(tiny_settings(tmp_path / "c", write_corpus(tmp_path / "c.txt", documents=8), batch_size=64))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_and_new_tokenizer_and_fp16_save(tmp_path, corpus, precision):
    out = tmp_path / "run"
    result = pretrain(tiny_settings(out, corpus, tokenizer=None, vocab_size=300, precision=precision,
                                    max_steps=3, save_dtype="float16", max_grad_norm=1.0))
    assert result.eval["eval_loss"] == result.eval["eval_loss"]  # finite, not NaN
    config = json.loads((out / "config.json").read_text())
    assert config["torch_dtype"] == "float16" and config["vocab_size"] == 300
    assert RobertaPreLayerNormForMaskedLM.from_pretrained(out).dtype == torch.float32


def test_cli_pretrain_and_its_errors(tmp_path, corpus, capsys):
    from roberta_prelayernorm.cli import main

    out = tmp_path / "run"
    code = main(["pretrain", "--train", str(corpus), "--output", str(out), "--tokenizer", FIXTURE_TOKENIZER,
                 "--hidden-size", "32", "--layers", "1", "--heads", "2", "--intermediate-size", "32",
                 "--block-size", "16", "--batch-size", "4", "--max-steps", "2", "--eval-fraction", "0.2",
                 "--mask-split", "80/10/10", "--no-progress", "--quiet"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code = main(["pretrain", "--train", str(empty), "--output", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("rpln: error: the training corpus is empty") and err.count("\n") == 1
    assert main(["pretrain", "--output", str(tmp_path / "y")]) == 2
    assert "give training text" in capsys.readouterr().err


def test_progress_bar_lines():
    import io

    from roberta_prelayernorm.training.monitor import Progress

    stream = io.StringIO()
    bar = Progress(10, stream=stream)
    bar.update(5, loss=2.5, lr=1e-4, tok_s=12345.0)
    line = stream.getvalue()
    assert line.endswith("\n") and "5/10" in line and "loss 2.5" in line and "lr 1.00e-04" in line
    assert "tok_s 12.3k" in line and " 50% " in line
    Progress(10, stream=stream, enabled=False).update(3, loss=1.0)
    assert stream.getvalue() == line
