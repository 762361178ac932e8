"""Training cases of the CLI probe (issue 14): a model folder is never replaced by a mistyped ``-o``;
a diverging loss, a damaged checkpoint or a damaged data file is one line naming the file and the fix;
Ctrl-C names the last checkpoint and the command that resumes; ``--resume`` stays exact.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from finetune_helpers import base_model, classification_rows, write_csv, write_jsonl
from safetensors.torch import load_file
from training_helpers import FIXTURE_TOKENIZER, tiny_settings

from roberta_prelayernorm.cli import main
from roberta_prelayernorm.core.errors import CheckpointError
from roberta_prelayernorm.training import pretrain
from roberta_prelayernorm.training.finetuning import FinetuneConfig, finetune
from roberta_prelayernorm.training.masking import parse_split
from roberta_prelayernorm.training.pretraining import TrainingDiverged
from roberta_prelayernorm.training.tasks import DataError

TINY = ["--tokenizer", FIXTURE_TOKENIZER, "--hidden-size", "32", "--layers", "1", "--heads", "2",
        "--intermediate-size", "32", "--block-size", "16", "--batch-size", "4", "--eval-fraction", "0.2",
        "--no-progress", "--quiet"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return base_model(tmp_path_factory.mktemp("base") / "model")


@pytest.fixture(autouse=True)
def no_rpln_handler():
    yield
    logger = logging.getLogger("roberta_prelayernorm")
    logger.handlers = [h for h in logger.handlers if type(h).__name__ != "StderrHandler"]


def rpln(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("rpln: warning:")]
    assert len(lines) == 1 and lines[0].startswith("rpln: error: ") and "Traceback" not in err, err
    return lines[0]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# ------------------------------------------------------------------------------- output folders
def test_pretrain_never_replaces_a_model_without_overwrite(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert rpln(capsys, "pretrain", "--train", corpus, "-o", out, *TINY, "--max-steps", "2")[0] == 0
    before = files(out)
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", out, *TINY, "--max-steps", "2", "--lr", "1e-2")
    assert status == 1 and error_line(err) == (
        f"rpln: error: {out} already holds a model (config.json, model.safetensors); pass --overwrite to replace "
        f"it, or choose another --output")
    assert files(out) == before  # untouched
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", out, *TINY, "--max-steps", "2", "--model",
                          out, "--overwrite")
    assert status == 1 and "is the model this run starts from" in error_line(err) and files(out) == before
    status, _, _ = rpln(capsys, "pretrain", "--train", corpus, "-o", out, *TINY, "--max-steps", "2", "--lr", "1e-2",
                        "--overwrite")
    assert status == 0 and weights(out).keys() == load_file_bytes(before).keys()
    assert any(not torch.equal(weights(out)[k], load_file_bytes(before)[k]) for k in weights(out))
    with pytest.raises(CheckpointError, match="pass overwrite=True to replace it"):  # the library's words
        pretrain(tiny_settings(out, corpus))


def load_file_bytes(saved: dict[str, bytes]) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    return load(saved["model.safetensors"])


def test_finetune_never_replaces_a_model_and_never_its_input(base, tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", classification_rows(16, 0))
    args = ["finetune", "classification", "--train", train, "--epochs", "1", "--batch-size", "8", "--quiet",
            "--no-progress"]
    before = files(base)
    status, _, err = rpln(capsys, *args, "-m", base, "-o", base, "--overwrite")
    assert status == 1 and "is the model being fine-tuned: write the fine-tuned model to another --output" in \
        error_line(err) and files(base) == before
    out = tmp_path / "out"
    status, summary, err = rpln(capsys, *args, "-m", base, "-o", out)
    assert status == 0, err
    # without --eval: the last model is kept, and that is what it says
    assert json.loads(summary) == {"output_dir": str(out), "kept": "last", "step": 2}
    assert json.loads((out / "eval_results.json").read_text())["kept"] == "the last model (no evaluation file)"
    done = files(out)
    status, _, err = rpln(capsys, *args, "-m", base, "-o", out, "--lr", "1e-3")
    assert status == 1 and f"{out} already holds a model" in error_line(err) and "--overwrite" in err
    assert files(out) == done
    assert rpln(capsys, *args, "-m", base, "-o", out, "--lr", "1e-3", "--overwrite")[0] == 0
    assert files(out)["model.safetensors"] != done["model.safetensors"]


def test_finetune_says_what_it_kept(base, tmp_path, capsys):
    train = write_csv(tmp_path / "train.csv", classification_rows(16, 0))
    dev = write_csv(tmp_path / "dev.csv", classification_rows(8, 1))
    status, out, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", train, "--eval", dev,
                            "-o", tmp_path / "o", "--epochs", "1", "--batch-size", "8", "--no-progress")
    assert status == 0
    assert json.loads(out)["kept"] == "best" and "saved the best model by accuracy" in err
    status, out, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", train,
                            "-o", tmp_path / "o2", "--epochs", "1", "--batch-size", "8", "--no-progress")
    assert status == 0 and "saved the last model (update 2)" in err and "no evaluation file" in err
    assert "best" not in err


def test_finetune_defaults_to_the_models_length_limit(base, tmp_path, capsys):
    """The bundled model takes 128 tokens; a fixed default of 256 made its fine-tuning fail."""
    limit = json.loads((base / "config.json").read_text())["max_position_embeddings"] - 2
    rows = classification_rows(8, 0)
    rows[0]["sentence1"] = " ".join(["apple"] * (2 * limit))  # longer than the model takes: truncated
    train = write_csv(tmp_path / "train.csv", rows)
    status, _, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", train, "-o", tmp_path / "o",
                          "--epochs", "1", "--quiet", "--no-progress")
    assert status == 0, err
    assert json.loads((tmp_path / "o" / "tokenizer_config.json").read_text())["model_max_length"] == limit
    status, _, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", train, "-o", tmp_path / "o2",
                          "--max-length", str(limit + 1), "--quiet")
    assert status == 1 and f"--max-length {limit + 1} is longer than the model's {limit} positions" in err


# ------------------------------------------------------------------------------------- data files
@pytest.mark.parametrize("text, message", [
    ('sentence1,label\nfine,yes\n"never closed,no\nthird,yes\nfourth,no\n',
     "train.csv, line 3: a quoted field opens here and is never closed"),
    ("sentence1,label\nfine,yes\nno label cell\nthird,no\n",
     "train.csv, row 2 (line 3): no 'label' value (the row has 1 of the 2 columns ['sentence1', 'label'])"),
    ("sentence1,label\nfine,yes\none,two,three\n", "train.csv, line 3: 3 cells, but the header has 2"),
    ('sentence1,label\nfine,yes\n"a\nb",no\nno label\n', "train.csv, row 3 (line 5): no 'label' value"),
])
def test_csv_mistakes_name_the_file_and_line(base, tmp_path, capsys, text, message):
    (tmp_path / "train.csv").write_text(text, encoding="utf-8")
    status, out, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", tmp_path / "train.csv",
                            "-o", tmp_path / "o", "--quiet")
    assert (status, out) == (1, "") and message in error_line(err)
    assert not (tmp_path / "o" / "config.json").exists()


def test_jsonl_rows_and_columns(base, tmp_path):
    rows = classification_rows(4, 0)
    del rows[2]["label"]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    config = dict(task="classification", model=str(base), output_dir=str(tmp_path / "o"), quiet=True)
    with pytest.raises(DataError, match=r"train\.jsonl, row 3 \(line 3\): no 'label' value"):
        finetune(FinetuneConfig(train_file=str(path), **config))
    path.write_text('{"sentence1": "a", "label": "x"}\n["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.jsonl, line 2: expected a JSON object of columns, got list"):
        finetune(FinetuneConfig(train_file=str(path), **config))


def test_a_missing_text_column_names_the_flag(base, tmp_path, capsys):
    path = write_csv(tmp_path / "train.csv", [{"body": "a", "label": "x"}, {"body": "b", "label": "y"}])
    status, _, err = rpln(capsys, "finetune", "classification", "-m", base, "--train", path, "-o", tmp_path / "o")
    assert status == 1 and "name it with --text-column" in error_line(err) and "with text_column" not in err


def test_a_single_class_is_refused_or_warned(base, tmp_path, capsys):
    rows = [{"sentence1": f"text {i}", "label": "yes"} for i in range(8)]
    train = write_csv(tmp_path / "train.csv", rows)
    args = ["finetune", "classification", "-m", base, "--train", train, "--epochs", "1", "--quiet", "--no-progress"]
    status, _, err = rpln(capsys, *args, "-o", tmp_path / "o")
    line = error_line(err)
    assert status == 1 and "every example has the label 'yes'" in line
    assert "--labels a,b" in line and "--allow-single-class" in line
    status, _, err = rpln(capsys, *args, "-o", tmp_path / "o2", "--allow-single-class")
    assert status == 0 and "rpln: warning: " in err and "every example has the label 'yes'" in err
    tags = tmp_path / "train.conll"
    tags.write_text("a O\nb O\n\nc O\n", encoding="utf-8")
    with pytest.raises(DataError, match="every example has the tag 'O'"):
        finetune(FinetuneConfig(task="token-classification", model=str(base), train_file=str(tags),
                                output_dir=str(tmp_path / "o3"), quiet=True))


def test_mask_split_must_sum_to_100(tmp_path, corpus, capsys):
    with pytest.raises(ValueError, match="sums to 150"):
        parse_split("50/50/50")
    assert parse_split("80/10/10") == pytest.approx((0.8, 0.1, 0.1)) == parse_split((0.8, 0.1, 0.1))
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", tmp_path / "p", "--mask-split", "50/50/50")
    assert status == 2 and "mask split '50/50/50' sums to 150" in err.splitlines()[-1]
    assert not (tmp_path / "p").exists()


def test_help_shows_the_defaults(capsys):
    _, out, _ = rpln(capsys, "pretrain", "--help")
    flat = " ".join(out.split())
    for shown in ("(default: 128)", "(default: 5e-04)" if "5e-04" in flat else "(default: 0.0005)",
                  "(default: 100/0/0)", "(default: 2)"):
        assert shown in flat, shown
    _, out, _ = rpln(capsys, "finetune", "--help")
    flat = " ".join(out.split())
    assert "(default: 2e-05)" in flat and "(default: 16)" in flat and "default: the model's limit" in flat


# ------------------------------------------------------------------------------ diverging loss
def test_a_diverging_loss_is_one_line(tmp_path, corpus, capsys):
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", tmp_path / "p", *TINY, "--max-steps", "5",
                          "--lr", "1e6", "--save-every", "1")
    line = error_line(err)
    assert status == 1 and "training diverged; lower the learning rate (--lr 1e+06)" in line
    assert "--clip-grad-norm" in line and "is from before" in line
    with pytest.raises(TrainingDiverged) as info:
        pretrain(tiny_settings(tmp_path / "q", corpus, lr=1e6, max_steps=5))
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------------- checkpoints
def test_resume_passes_over_an_unreadable_latest_checkpoint_and_stays_exact(tmp_path, corpus, capsys):
    straight = tmp_path / "straight"
    pretrain(tiny_settings(straight, corpus, max_steps=6, save_every=2))
    out = tmp_path / "run"
    pretrain(tiny_settings(out, corpus, max_steps=6, save_every=2, stop_at=4))
    latest = out / "checkpoints" / "step-00000004"
    (latest / "trainer_state.pt").write_bytes(b"")  # a 0-byte state: EOFError before
    (out / "checkpoints" / ".tmp-step-00000006-abcd").mkdir()  # what a killed save leaves
    (tmp_path / ".tmp-run-efgh").mkdir()
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", out, *tiny_flags(), "--max-steps", "6",
                          "--save-every", "2", "--resume")
    assert status == 0, err
    warning = [line for line in err.splitlines() if line.startswith("rpln: warning:")]
    assert len(warning) == 1 and "step-00000004 cannot be resumed from" in warning[0]
    assert f"resuming from {out / 'checkpoints' / 'step-00000002'}" in warning[0]
    for name, tensor in weights(straight).items():  # resumed from update 2: the same model as without a stop
        torch.testing.assert_close(weights(out)[name], tensor, rtol=0, atol=1e-6, msg=name)
    assert not (out / "checkpoints" / ".tmp-step-00000006-abcd").exists() and not (tmp_path / ".tmp-run-efgh").exists()


def tiny_flags() -> list[str]:
    """The command-line twin of ``tiny_settings``' model and data settings (the rest left at their default)."""
    return ["--tokenizer", FIXTURE_TOKENIZER, "--hidden-size", "32", "--layers", "2", "--heads", "4",
            "--intermediate-size", "48", "--dropout", "0", "--block-size", "16", "--batch-size", "4",
            "--lr", "3e-3", "--log-every", "1", "--eval-fraction", "0.2", "--no-progress", "--quiet",
            "--device", "cpu"]


def test_resume_from_a_damaged_checkpoint_names_the_intact_one(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    pretrain(tiny_settings(out, corpus, max_steps=6, save_every=2, stop_at=4))
    damaged = out / "checkpoints" / "step-00000004"
    (damaged / "trainer_state.pt").write_bytes(b"PK\x03\x04 not a torch file")
    status, _, err = rpln(capsys, "pretrain", "--train", corpus, "-o", out, *TINY, "--resume", damaged)
    line = error_line(err)
    intact = out / "checkpoints" / "step-00000002"
    assert status == 1 and f"{damaged / 'trainer_state.pt'} cannot be read: it is truncated or corrupt" in line
    assert line.endswith(f"the newest intact checkpoint is {intact}: resume from it (--resume {intact})")
    (intact / "training_config.json").write_text("{not json", encoding="utf-8")
    (damaged / "trainer_state.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"step-00000002/training_config\.json is not valid JSON"):
        pretrain(tiny_settings(out, corpus, max_steps=6, save_every=2, resume=str(intact)))


def test_ctrl_c_names_the_last_checkpoint_and_the_resume_command(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    argv = ["pretrain", "--train", str(corpus), "-o", str(out), *TINY, "--max-steps", "100000", "--save-every", "1"]
    # a shell that started the test run in the background ignores SIGINT, and children inherit that (Python
    # then keeps ignoring it): give the child the default disposition, as a terminal's Ctrl-C finds it
    proc = subprocess.Popen([sys.executable, "-m", "roberta_prelayernorm", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 90
    while not (out / "checkpoints" / "latest").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stdout == "", stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpln: interrupted: at update "), stderr
    checkpoint = lines[0].split("the last checkpoint is ")[1].split(";")[0]
    assert Path(checkpoint).parent == out / "checkpoints" and (Path(checkpoint) / "trainer_state.pt").is_file()
    command = shlex.split(lines[0].split("continue with: ")[1])
    assert command == ["rpln", *argv, "--resume"]
    step = int(Path(checkpoint).name.split("-")[1])
    status, printed, err = rpln(capsys, *command[1:], "--stop-at", step + 1)  # the printed command resumes
    assert status == 0 and json.loads(printed)["step"] == step + 1, err
