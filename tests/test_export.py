"""ONNX export: each head, run by onnxruntime on shapes other than the traced ones, matches PyTorch."""

from __future__ import annotations

import json
import os

import pytest
import torch

import roberta_prelayernorm as rp
from roberta_prelayernorm.cli import main
from roberta_prelayernorm.torch.onnx import TASKS, export_onnx

from model_helpers import batch, perturb, tiny

pytestmark = pytest.mark.onnx

TOLERANCE = 1e-4  # fp32 in both runtimes: the same computation up to the order of float additions


def onnxruntime():
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: "
                               "pip install 'roberta-prelayernorm[onnx]' to run the ONNX export tests")


def make(head: str, seed: int = 0, **config: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = getattr(rp, head)(rp.RobertaPreLayerNormConfig(**tiny(**config)))
    return perturb(model, seed).eval()


def inputs_for(model: torch.nn.Module, batch_size: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    """Right-padded ids (rows of different lengths), random token types when the model has several."""
    ids, mask = batch(batch_size, length, seed=seed)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if model.config.type_vocab_size > 1:
        gen = torch.Generator().manual_seed(seed)
        inputs["token_type_ids"] = torch.randint(0, model.config.type_vocab_size, ids.shape, generator=gen) * mask
    if isinstance(model, rp.RobertaPreLayerNormForMultipleChoice):  # (batch, choices=2, length)
        inputs = {k: torch.stack([v, v.roll(1, dims=0)], dim=1) for k, v in inputs.items()}
    return inputs


def torch_outputs(model: torch.nn.Module, inputs: dict, names: list[str], head_mask: torch.Tensor | None = None,
                  fast: bool = False) -> dict[str, torch.Tensor]:
    model.set_fast_path(fast)
    try:
        with torch.no_grad():
            out = model(**inputs, head_mask=head_mask, output_hidden_states="hidden_states" in names,
                        output_attentions="attentions" in names, return_dict=True)
    finally:
        model.set_fast_path(True)
    return {n: torch.stack(getattr(out, n)) if n in ("hidden_states", "attentions") else getattr(out, n)
            for n in names}


# one case per head; the options that the export serves are spread over them
CASES = [
    ("RobertaPreLayerNormModel", {}, {"output_hidden_states": True, "output_attentions": True}),
    ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}, {}),
    ("RobertaPreLayerNormForMaskedLM", {}, {"opset": 17}),
    ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 3},
     {"head_mask": torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]])}),
    ("RobertaPreLayerNormForMultipleChoice", {}, {}),
    ("RobertaPreLayerNormForTokenClassification", {"num_labels": 5, "position_embedding_type": "relative_key_query"},
     {"opset": 22}),
    ("RobertaPreLayerNormForQuestionAnswering", {"type_vocab_size": 1}, {}),
]


@pytest.mark.slow
@pytest.mark.parametrize("head,config,options", CASES, ids=[c[0].removeprefix("RobertaPreLayerNorm") for c in CASES])
def test_export_matches_pytorch(head: str, config: dict, options: dict, tmp_path) -> None:
    ort = onnxruntime()
    model = make(head, **config)
    model.train()  # the export must run in eval mode, and give the mode back
    result = export_onnx(model, tmp_path / "model.onnx", **options)
    assert model.training and model.base_model.use_fast_path  # settings restored
    model.eval()
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]  # one file, no staging left behind
    assert result.task == next(task for task, (cls, _) in TASKS.items() if cls == head)
    assert result.opset == options.get("opset", 20)

    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected_inputs = ["input_ids", "attention_mask"] + ["token_type_ids"] * (model.config.type_vocab_size > 1)
    assert [i.name for i in session.get_inputs()] == expected_inputs == result.input_names
    assert names == result.output_names
    dynamic = ["batch", "choices", "sequence"] if "MultipleChoice" in head else ["batch", "sequence"]
    assert all(i.shape == dynamic for i in session.get_inputs())

    head_mask = options.get("head_mask")
    # traced with batch 2 and length 8: run other batch sizes and lengths, with padding
    for batch_size, length, seed in [(3, 13, 1), (1, 5, 2)]:
        inputs = inputs_for(model, batch_size, length, seed)
        got = dict(zip(names, session.run(None, {k: v.numpy() for k, v in inputs.items()})))
        exact = torch_outputs(model, inputs, names, head_mask)
        for name in names:
            assert got[name].shape == tuple(exact[name].shape), name
            diff = (torch.from_numpy(got[name]) - exact[name]).abs().max().item()
            assert diff <= TOLERANCE, f"{name}: max abs diff {diff:.2e} against the exact path"
        # the default (fast) path agrees where it computes: everywhere but at padding positions
        fast = torch_outputs(model, inputs, names, head_mask, fast=True)
        real = inputs["attention_mask"].bool()
        for name in names:
            onnx_value, torch_value = torch.from_numpy(got[name]), fast[name]
            if name in ("hidden_states", "attentions"):
                continue  # per-layer tensors: compared with the exact path above
            if onnx_value.shape[:real.dim()] == real.shape:
                onnx_value, torch_value = onnx_value[real], torch_value[real]
            assert (onnx_value - torch_value).abs().max().item() <= TOLERANCE, name


@pytest.mark.slow
def test_export_in_inference_mode_after_packed_calls(tmp_path) -> None:
    """Exporting inside ``torch.no_grad()`` / ``inference_mode()`` once the model has run (its products
    packed) gives the same graph: plain products, which ONNX has, not the packed operator."""
    ort = onnxruntime()
    model = make("RobertaPreLayerNormForSequenceClassification", num_labels=3)
    inputs = inputs_for(model, 3, 9, seed=4)
    for context, name in ((torch.no_grad, "no_grad.onnx"), (torch.inference_mode, "inference.onnx")):
        with context():
            model(**inputs)
            result = export_onnx(model, tmp_path / name)
        session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
        exact = torch_outputs(model, inputs, ["logits"])["logits"]
        assert (torch.from_numpy(got) - exact).abs().max().item() <= TOLERANCE, name


def test_export_replaces_nothing_when_it_fails(tmp_path, monkeypatch) -> None:
    onnxruntime()
    import onnx

    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous export")

    def broken(path: str) -> None:
        raise onnx.checker.ValidationError("broken graph")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(onnx.checker.ValidationError):
        export_onnx(make("RobertaPreLayerNormForMaskedLM"), target)
    assert target.read_bytes() == b"previous export"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


# ------------------------------------------------------------------------------ what it cannot serve
def quantized_model() -> torch.nn.Module:
    from roberta_prelayernorm.torch.precision import to_precision

    return to_precision(make("RobertaPreLayerNormForMaskedLM"), "int8")


@pytest.mark.parametrize("build,options,message", [
    (lambda: make("RobertaPreLayerNormForCausalLM", is_decoder=True), {"use_cache": True}, "use_cache=True"),
    (lambda: make("RobertaPreLayerNormForCausalLM", is_decoder=True, add_cross_attention=True), {},
     "add_cross_attention=True"),
    (quantized_model, {}, "int8"),
    (lambda: make("RobertaPreLayerNormModel"), {"head_mask": torch.ones(3)}, "head_mask"),
    (lambda: make("RobertaPreLayerNormModel"), {"opset": 16}, "opset 16"),
    (lambda: make("RobertaPreLayerNormModel"), {"opset": 23}, "opset 23"),
    (lambda: make("RobertaPreLayerNormModel"), {"task": "summarization"}, "unknown task 'summarization'"),
    (lambda: make("RobertaPreLayerNormForSequenceClassification"), {"task": "fill-mask"},
     "task 'fill-mask' needs a RobertaPreLayerNormForMaskedLM"),
], ids=["use_cache", "cross_attention", "int8", "head_mask_shape", "opset_low", "opset_high", "task", "task_mismatch"])
def test_unsupported_options_say_which(build, options: dict, message: str, tmp_path) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        export_onnx(build(), tmp_path / "model.onnx", **options)
    assert not os.listdir(tmp_path)


def test_bad_targets(tmp_path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        export_onnx(make("RobertaPreLayerNormModel"), tmp_path)
    with pytest.raises(TypeError, match="Linear"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "model.onnx")


# --------------------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_exports_a_folder(tmp_path, capsys) -> None:
    ort = onnxruntime()
    model = make("RobertaPreLayerNormForTokenClassification", num_labels=4)
    model.save_pretrained(tmp_path / "folder")
    out = tmp_path / "exported" / "tagger.onnx"
    assert main(["export-onnx", "--model", str(tmp_path / "folder"), "--output", str(out), "--opset", "18",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "token-classification"  # from the folder's config.architectures
    assert report["opset"] == 18 and report["outputs"] == ["logits"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = inputs_for(model, 2, 11, seed=4)
    (logits,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    expected = torch_outputs(model, inputs, ["logits"])["logits"]
    assert (torch.from_numpy(logits) - expected).abs().max().item() <= TOLERANCE


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    model = make("RobertaPreLayerNormForMaskedLM")
    model.save_pretrained(tmp_path / "folder")
    for argv in (["--model", str(tmp_path / "folder"), "--output", str(tmp_path / "m.onnx"), "--opset", "11"],
                 ["--model", str(tmp_path / "missing"), "--output", str(tmp_path / "m.onnx")]):
        try:
            status = main(["export-onnx", *argv])
        except SystemExit as e:  # an opset out of range is a usage error (status 2), reported by argparse
            status = e.code
        err = capsys.readouterr().err
        assert status != 0 and err.startswith(("rpln: error: ", "rpln export-onnx: error: ")), err
        assert err.count("\n") == 1, err
    assert not (tmp_path / "m.onnx").exists()
