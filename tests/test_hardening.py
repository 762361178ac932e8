"""What a probe of ``rpln`` and the library found (issue 14), each case through the real entry point:
one ``rpln: error:`` line with the documented status (2: usage, 1: runtime) instead of a traceback, a
silently wrong answer or data loss; messages that name the problem, the file and line, and the fix.

Training cases (output folders, checkpoints, Ctrl-C, data files) are in
``tests/training/test_training_hardening.py``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import roberta_prelayernorm as rp
from roberta_prelayernorm import cli
from roberta_prelayernorm.core.errors import CheckpointError
from roberta_prelayernorm.pipelines import pipeline
from test_cli import one_thread, rpln  # noqa: F401 - the same autouse fixture: one thread, rpln's log handler removed
from test_pipelines import FIXTURE_TOKENIZER, model_folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hardening_models")
    return {"mlm": model_folder(root / "mlm", "RobertaPreLayerNormForMaskedLM", seed=1),
            "lm": model_folder(root / "lm", "RobertaPreLayerNormForCausalLM", seed=5, is_decoder=True)}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rpln: error: ") and "Traceback" not in err, err
    return lines[0]


def env(**changes: str | None) -> dict[str, str]:
    out = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def module(*argv: Any, **kwargs: Any) -> subprocess.CompletedProcess:
    """``python -m roberta_prelayernorm ...`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "roberta_prelayernorm", *map(str, argv)], capture_output=True,
                          timeout=120, **{"env": env(), **kwargs})


# ------------------------------------------------------------------------------------ exit statuses
def test_help_documents_the_exit_statuses(capsys) -> None:
    status, out, _ = rpln(capsys, "--help")
    assert status == 0
    assert "exit status:" in out and "1    runtime error" in out and "2    usage error" in out


@pytest.mark.parametrize("case, status", [
    ("texts_and_file", 2), ("empty_argument", 2), ("similarity_without_pooling", 2), ("bad_option_value", 2),
    ("missing_file", 1), ("folder_as_file", 1), ("missing_model", 1),
])
def test_the_same_kind_of_mistake_gets_the_same_status(models, capsys, tmp_path: Path, case: str,
                                                      status: int) -> None:
    data = tmp_path / "in.txt"
    data.write_text("hello\n", encoding="utf-8")
    argv = {
        "texts_and_file": ["embed", "-m", models["mlm"], "-f", data, "text"],
        "empty_argument": ["embed", "-m", models["mlm"], "ok", " "],
        "similarity_without_pooling": ["embed", "-m", models["mlm"], "--similarity", "--pooling", "none", "a", "b"],
        "bad_option_value": ["embed", "-m", models["mlm"], "--batch-size", "0", "a"],
        "missing_file": ["embed", "-m", models["mlm"], "-f", tmp_path / "nope.txt"],
        "folder_as_file": ["embed", "-m", models["mlm"], "-f", tmp_path],
        "missing_model": ["embed", "-m", tmp_path / "no-model", "a"],
    }[case]
    got, out, err = rpln(capsys, *argv)
    assert (got, out) == (status, "")
    assert err.strip().splitlines()[-1].startswith(("rpln: error: ", "rpln embed: error: "))


# ------------------------------------------------------------------------------------------ devices
DEVICES = ["meta", "tpu", "cuda:abc"] + ([] if torch.cuda.is_available() else ["cuda"]) + ["cuda:99"]


@pytest.mark.parametrize("device", DEVICES)
def test_one_device_check_for_every_command(models, capsys, tmp_path: Path, device: str) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    argvs = [["fill-mask", "-m", models["mlm"], "a <mask>"],
             ["pretrain", "--train", corpus, "-o", tmp_path / "p"],
             ["finetune", "classification", "-m", models["mlm"], "--train", tmp_path / "x.csv", "-o", tmp_path / "f"]]
    messages = set()
    for argv in argvs:
        status, out, err = rpln(capsys, *argv, "--device", device)
        assert (status, out) == (2, ""), err
        messages.add(one_error_line(err))
    assert len(messages) == 1 and f"--device {device}" in messages.pop()  # one check, one wording
    assert not (tmp_path / "p").exists() and not (tmp_path / "f").exists()  # refused before anything is written
    from roberta_prelayernorm.torch.devices import resolve_device

    for call in (lambda: resolve_device(device), lambda: pipeline("fill-mask", models["mlm"], device=device)):
        with pytest.raises(ValueError, match="device"):
            call()


def test_a_machine_that_has_the_device_runs_it(models, capsys) -> None:
    status, out, _ = rpln(capsys, "fill-mask", "-m", models["mlm"], "--device", "cpu", "--json", "a <mask>")
    assert status == 0 and len(json.loads(out)["predictions"][0]) == 5
    if torch.cuda.is_available():
        status, gpu, err = rpln(capsys, "fill-mask", "-m", models["mlm"], "--device", "cuda:0", "--json", "a <mask>")
        assert status == 0, err
        cpu, gpu = json.loads(out)["predictions"][0], json.loads(gpu)["predictions"][0]
        assert [p["token"] for p in gpu] == [p["token"] for p in cpu]
        assert max(abs(a["score"] - b["score"]) for a, b in zip(cpu, gpu)) < 1e-4


# --------------------------------------------------------------------------------- inputs and pipes
def test_a_closed_pipe_stops_quietly(models) -> None:
    texts = [" ".join(["word"] * 20)] * 100  # megabytes of JSON: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "roberta_prelayernorm", "embed", "-m", str(models["mlm"]),
                             "--pooling", "none", "--json", *texts], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env())
    first = proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b'{"text"')
    assert err == "" and proc.returncode in (0, 141), err


@pytest.mark.parametrize("fmt", ["lines", "jsonl"])
def test_a_byte_order_mark_is_not_part_of_the_first_text(models, capsys, tmp_path: Path, fmt: str) -> None:
    texts = ["first <mask> here", "second <mask>"]
    body = "\n".join(texts if fmt == "lines" else [json.dumps({"text": t}) for t in texts]) + "\n"
    path = tmp_path / f"in.{'txt' if fmt == 'lines' else 'jsonl'}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    status, out, err = rpln(capsys, "fill-mask", "-m", models["mlm"], "-f", path, "--json", "--top-k", "2")
    assert status == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    want = pipeline("fill-mask", models["mlm"])(texts, top_k=2)
    assert [g["text"] for g in got] == texts
    assert [g["predictions"][0] for g in got] == want
    piped = module("fill-mask", "-m", models["mlm"], "--json", "--top-k", "2", input=b"\xef\xbb\xbf" + body.encode())
    assert piped.returncode == 0 and [json.loads(x)["text"] for x in piped.stdout.decode().splitlines()] == texts


@pytest.mark.parametrize("data, where", [
    (b"ok\n\xff\xfe not utf-8\n", "stdin is not UTF-8 text (invalid start byte at byte 3, line 2)"),
    (bytes(range(256)) * 4, "stdin is not"),
    (b"a\x00b\n", "stdin is not text: it holds NUL bytes"),
])
def test_binary_or_invalid_utf8_on_stdin(models, data: bytes, where: str) -> None:
    done = module("embed", "-m", models["mlm"], input=data)
    assert done.returncode == 1 and done.stdout == b""
    assert where in one_error_line(done.stderr.decode())


def test_lone_surrogates_and_bad_ids_are_value_errors() -> None:
    tokenizer = rp.AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    with pytest.raises(ValueError, match=r"text 1 holds a lone surrogate '\\udc80' at character 1"):
        tokenizer(["fine", "a\udc80b"])
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=f"{bad} is not a token id") as info:
            tokenizer.decode([5, bad])
        assert isinstance(info.value, OverflowError)  # what the reference raises, for code that catches it
        with pytest.raises(ValueError, match="not a token id"):
            tokenizer.convert_ids_to_tokens([bad])


@pytest.mark.oracle
def test_decode_drops_ids_past_the_vocabulary_as_the_reference() -> None:
    transformers = pytest.importorskip("transformers")
    ref = transformers.AutoTokenizer.from_pretrained(str(FIXTURE_TOKENIZER))
    ours = rp.AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    ids = [0, 68, 99999, 70, 2]
    assert ours.decode(ids) == ref.decode(ids) and 99999 > len(ours)
    with pytest.raises(OverflowError):
        ref.decode([-1])


# ---------------------------------------------------------------------------------------- fill-mask
def test_fill_mask_names_the_line_without_a_mask_and_can_skip_it(models, capsys, tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_text("one <mask> here\n\nno mask at all\nthree <mask>\nnor here\n", encoding="utf-8")
    status, out, err = rpln(capsys, "fill-mask", "-m", models["mlm"], "-f", path)
    assert (status, out) == (1, "")
    line = one_error_line(err)
    assert f"{path}:3: no <mask> in this text (1 more inputs lack it too)" in line and "--skip-unmasked" in line
    status, out, err = rpln(capsys, "fill-mask", "-m", models["mlm"], "-f", path, "--skip-unmasked", "--json")
    assert status == 0 and f"skipped 2 of 4 inputs without <mask> ({path}:3, {path}:5)" in err
    want = pipeline("fill-mask", models["mlm"])(["one <mask> here", "three <mask>"])
    assert [json.loads(x)["predictions"] for x in out.splitlines()] == [[w] for w in want]


def test_fill_mask_json_has_one_shape_and_no_special_tokens(models, capsys) -> None:
    texts = ["a <mask> b", "the <mask> of <mask>"]
    status, out, _ = rpln(capsys, "fill-mask", "-m", models["mlm"], "--json", "--top-k", "2", *texts)
    assert status == 0
    got = [json.loads(x)["predictions"] for x in out.splitlines()]
    assert [len(g) for g in got] == [1, 2] and all(len(m) == 2 for g in got for m in g)  # a list per mask
    raw = pipeline("fill-mask", models["mlm"])(texts[1], top_k=2)
    for mask_got, mask_raw in zip(got[1], raw):
        for g, r in zip(mask_got, mask_raw):
            assert r["sequence"].startswith("<s>") and r["sequence"].endswith("</s>")  # the reference's shape
            assert g["sequence"] == r["sequence"][3:-4] and g["token"] == r["token"]
    status, table, _ = rpln(capsys, "fill-mask", "-m", models["mlm"], "--top-k", "2", *texts)
    assert "<s>" not in table and "</s>" not in table


def test_embed_without_pooling_gives_each_vector_its_token(models, capsys) -> None:
    text = "Hello world, again"
    status, out, _ = rpln(capsys, "embed", "-m", models["mlm"], "--pooling", "none", "--json", text)
    assert status == 0
    record = json.loads(out)
    encoding = rp.AutoTokenizer.from_pretrained(models["mlm"])(text)
    assert record["tokens"] == encoding.tokens() and record["tokens"][0] == "<s>"
    assert record["offsets"] == [list(o) for o in encoding.encodings[0].offsets]
    want = pipeline("feature-extraction", models["mlm"])(text)[0]
    assert len(record["hidden_states"]) == len(record["tokens"])
    assert max(abs(a - b) for u, v in zip(record["hidden_states"], want) for a, b in zip(u, v)) <= 1e-5


# ---------------------------------------------------------------------------------------- the hub
def test_a_mistyped_model_name_fails_fast_when_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    start = time.monotonic()
    done = module("fill-mask", "-m", "mymodel", "a <mask>", cwd=tmp_path,
                  env=env(HF_HUB_OFFLINE=None, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf")))
    elapsed = time.monotonic() - start
    assert done.returncode == 1
    assert one_error_line(done.stderr.decode()) == (
        "rpln: error: mymodel: no such folder, and as a hub id it is not in the cache (the hub cannot be reached)")
    assert elapsed < 20  # huggingface_hub's retries took about 30 s


def test_offline_the_message_says_why(capsys) -> None:
    status, _, err = rpln(capsys, "info", "org/not-cached")
    assert status == 1 and one_error_line(err).endswith(
        "org/not-cached: no such folder, and as a hub id it is not in the cache (offline mode: HF_HUB_OFFLINE is set)")


# --------------------------------------------------------------------------------- checkpoint files
def test_a_weights_file_instead_of_the_folder(models, capsys) -> None:
    weights = models["mlm"] / "model.safetensors"
    with pytest.raises(OSError, match=r"model\.safetensors is a file, not a model folder: give the folder"):
        rp.RobertaPreLayerNormForMaskedLM.from_pretrained(weights)
    status, _, err = rpln(capsys, "fill-mask", "-m", weights, "a <mask>")
    assert status == 1 and f"give the folder that holds config.json and the weights ({models['mlm']})" in err


class Evil:
    def __reduce__(self):  # noqa: ANN204 - what a malicious checkpoint does
        return (os.system, ("echo pwned",))


def test_a_malicious_pickle_is_refused_as_unsafe(models, capsys, tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_bytes((models["mlm"] / "config.json").read_bytes())
    torch.save({"weight": Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"refused to load .*pytorch_model\.bin as unsafe.*GLOBAL \w+\.system"):
        rp.RobertaPreLayerNormForMaskedLM.from_pretrained(folder)
    status, out, err = rpln(capsys, "info", folder)
    line = one_error_line(err)
    assert status == 1 and "as unsafe" in line and "weights_only" not in line and "corrupt" not in line


def test_a_shard_index_pointing_outside_the_folder(capsys, tmp_path: Path) -> None:
    model = rp.RobertaPreLayerNormForMaskedLM(rp.RobertaPreLayerNormConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=20))
    model.save_pretrained(tmp_path / "m", max_shard_size="10KB")
    index_path = tmp_path / "m" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../outside.safetensors"
    index_path.write_text(json.dumps(index))
    status, _, err = rpln(capsys, "info", tmp_path / "m")
    assert status == 1 and "outside.safetensors" in one_error_line(err)


# --------------------------------------------------------------------------------------- tokenizers
def tokenizer_copy(tmp_path: Path, *, keep_vocab: bool = True) -> Path:
    folder = tmp_path / "tok"
    folder.mkdir()
    for f in Path(FIXTURE_TOKENIZER).iterdir():
        if keep_vocab or f.name not in ("vocab.json", "merges.txt"):
            (folder / f.name).write_bytes(f.read_bytes())
    return folder


def test_a_corrupt_tokenizer_json_falls_back_to_vocab_and_merges(tmp_path: Path, caplog) -> None:
    folder = tokenizer_copy(tmp_path)
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": [', encoding="utf-8")
    good = rp.AutoTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    with caplog.at_level(logging.WARNING, logger="roberta_prelayernorm"):
        fallback = rp.AutoTokenizer.from_pretrained(folder)
    assert "tokenizer.json is not a readable tokenizer.json" in caplog.text and "vocab.json" in caplog.text
    texts = ["Hello <mask> world!", "  spaces and ünïcode 😀"]
    assert fallback(texts)["input_ids"] == good(texts)["input_ids"]
    from roberta_prelayernorm.training.text import load_tokenizer  # what training reads: the same fallback

    assert load_tokenizer(folder).encode("Hello world").ids == good("Hello world")["input_ids"]


def test_a_corrupt_tokenizer_json_without_fallback_names_the_file(tmp_path: Path, capsys) -> None:
    folder = tokenizer_copy(tmp_path, keep_vocab=False)
    (folder / "tokenizer.json").write_bytes(b"\x00garbage")
    with pytest.raises(OSError, match=r"tok/tokenizer\.json is not a readable tokenizer\.json .*no vocab\.json"):
        rp.AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("content, match", [
    ('["<s>", "<pad>"]', r"vocab\.json holds a JSON list; a vocab\.json is an object"),
    ('{"<s>": "zero"}', r"vocab\.json: the id of '<s>' is 'zero'"),
    ("{not json", r"vocab\.json is not valid JSON"),
])
def test_a_vocab_json_that_is_not_a_vocabulary(tmp_path: Path, content: str, match: str) -> None:
    folder = tokenizer_copy(tmp_path)
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.json").write_text(content, encoding="utf-8")
    with pytest.raises(OSError, match=match):
        rp.AutoTokenizer.from_pretrained(folder)


# -------------------------------------------------------------------------- the bundled default model
@pytest.mark.parametrize("command, fix", [
    ("classify", "rpln finetune classification --train FILE -o my-model, then rpln classify --model my-model"),
    ("tag", "rpln finetune token-classification --train FILE"),
    ("answer", "rpln finetune question-answering --train FILE"),
    ("generate", "pass --model with a RobertaPreLayerNormForCausalLM checkpoint"),
])
def test_commands_the_bundled_model_cannot_serve_say_what_to_do(capsys, command: str, fix: str) -> None:
    argv = [command, "--context", "Some context.", "Who?"] if command == "answer" else [command, "some text"]
    status, out, err = rpln(capsys, *argv)
    line = one_error_line(err)
    assert (status, out) == (2, "") and line.startswith("rpln: error: the bundled model is a "
                                                        "RobertaPreLayerNormForMaskedLM without a") and fix in line


# ------------------------------------------------------------------------- library words, CLI flags
def test_messages_name_the_flags_not_the_library_arguments(models, capsys) -> None:
    status, _, err = rpln(capsys, "generate", "-m", models["lm"], "-n", "2", "hello")
    line = one_error_line(err)
    assert status == 1 and "--num-return-sequences" in line and "--sample" in line
    assert "do_sample" not in line and "num_return_sequences" not in line
    status, _, err = rpln(capsys, "generate", "-m", models["mlm"], "hello")
    line = one_error_line(err)
    assert "--model a causal LM checkpoint" in line and "is_decoder=True" not in line


def test_library_words_to_flags_leaves_paths_alone() -> None:
    parser = cli.build_parser()
    finetune = parser._subparsers._group_actions[0].choices["finetune"]
    message = ("/runs/output_dir/x.csv: no text column; name it with text_column, max_length=512 or pass "
               "overwrite=True (output_dir)")
    assert cli.in_cli_words(message, finetune) == (
        "/runs/output_dir/x.csv: no text column; name it with --text-column, --max-length 512 or pass "
        "--overwrite (--output)")


# ---------------------------------------------------------------------------------------- export-onnx
def test_export_onnx_checks_the_output_path_first(models, capsys, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    start = time.monotonic()
    status, out, err = rpln(capsys, "export-onnx", "-m", models["mlm"], "-o", blocker / "model.onnx")
    assert (status, out) == (1, "") and f"{blocker} is a file, not a folder" in one_error_line(err)
    assert time.monotonic() - start < 5  # before loading and exporting (20-30 s for a real model)
    from roberta_prelayernorm.torch.onnx import _check_writable

    _check_writable(tmp_path / "new" / "deeper" / "model.onnx")  # folders that do not exist yet are made
    assert not (tmp_path / "new").exists()


def test_export_onnx_prints_a_table_or_json_and_shows_stages(models, capsys, monkeypatch, tmp_path: Path) -> None:
    import roberta_prelayernorm.torch.onnx as onnx_module

    def fake_export(path, output, *, progress, **options):  # the real export is tested in test_export.py
        for stage in ("loading", "exporting", "writing"):
            progress(stage)
        return onnx_module.OnnxExport(Path(output), "fill-mask", 20, ["input_ids", "attention_mask"], ["logits"])

    monkeypatch.setattr(onnx_module, "export_onnx", fake_export)
    status, out, err = rpln(capsys, "export-onnx", "-m", models["mlm"], "-o", tmp_path / "m.onnx", "--progress")
    assert status == 0 and err.splitlines() == ["rpln: loading", "rpln: exporting", "rpln: writing"]
    assert out.splitlines()[0].split() == ["output", str(tmp_path / "m.onnx")]
    assert "inputs   input_ids, attention_mask" in out
    status, out, err = rpln(capsys, "export-onnx", "-m", models["mlm"], "-o", tmp_path / "m.onnx", "--json")
    assert status == 0 and err == "" and json.loads(out)["outputs"] == ["logits"]
