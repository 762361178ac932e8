"""The ``rpln`` inference commands: results equal the pipelines', inputs from arguments, files and stdin,
tables and JSON lines, and bad input as one ``rpln: error:`` line with a non-zero status.

A few tests run the real entry points (``python -m roberta_prelayernorm`` and ``.venv/bin/rpln``) in a
subprocess; the rest call ``cli.main`` in-process to stay fast.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from roberta_prelayernorm import cli
from roberta_prelayernorm.pipelines import pipeline
from test_pipelines import NER_LABELS, assert_same, model_folder

COMMANDS = ["fill-mask", "embed", "classify", "tag", "answer", "generate", "info", "download"]
CONTEXT = "Jim Henson was a nice puppet maker from Mississippi. He created the Muppets."


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    logger = logging.getLogger("roberta_prelayernorm")  # the handler that rpln adds
    logger.handlers = [h for h in logger.handlers if type(h).__name__ != "StderrHandler"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_models")
    return {
        "mlm": model_folder(root / "mlm", "RobertaPreLayerNormForMaskedLM", seed=1),
        "cls": model_folder(root / "cls", "RobertaPreLayerNormForSequenceClassification", seed=2,
                            id2label={0: "neg", 1: "pos"}),
        "ner": model_folder(root / "ner", "RobertaPreLayerNormForTokenClassification", seed=3, id2label=NER_LABELS),
        "qa": model_folder(root / "qa", "RobertaPreLayerNormForQuestionAnswering", seed=4),
        "lm": model_folder(root / "lm", "RobertaPreLayerNormForCausalLM", seed=5, is_decoder=True),
    }


def rpln(capsys: pytest.CaptureFixture, *argv: Any) -> tuple[int, str, str]:
    """``cli.main`` in-process: (status, stdout, stderr)."""
    capsys.readouterr()
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help, usage errors
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}


# ------------------------------------------------------------------------------ the real entry points
def test_module_entry_point_gives_the_pipeline_results(models) -> None:
    texts = ["The capital of France is <mask>.", "Zürich café <mask> 東京 😀"]
    done = subprocess.run([sys.executable, "-m", "roberta_prelayernorm", "fill-mask", "--model", models["mlm"],
                           "--json", "--top-k", "3", *texts], capture_output=True, text=True, env=env(), timeout=120)
    assert done.returncode == 0, done.stderr
    want = pipeline("fill-mask", models["mlm"])(texts, top_k=3)  # one mask each: one list per mask in the JSON
    # (the subprocess runs this tiny model's products plain, the test's packed: scores within ATOL)
    assert_same(jsonl(done.stdout), [{"text": t, "predictions": [w]} for t, w in zip(texts, want)])
    empty = subprocess.run([sys.executable, "-m", "roberta_prelayernorm", "embed", "--model", models["mlm"]],
                           input="\n \n", capture_output=True, text=True, env=env(), timeout=120)
    assert (empty.returncode, empty.stdout) == (1, "")  # a runtime error: the input, not the command line
    assert empty.stderr == "rpln: error: <stdin> is empty: no texts to process\n"


def test_script_reads_jsonl_from_stdin_and_reports_bad_lines(models) -> None:
    script = Path(sys.executable).with_name("rpln")
    if not script.exists():
        pytest.skip("no rpln script next to the interpreter")
    lines = [{"text": "What a great film!"}, {"text": "Dull.", "text_pair": "Too long."}]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    done = subprocess.run([script, "classify", "-m", models["cls"], "--json", "--top-k", "all"], input=stdin,
                          capture_output=True, text=True, env=env(), timeout=120)
    assert done.returncode == 0, done.stderr
    classify = pipeline("text-classification", models["cls"])
    want = classify(["What a great film!", {"text": "Dull.", "text_pair": "Too long."}], top_k=None)
    got = jsonl(done.stdout)
    assert_same([g["labels"] for g in got], want)
    assert got[1]["text_pair"] == "Too long."

    bad = subprocess.run([script, "classify", "-m", models["cls"]], input=stdin + "{not json\n",
                         capture_output=True, text=True, env=env(), timeout=120)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["rpln: error: <stdin>:3: not valid JSON (Expecting property name "
                                               "enclosed in double quotes, column 2)"]


def test_help_shows_an_example_for_each_command(capsys) -> None:
    status, out, _ = rpln(capsys, "--help")
    assert status == 0 and "example" in out
    for command in COMMANDS:
        status, out, _ = rpln(capsys, command, "--help")
        assert status == 0 and "example" in out and f"rpln {command}" in out, command


# ----------------------------------------------------------------------------- results equal pipelines
def test_fill_mask_file_table_and_progress(models, capsys, tmp_path: Path) -> None:
    texts = ["Hello <mask>!", "a <mask> b <mask>", "x <mask>"]
    (tmp_path / "in.txt").write_text("\n".join(texts[:2]) + "\n\n" + texts[2] + "\n", encoding="utf-8")
    status, out, err = rpln(capsys, "fill-mask", "-m", models["mlm"], "-f", tmp_path / "in.txt", "--json",
                            "--progress", "--batch-size", "2", "--target", " hello", "--target", "Ġthe")
    assert status == 0
    fill = pipeline("fill-mask", models["mlm"])
    want = fill(texts, targets=[" hello", "Ġthe"])
    # one list per mask; a several-mask sequence without the <s> … </s> that the pipeline keeps
    want = [w if isinstance(w[0], list) else [w] for w in want]
    want = [[[{**p, "sequence": p["sequence"].removeprefix("<s>").removesuffix("</s>")} for p in m] for m in w]
            for w in want]
    assert "<s>" in fill(texts[1])[0][0]["sequence"]
    assert_same(jsonl(out), [{"text": t, "predictions": w} for t, w in zip(texts, want)])  # batches of 2 vs 8
    assert "3/3" in err and "not a token of the vocabulary" in err  # tqdm's bar and the targets' warning
    status, out, _ = rpln(capsys, "fill-mask", "-m", models["mlm"], "--top-k", "2", *texts[:2])
    lines = out.splitlines()
    assert lines[0].split() == ["text", "mask", "rank", "score", "token", "sequence"]
    assert len(lines) == 2 + 2 + 2 * 2 and lines[2].startswith("Hello <mask>!")


def test_embed_and_similarity(models, capsys) -> None:
    texts = ["A cat sits.", "A cat is sitting on the mat.", "Stock prices fell."]
    status, out, _ = rpln(capsys, "embed", "-m", models["mlm"], "--json", "--pooling", "cls", "--normalize", *texts)
    want = pipeline("feature-extraction", models["mlm"])(texts, pooling="cls", normalize=True)
    assert status == 0 and [r["embedding"] for r in jsonl(out)] == want
    status, out, _ = rpln(capsys, "embed", "-m", models["mlm"], "--similarity", "--json", *texts)
    matrix = torch.tensor(jsonl(out)[0]["similarity"])
    vectors = torch.tensor(pipeline("feature-extraction", models["mlm"])(texts, pooling="mean", normalize=True))
    torch.testing.assert_close(matrix, vectors @ vectors.T, atol=1e-5, rtol=0)
    status, out, _ = rpln(capsys, "embed", "-m", models["mlm"], "--pooling", "none", "--json", texts[0])
    assert torch.tensor(jsonl(out)[0]["hidden_states"]).shape[1] == 32


def test_tag_answer_generate(models, capsys, tmp_path: Path) -> None:
    text = "Jim Henson lives in New York City."
    status, out, _ = rpln(capsys, "tag", "-m", models["ner"], "--json", "--aggregation", "first", text)
    assert status == 0
    assert jsonl(out)[0]["entities"] == pipeline("token-classification", models["ner"])(
        text, aggregation_strategy="first")
    status, out, _ = rpln(capsys, "tag", "-m", models["ner"], "--json", "--all-labels", "--aggregation", "none", text)
    tokens = pipeline("token-classification", models["ner"]).tokenizer.tokenize(text)
    assert len(jsonl(out)[0]["entities"]) == len(tokens)

    (tmp_path / "context.txt").write_text(CONTEXT, encoding="utf-8")
    status, out, _ = rpln(capsys, "answer", "-m", models["qa"], "--context-file", tmp_path / "context.txt",
                          "--top-k", "2", "--json", "Who was Jim Henson?", "Where from?")
    qa = pipeline("question-answering", models["qa"])
    want = qa([{"question": q, "context": CONTEXT} for q in ("Who was Jim Henson?", "Where from?")], top_k=2)
    assert status == 0 and [r["answers"] for r in jsonl(out)] == want
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "Who?", "context": CONTEXT}) + "\n", encoding="utf-8")
    status, out, _ = rpln(capsys, "answer", "-m", models["qa"], "-f", tmp_path / "qa.jsonl")
    assert status == 0 and out.splitlines()[0].split() == ["question", "answer", "score", "start", "end"]

    prompts = ["Hello world", "Once upon a time there"]
    status, out, _ = rpln(capsys, "generate", "-m", models["lm"], "--json", "--max-new-tokens", "6", "--sample",
                          "--seed", "3", "-n", "2", *prompts)
    want = pipeline("text-generation", models["lm"])(prompts, max_new_tokens=6, do_sample=True, seed=3,
                                                     num_return_sequences=2)
    assert status == 0 and [r["generated_text"] for r in jsonl(out)] == [[g["generated_text"] for g in w]
                                                                          for w in want]
    status, out, _ = rpln(capsys, "generate", "-m", models["lm"], "--json", "--max-new-tokens", "6",
                          "--num-beams", "3", "--repetition-penalty", "1.4", "-n", "2", *prompts)
    want = pipeline("text-generation", models["lm"])(prompts, max_new_tokens=6, num_beams=3, repetition_penalty=1.4,
                                                     num_return_sequences=2)
    assert status == 0 and [r["generated_text"] for r in jsonl(out)] == [[g["generated_text"] for g in w]
                                                                          for w in want]
    greedy = pipeline("text-generation", models["lm"])(prompts, max_new_tokens=6)
    assert [w[0]["generated_text"] for w in want] != [g[0]["generated_text"] for g in greedy]  # the options count


def test_info_reports_config_parameters_and_files(models, capsys) -> None:
    import roberta_prelayernorm as rp

    status, out, _ = rpln(capsys, "info", models["ner"], "--json")
    info = json.loads(out)
    model = rp.RobertaPreLayerNormForTokenClassification.from_pretrained(models["ner"])
    assert status == 0 and info["parameters"] == model.num_parameters()
    assert info["labels"] == list(NER_LABELS.values()) and info["dtype"].startswith("float32")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(info["files"]) and info["tokenizer"]
    status, out, _ = rpln(capsys, "info", "--model", models["mlm"])
    count = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(models["mlm"]).num_parameters()
    assert status == 0 and f"{count:,}" in out


def test_download_from_a_prepared_cache_offline(models, capsys, tmp_path: Path) -> None:
    snapshot = tmp_path / "cache" / "models--org--tiny" / "snapshots" / "0123abc"
    shutil.copytree(models["mlm"], snapshot)
    (snapshot / "notes.bin").write_bytes(b"not a library file")
    (tmp_path / "cache" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "cache" / "models--org--tiny" / "refs" / "main").write_text("0123abc")
    status, out, _ = rpln(capsys, "download", "org/tiny", "--cache-dir", tmp_path / "cache", "--to", tmp_path / "got")
    assert status == 0 and str(tmp_path / "got") in out
    assert sorted(os.listdir(tmp_path / "got")) == sorted(p.name for p in models["mlm"].iterdir())
    assert pipeline("fill-mask", tmp_path / "got")("Hi <mask>") == pipeline("fill-mask", models["mlm"])("Hi <mask>")
    status, _, err = rpln(capsys, "download", "org/missing", "--cache-dir", tmp_path / "cache")
    assert status == 1 and err == ("rpln: error: org/missing is not in the hub cache and the hub cannot be reached "
                                   "(offline mode or no network)\n")

    # a folder that holds a model is not replaced without --overwrite; with it, its model files are
    held = tmp_path / "held"
    held.mkdir()
    (held / "config.json").write_text("{}")
    (held / "pytorch_model.bin").write_bytes(b"stale weights")
    (held / "notes.txt").write_text("mine")
    status, _, err = rpln(capsys, "download", "org/tiny", "--cache-dir", tmp_path / "cache", "--to", held)
    assert status == 1 and "already holds a model (config.json, pytorch_model.bin)" in err and "--overwrite" in err
    assert sorted(os.listdir(held)) == ["config.json", "notes.txt", "pytorch_model.bin"]
    assert (held / "config.json").read_text() == "{}"
    status, _, _ = rpln(capsys, "download", "org/tiny", "--cache-dir", tmp_path / "cache", "--to", held, "--overwrite")
    assert status == 0
    assert sorted(os.listdir(held)) == sorted([p.name for p in models["mlm"].iterdir()] + ["notes.txt"])
    assert not [n for n in os.listdir(tmp_path) if n.startswith((".tmp-", ".old-"))]  # no staging left behind
    status, _, err = rpln(capsys, "download", "org/tiny", "--overwrite")
    assert status == 2 and "give --to FOLDER" in err


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("case", [
    "empty_file", "blank_argument", "bad_json", "missing_field", "not_object", "no_mask", "wrong_head",
    "offline_hub_id", "no_context", "texts_and_file",
])
def test_bad_input_is_one_error_line(models, capsys, tmp_path: Path, case: str) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "ok"}\n' + {"bad_json": '{"text": "unclosed\n', "missing_field": '{"body": "x"}\n',
                                          "not_object": '["x"]\n'}.get(case, "") , encoding="utf-8")
    argv, message = {
        "empty_file": (["fill-mask", "-m", models["mlm"], "-f", empty], f"{empty} is empty: no texts to process"),
        "blank_argument": (["embed", "-m", models["mlm"], "ok", " "], "argument 2 is an empty text"),
        "bad_json": (["classify", "-m", models["cls"], "-f", data], f"{data}:2: not valid JSON"),
        "missing_field": (["classify", "-m", models["cls"], "-f", data], f"{data}:2: no 'text' field (fields: body)"),
        "not_object": (["tag", "-m", models["ner"], "-f", data], f"{data}:2: expected a JSON object"),
        "no_mask": (["fill-mask", "-m", models["mlm"], "no mask here"], "argument 1: no <mask> in this text"),
        "wrong_head": (["classify", "-m", models["mlm"], "text"], "has no text-classification head"),
        "offline_hub_id": (["fill-mask", "-m", "org/not-cached", "a <mask>"], "org/not-cached: no such folder, and as a hub id it "
                                                                         "is not in the cache"),
        "no_context": (["answer", "-m", models["qa"], "Who?"], "questions as arguments need a context"),
        "texts_and_file": (["embed", "-m", models["mlm"], "-f", data, "text"], "not both"),
    }[case]
    status, out, err = rpln(capsys, *argv)
    assert status in (1, 2) and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("rpln: error: ") and message in err, err


def test_option_mistakes_are_usage_errors(models, capsys) -> None:
    status, out, err = rpln(capsys, "classify", "-m", models["cls"], "--top-k", "many", "text")
    assert status == 2 and out == ""
    assert err.splitlines()[-1].startswith("rpln classify: error: argument --top-k: 'many' is not an integer")
    status, _, err = rpln(capsys, "generate", "-m", models["lm"], "--top-p", "1.5", "text")
    assert status == 2 and "argument --top-p: 1.5 is not in (0, 1]" in err.splitlines()[-1]
    status, _, err = rpln(capsys, "generate", "-m", models["lm"], "--num-beams", "0", "text")
    assert status == 2 and "argument --num-beams: 0 is not a positive integer" in err.splitlines()[-1]
    status, _, err = rpln(capsys, "generate", "-m", models["lm"], "--repetition-penalty", "-1", "text")
    assert status == 2 and "argument --repetition-penalty: -1 is not a positive number" in err.splitlines()[-1]
    status, out, err = rpln(capsys, "generate", "-m", models["lm"], "--num-beams", "2", "-n", "3", "text")
    assert status != 0 and out == "" and "--num-return-sequences 3 is larger than --num-beams 2" in err  # CLI wording: the flags
    assert len(err.strip().splitlines()) == 1


def test_too_long_texts_warn_once(models, capsys) -> None:
    long = "word " * 300
    status, out, err = rpln(capsys, "classify", "-m", models["cls"], "--json", long, long + "more", "short")
    assert status == 0 and len(jsonl(out)) == 3
    assert err.count("rpln: warning:") == 1 and "2 of 3 inputs" in err and "truncated" in err
