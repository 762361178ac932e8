"""``rpln convert`` through the real entry point: the happy path, and every bad input of the issue as one
line ``rpln: error: …``, a non-zero exit status and nothing written."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import pytest
import torch

from fairseq_helpers import E, FIXTURE, load_fixture, needs_fixture, save_variant, with_options
from roberta_prelayernorm.cli import main

pytestmark = needs_fixture


def rpln(capsys: pytest.CaptureFixture, *args: str | os.PathLike) -> tuple[int, str, str]:
    code = main([os.fspath(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def assert_refused(capsys: pytest.CaptureFixture, source: Path, out: Path, *words: str, extra: tuple = ()) -> str:
    """The command fails with one error line naming ``words``; ``out`` and its parent are as they were."""
    before, siblings = snapshot(out), sorted(os.listdir(out.parent))
    code, stdout, stderr = rpln(capsys, "convert", source, "--output", out, *extra)
    assert code != 0 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpln: error: "), stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(out) == before and sorted(os.listdir(out.parent)) == siblings  # no staging left behind
    return lines[0]


def test_converts_and_reports(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, stdout, stderr = rpln(capsys, "convert", FIXTURE / "model.pt", "--output", tmp_path / "out")
    assert code == 0
    report = json.loads(stdout)
    assert (report["kind"], report["weights"], report["files"]) == ("fairseq", "fairseq",
                                                                    ["config.json", "model.safetensors"])
    assert "rpln: note: no tokenizer written" in stderr  # and how to get one
    assert "--bpe-vocab" in stderr


def test_folder_source_and_from(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """A folder holding model.pt + dict.txt is a fairseq source; --from names the kind."""
    code, stdout, _ = rpln(capsys, "convert", FIXTURE, "--output", tmp_path / "out", "--from", "fairseq",
                           "--dtype", "float16")
    assert code == 0 and json.loads(stdout)["dtype"] == "float16"


# --------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("content", ["text", "tensor", "state-dict", "other-model", "old-fairseq"])
def test_not_a_fairseq_checkpoint(capsys: pytest.CaptureFixture, tmp_path: Path, content: str) -> None:
    path = tmp_path / "src" / "model.pt"
    path.parent.mkdir()
    if content == "text":
        path.write_text("this is not a checkpoint\n")
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    elif content == "state-dict":  # a bare state dict, as pytorch_model.bin holds
        torch.save({"roberta.embeddings.word_embeddings.weight": torch.zeros(3, 2)}, path)
    elif content == "other-model":  # a fairseq checkpoint of a translation model
        torch.save({"model": {"encoder.embed_tokens.weight": torch.zeros(3, 2)}, "args": None}, path)
    else:
        torch.save({"model": {"decoder.sentence_encoder.embed_tokens.weight": torch.zeros(3, 2)}}, path)
    words = {"text": ("not a PyTorch checkpoint",), "tensor": ("not a fairseq checkpoint",),
             "state-dict": ("not a fairseq checkpoint",), "other-model": ("not of a RoBERTa encoder",),
             "old-fairseq": ("fairseq < 0.10",)}[content]
    assert_refused(capsys, path, tmp_path / "out", str(path), *words)


def test_post_ln(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = with_options(load_fixture(), encoder_normalize_before=False)
    checkpoint["model"] = {k: v for k, v in checkpoint["model"].items() if not k.startswith(f"{E}.layer_norm.")}
    path = save_variant(tmp_path / "src", checkpoint)
    assert_refused(capsys, path, tmp_path / "out", "post-LN", "encoder_normalize_before")


def test_no_embedding_layer_norm(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    checkpoint = with_options(load_fixture(), layernorm_embedding=False)
    checkpoint["model"] = {k: v for k, v in checkpoint["model"].items() if "layernorm_embedding" not in k}
    path = save_variant(tmp_path / "src", checkpoint)
    assert_refused(capsys, path, tmp_path / "out", "no embedding LayerNorm", "layernorm_embedding")


def test_unknown_weights(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """Weights the model family does not have (an adapter, say) are refused, not silently dropped."""
    checkpoint = load_fixture()
    checkpoint["model"] = {**checkpoint["model"], f"{E}.layers.0.adapter.weight": torch.ones(4, 32)}
    path = save_variant(tmp_path / "src", checkpoint)
    assert_refused(capsys, path, tmp_path / "out", "does not have", "layers.0.adapter.weight")


def test_dict_size_mismatch(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    lines = (FIXTURE / "dict.txt").read_text().splitlines()[:-2]
    path = save_variant(tmp_path / "src", load_fixture(), lines)
    assert_refused(capsys, path, tmp_path / "out", "90 symbols", "95 ids", "97 rows", "--dict")


def test_dict_given_elsewhere(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """--dict with a wrong file is refused too; the right one converts."""
    path = save_variant(tmp_path / "src", load_fixture(), [])
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("a 1\nb 2\n")
    assert_refused(capsys, path, tmp_path / "out", "2 symbols", extra=("--dict", wrong))
    code, _, _ = rpln(capsys, "convert", path, "--output", tmp_path / "out", "--dict", FIXTURE / "dict.txt")
    assert code == 0


def test_missing_dict(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = save_variant(tmp_path / "src", load_fixture(), [])
    assert_refused(capsys, path, tmp_path / "out", "dict.txt", "does not exist", "--dict")


def test_pickle_that_would_run_code(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """A checkpoint whose pickle calls exec (it would create a file) is refused; the file is not created."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # noqa: ANN204 - what an attacker would write
            return (builtins.exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    checkpoint = load_fixture()
    checkpoint["extra_state"] = Payload()
    path = save_variant(tmp_path / "src", checkpoint)
    line = assert_refused(capsys, path, tmp_path / "out", "refused to unpickle", "builtins.exec", "run code")
    assert not marker.exists(), line


def test_output_holding_a_model(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert rpln(capsys, "convert", FIXTURE / "model.pt", "--output", out)[0] == 0
    (out / "notes.txt").write_text("mine")
    assert_refused(capsys, FIXTURE / "model.pt", out, "already holds a model", "--overwrite", extra=("--to", "pt,onnx"))
    code, stdout, _ = rpln(capsys, "convert", FIXTURE / "model.pt", "--output", out, "--overwrite", "--dtype",
                           "bfloat16", "--max-shard-size", "40KB")
    assert code == 0 and json.loads(stdout)["dtype"] == "bfloat16"
    # the old single weights file is gone (the shards replace it), the user's own file stays
    names = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" not in names and "model.safetensors.index.json" in names
    assert len([n for n in names if n.endswith(".safetensors")]) > 1 and "notes.txt" in names


def test_a_failure_while_writing_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An error after the PyTorch weights are staged (here: the ONNX export) leaves no output folder."""
    from roberta_prelayernorm.convert import convert
    from roberta_prelayernorm.torch import onnx

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(onnx, "export_onnx", broken)
    with pytest.raises(OSError, match="disk full"):
        convert(FIXTURE / "model.pt", tmp_path / "out", to="pt,onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, words", [
    (("--to", "pt,caffe"), ("--to", "caffe")),
    (("--from", "keras"), ("--from", "keras")),
])
def test_usage_errors(capsys: pytest.CaptureFixture, tmp_path: Path, args: tuple, words: tuple) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["convert", str(FIXTURE / "model.pt"), "--output", str(tmp_path / "out"), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rpln convert: error:") and all(w in err for w in words)
    assert not (tmp_path / "out").exists()


def test_bpe_files_go_together(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert_refused(capsys, FIXTURE / "model.pt", tmp_path / "out", "--bpe-merges",
                   extra=("--bpe-vocab", tmp_path / "encoder.json"))


def test_not_a_model_folder(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hello")
    assert_refused(capsys, tmp_path / "src", tmp_path / "out", "neither config.json", "model.pt")


@pytest.mark.parametrize("fmt, family", [("tf", "TF"), ("flax", "Flax")])
def test_missing_family(capsys: pytest.CaptureFixture, tmp_path: Path, fmt: str, family: str) -> None:
    from importlib.util import find_spec

    if find_spec(f"roberta_prelayernorm.{fmt}") is not None:
        pytest.skip(f"the {family} family is installed")
    assert_refused(capsys, FIXTURE / "model.pt", tmp_path / "out", f"the {family} family needs the `{fmt}` extra",
                   extra=("--to", f"pt,{fmt}"))


def test_hub_id_from_the_cache(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """A princeton-nlp hub id converts from a prepared cache (offline); one missing from it is one error line."""
    from fairseq_helpers import princeton_variant

    commit = "0123abc"
    repo = tmp_path / "cache" / "models--princeton-nlp--efficient_mlm_tiny"
    princeton_variant(repo / "snapshots" / commit, load_fixture())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code, stdout, stderr = rpln(capsys, "convert", "princeton-nlp/efficient_mlm_tiny", "--output", tmp_path / "out",
                                "--cache-dir", tmp_path / "cache")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert (report["kind"], report["tokenizer"]) == ("princeton-nlp", False)
    assert "no tokenizer written" in stderr and "attention.self.LayerNorm" in stderr
    assert_refused(capsys, "princeton-nlp/not_there", tmp_path / "out2", "princeton-nlp/not_there", "cache",
                   extra=("--cache-dir", tmp_path / "cache"))
