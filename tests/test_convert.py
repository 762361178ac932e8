"""``convert``: real fairseq 0.12.2 outputs reproduced; DeepSpeed / princeton-nlp / fp16 variants give the
same weights; tokenizer ids follow dict.txt; ONNX, HF → HF and framework round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fairseq_helpers import (
    E,
    FIXTURE,
    TEXTS,
    deepspeed_variant,
    dict_for,
    fairseq_token_ids,
    gpt2_bpe_files,
    load_fixture,
    needs_fixture,
    outputs,
    princeton_variant,
    resized,
    save_variant,
    with_options,
)
from roberta_prelayernorm import RobertaPreLayerNormForMaskedLM, RobertaTokenizer
from roberta_prelayernorm.convert import convert
from roberta_prelayernorm.core import layouts
from roberta_prelayernorm.core.layouts import fairseq as fairseq_layout

pytestmark = needs_fixture
ATOL = 1e-5


def weights(folder: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):
        state.update(load_file(file))
    return state


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture converted with the defaults (the folder is shared: tests only read it)."""
    out = tmp_path_factory.mktemp("converted") / "hf"
    convert(FIXTURE / "model.pt", out)
    return out


# ------------------------------------------------------------------------------------ real fairseq
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "exact-path"])
def test_reproduces_fairseq_outputs(converted: Path, fast_path: bool) -> None:
    """logits, features and inner states of fairseq 0.12.2 itself, on its real tokens, within 1e-5.

    fairseq's inner_states[0] is the embedding output with padding rows zeroed; later entries are each
    layer's output before the final LayerNorm, as our hidden_states. Padding rows of later layers and
    outputs differ by design (fairseq zeroes the padding embeddings, the reference does not): only real
    tokens are compared there.
    """
    ref = outputs()
    model = RobertaPreLayerNormForMaskedLM.from_pretrained(converted)
    model.set_fast_path(fast_path)
    real = ~ref["padding_mask"]
    with torch.no_grad():
        out = model(torch.from_numpy(ref["input_ids"]), attention_mask=torch.from_numpy(real).long(),
                    output_hidden_states=True)
        features = model.roberta_prelayernorm(torch.from_numpy(ref["input_ids"]),
                                              attention_mask=torch.from_numpy(real).long()).last_hidden_state
    assert np.abs(out.logits.numpy()[real] - ref["logits"][real]).max() <= ATOL
    assert np.abs(features.numpy()[real] - ref["features"][real]).max() <= ATOL
    hidden = [h.numpy() for h in out.hidden_states]
    assert len(hidden) == len(ref["inner_states"])
    np.testing.assert_allclose(hidden[0] * real[..., None], ref["inner_states"][0], rtol=0, atol=ATOL)
    for ours, theirs in zip(hidden[1:], ref["inner_states"][1:]):
        assert np.abs(ours[real] - theirs[real]).max() <= ATOL


def test_config_from_the_checkpoint(converted: Path) -> None:
    """The config follows the checkpoint's cfg["model"] and the fixture's README."""
    options = load_fixture()["cfg"]["model"]
    config = json.loads((converted / "config.json").read_text())
    assert config["model_type"] == "roberta-prelayernorm"
    assert config["architectures"] == ["RobertaPreLayerNormForMaskedLM"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"],
            config["num_attention_heads"]) == (options.encoder_layers, options.encoder_embed_dim,
                                               options.encoder_ffn_embed_dim, options.encoder_attention_heads)
    assert config["max_position_embeddings"] == options.max_positions + 2
    assert config["vocab_size"] == 97  # 4 specials + 92 lines of dict.txt + <mask>
    assert (config["layer_norm_eps"], config["type_vocab_size"], config["hidden_act"]) == (1e-5, 1, "gelu")
    assert (config["pad_token_id"], config["bos_token_id"], config["eos_token_id"]) == (1, 0, 2)
    assert (config["hidden_dropout_prob"], config["attention_probs_dropout_prob"]) == (options.dropout,
                                                                                        options.attention_dropout)
    state = weights(converted)
    assert torch.equal(state["roberta_prelayernorm.embeddings.token_type_embeddings.weight"], torch.zeros(1, 32))
    fixture = load_fixture()["model"]
    assert torch.equal(state["lm_head.bias"], fixture["encoder.lm_head.bias"])
    assert not any("decoder.weight" in k for k in state)  # tied: written once, as the embeddings


@pytest.mark.oracle
def test_transformers_loads_the_output(converted: Path) -> None:
    """transformers' own class loads the folder with no missing weights and gives fairseq's logits."""
    transformers = pytest.importorskip("transformers")
    ref = outputs()
    model, info = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(converted, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
    real = ~ref["padding_mask"]
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(ref["input_ids"]), attention_mask=torch.from_numpy(real).long()).logits
    assert np.abs(logits.numpy()[real] - ref["logits"][real]).max() <= ATOL


# ----------------------------------------------------------------------------- the other layouts
def test_deepspeed_layout_gives_the_same_model(converted: Path, tmp_path: Path) -> None:
    """DinkyTrain's fused-kernel layout (attn_qkvw, norm_w, attn_nw, inter_w, …) → bit-identical weights."""
    path = save_variant(tmp_path / "ds", deepspeed_variant(load_fixture()))
    report = convert(path, tmp_path / "out")
    assert report.weights == "deepspeed"
    assert_identical(weights(tmp_path / "out"), weights(converted))
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config == json.loads((converted / "config.json").read_text())


def test_princeton_layout_gives_the_same_model(converted: Path, tmp_path: Path) -> None:
    """princeton-nlp's HF-like folder: detected, its unused attention.self.LayerNorm dropped and reported."""
    source = princeton_variant(tmp_path / "princeton", load_fixture())
    tokenizer = RobertaTokenizer.from_pretrained(str(tokenizer_folder(tmp_path)))
    tokenizer.save_pretrained(source)
    report = convert(source, tmp_path / "out")
    assert (report.kind, report.weights, report.architecture) == ("princeton-nlp", "princeton-nlp",
                                                                   "RobertaPreLayerNormForMaskedLM")
    assert sorted(k for k in report.dropped if "attention.self.LayerNorm" in k) == sorted(
        f"roberta.encoder.layer.{i}.attention.self.LayerNorm.{p}" for i in range(3) for p in ("weight", "bias"))
    assert any("attention.self.LayerNorm" in note for note in report.notes)
    assert_identical(weights(tmp_path / "out"), weights(converted))
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):  # copied as they are
        assert (tmp_path / "out" / name).read_bytes() == (source / name).read_bytes()
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "roberta-prelayernorm" and config["transformers_version"] == "4.11.3"


def test_older_args_checkpoint(converted: Path, tmp_path: Path) -> None:
    """Checkpoints of fairseq < 0.10 keep the options in ``args`` (a Namespace) and have no ``cfg``."""
    checkpoint = load_fixture()
    checkpoint["args"], checkpoint["cfg"] = checkpoint["cfg"]["model"], None
    convert(save_variant(tmp_path / "args", checkpoint), tmp_path / "out")
    assert_identical(weights(tmp_path / "out"), weights(converted))


def test_classification_heads_are_dropped_and_reported(converted: Path, tmp_path: Path) -> None:
    checkpoint = load_fixture()
    head = "encoder.classification_heads.mnli"
    extra = {f"{head}.dense.weight": torch.ones(32, 32), f"{head}.dense.bias": torch.ones(32),
             f"{head}.out_proj.weight": torch.ones(3, 32), f"{head}.out_proj.bias": torch.ones(3)}
    checkpoint["model"] = {**checkpoint["model"], **extra}
    report = convert(save_variant(tmp_path / "heads", checkpoint), tmp_path / "out")
    assert set(extra) <= set(report.dropped) and any("mnli" in note for note in report.notes)
    assert_identical(weights(tmp_path / "out"), weights(converted))


def tokenizer_folder(tmp_path: Path) -> Path:
    """A fairseq conversion with a tokenizer (made from GPT-2 BPE files for a dict.txt that covers them)."""
    encoder_json, vocab_bpe, encoder, _ = gpt2_bpe_files(tmp_path / "bpe")
    lines = dict_for(encoder)
    path = save_variant(tmp_path / "tok-src", resized(load_fixture(), len(lines) + 5), lines)
    convert(path, tmp_path / "tok", bpe_vocab=encoder_json, bpe_merges=vocab_bpe)
    return tmp_path / "tok"


def test_fp16_checkpoint(converted: Path, tmp_path: Path) -> None:
    """A checkpoint trained with --fp16 (half weights) keeps its dtype, or is cast with dtype=."""
    checkpoint = with_options(load_fixture())
    checkpoint["model"] = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
    checkpoint["cfg"]["common"] = dict(checkpoint["cfg"]["common"], fp16=True)
    path = save_variant(tmp_path / "fp16", checkpoint)
    reference = weights(converted)

    report = convert(path, tmp_path / "half")
    assert report.dtype == "float16"
    assert json.loads((tmp_path / "half" / "config.json").read_text())["torch_dtype"] == "float16"
    assert_identical(weights(tmp_path / "half"), {k: v.half() for k, v in reference.items()})

    convert(path, tmp_path / "float", dtype="float32")
    assert_identical(weights(tmp_path / "float"), {k: v.half().float() for k, v in reference.items()})


# ---------------------------------------------------------------------------------------- tokenizer
def test_tokenizer_ids_follow_dict_txt(tmp_path: Path) -> None:
    """encoder.json + vocab.bpe + dict.txt → a tokenizer whose ids are fairseq's (GPT-2 BPE, then dict.txt)."""
    encoder_json, vocab_bpe, encoder, merges = gpt2_bpe_files(tmp_path / "bpe")
    lines = dict_for(encoder)
    path = save_variant(tmp_path / "src", resized(load_fixture(), len(lines) + 5), lines)
    report = convert(path, tmp_path / "out", bpe_vocab=encoder_json, bpe_merges=vocab_bpe)
    assert report.tokenizer and {"tokenizer.json", "vocab.json", "merges.txt"} <= set(report.files)

    tokenizer = RobertaTokenizer.from_pretrained(str(tmp_path / "out"))
    for text in TEXTS + ["unseen wörds ünd ßymbols ©"]:
        assert tokenizer(text)["input_ids"] == fairseq_token_ids(text, encoder, merges, lines), text
    mask = len(lines) + 4
    assert tokenizer.mask_token_id == mask
    assert [tokenizer(t)["input_ids"].count(mask) for t in ("<mask> first", "Hello <mask>!")] == [1, 1]
    specials = (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    assert specials == (0, 1, 2, 3)
    assert tokenizer.model_max_length == load_fixture()["cfg"]["model"].max_positions
    # the model and the tokenizer go together
    model = RobertaPreLayerNormForMaskedLM.from_pretrained(tmp_path / "out")
    with torch.no_grad():
        model(**tokenizer(TEXTS, padding=True, return_tensors="pt"))


@pytest.mark.oracle
def test_tokenizer_loads_in_transformers(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    folder = tokenizer_folder(tmp_path)
    ours = RobertaTokenizer.from_pretrained(str(folder))
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    for text in TEXTS:
        assert theirs(text)["input_ids"] == ours(text)["input_ids"]


def test_no_tokenizer_when_dict_txt_lacks_bpe_tokens(tmp_path: Path) -> None:
    """Tokens the BPE produces but dict.txt lacks are <unk> in fairseq: no HF tokenizer can say that."""
    encoder_json, vocab_bpe, encoder, _ = gpt2_bpe_files(tmp_path / "bpe")
    lines = dict_for(encoder, leave_out=3)
    path = save_variant(tmp_path / "src", resized(load_fixture(), len(lines) + 5), lines)
    report = convert(path, tmp_path / "out", bpe_vocab=encoder_json, bpe_merges=vocab_bpe)
    assert not report.tokenizer and report.files == ["config.json", "model.safetensors"]
    assert any("3 tokens" in note and "<unk>" in note for note in report.notes)


def test_no_bpe_files_no_tokenizer(converted: Path) -> None:
    assert sorted(p.name for p in converted.iterdir()) == ["config.json", "model.safetensors"]


# -------------------------------------------------------------------------------- other outputs
def test_hf_to_hf_is_identical(converted: Path, tmp_path: Path) -> None:
    """A converted folder converted again (sharded, then cast) holds the same tensors and config."""
    tokenizer = tokenizer_folder(tmp_path)
    report = convert(tokenizer, tmp_path / "again", max_shard_size="20KB")
    assert report.kind == "hf" and report.weights == "pt" and report.tokenizer
    assert "model.safetensors.index.json" in report.files and len(list((tmp_path / "again").glob("*.safetensors"))) > 1
    assert_identical(weights(tmp_path / "again"), weights(tokenizer))
    assert json.loads((tmp_path / "again" / "config.json").read_text()) == json.loads(
        (tokenizer / "config.json").read_text())
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tokenizer / name).read_bytes()

    convert(converted, tmp_path / "bf16", dtype="bfloat16")
    assert_identical(weights(tmp_path / "bf16"), {k: v.bfloat16() for k, v in weights(converted).items()})


@pytest.mark.onnx
@pytest.mark.slow
def test_onnx_output_matches_fairseq(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    report = convert(FIXTURE / "model.pt", tmp_path / "out", to="pt,onnx")
    assert {"model.onnx", "model.safetensors", "config.json"} <= set(report.files)
    ref = outputs()
    real = ~ref["padding_mask"]
    session = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input_ids": ref["input_ids"], "attention_mask": real.astype(np.int64)})
    assert np.abs(logits[real] - ref["logits"][real]).max() <= ATOL


# ------------------------------------------------------------------ TensorFlow and Flax (when merged)
def family(name: str) -> None:
    pytest.importorskip(f"roberta_prelayernorm.{name}", reason=f"the {name} family is not installed")


@pytest.mark.parametrize("fmt", [pytest.param("tf", marks=pytest.mark.tf), pytest.param("flax", marks=pytest.mark.flax)])
def test_family_output_matches_fairseq(fmt: str, tmp_path: Path) -> None:
    family(fmt)
    import importlib

    report = convert(FIXTURE / "model.pt", tmp_path / "out", to=fmt)
    assert {"tf": "tf_model.h5", "flax": "flax_model.msgpack"}[fmt] in report.files
    assert "model.safetensors" not in report.files
    cls = getattr(importlib.import_module(f"roberta_prelayernorm.{fmt}"),
                  {"tf": "TF", "flax": "Flax"}[fmt] + "RobertaPreLayerNormForMaskedLM")
    model = cls.from_pretrained(str(tmp_path / "out"))
    ref = outputs()
    real = ~ref["padding_mask"]
    logits = np.asarray(model(input_ids=ref["input_ids"], attention_mask=real.astype(np.int64)).logits)
    assert np.abs(logits[real] - ref["logits"][real]).max() <= ATOL


def test_family_write_path_with_a_stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The plumbing of ``to="tf"`` before the family exists: a stand-in class is given a PyTorch folder
    (from_pt=True), its file is kept, config.json is ours, and no temporary folder stays behind."""
    import os
    import sys
    import types

    import roberta_prelayernorm.convert as convert_module

    given = []

    class StandIn:
        @classmethod
        def from_pretrained(cls, folder: str, from_pt: bool = False) -> StandIn:
            given.append((sorted(os.listdir(folder)), from_pt, load_file(Path(folder) / "model.safetensors")))
            return cls()

        def save_pretrained(self, folder: str) -> None:
            (Path(folder) / "tf_model.h5").write_bytes(b"stand-in")
            (Path(folder) / "config.json").write_text('{"architectures": ["TFRobertaPreLayerNormForMaskedLM"]}')

    module = types.ModuleType("roberta_prelayernorm.tf")
    module.TFRobertaPreLayerNormForMaskedLM = StandIn
    monkeypatch.setitem(sys.modules, "roberta_prelayernorm.tf", module)
    monkeypatch.setattr(convert_module, "require_format", lambda fmt: None)
    report = convert(FIXTURE / "model.pt", tmp_path / "out", to="tf")
    assert report.files == ["config.json", "tf_model.h5"]
    (files, from_pt, state), = given
    assert files == ["config.json", "model.safetensors"] and from_pt
    plain = tmp_path / "plain"
    convert(FIXTURE / "model.pt", plain)
    assert_identical(state, weights(plain))
    assert (tmp_path / "out" / "config.json").read_bytes() == (plain / "config.json").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["out", "plain"]


@pytest.mark.tf
@pytest.mark.flax
def test_round_trip_pt_tf_flax_pt(converted: Path, tmp_path: Path) -> None:
    """PyTorch → TensorFlow → Flax → PyTorch gives the same tensors."""
    family("tf")
    family("flax")
    convert(converted, tmp_path / "tf", to="tf")
    convert(tmp_path / "tf", tmp_path / "flax", to="flax")
    report = convert(tmp_path / "flax", tmp_path / "pt", to="pt")
    assert report.weights == "flax"
    assert_identical(weights(tmp_path / "pt"), weights(converted))


# ------------------------------------------------------------------------------ the layout tables
def test_split_rule_round_trip() -> None:
    """The DeepSpeed table turns the plain layout's tensors into fused ones and back, exactly."""
    fixture = load_fixture()["model"]
    plain, unmatched = layouts.to_pt_state(fairseq_layout.FAIRSEQ, fixture, ignore=fairseq_layout.IGNORED)
    assert not unmatched
    fused = layouts.to_foreign_state(fairseq_layout.DEEPSPEED, plain)
    expected = deepspeed_variant(load_fixture())["model"]
    kept = {k: v for k, v in expected.items() if not any(layouts.matches(p, k) for p in fairseq_layout.IGNORED)}
    assert sorted(fused) == sorted(kept)
    for key, value in kept.items():
        np.testing.assert_array_equal(fused[key], value.numpy())
    back, unmatched = layouts.to_pt_state(fairseq_layout.DEEPSPEED, fused)
    assert not unmatched and sorted(back) == sorted(plain)
    for key in plain:
        np.testing.assert_array_equal(np.asarray(back[key]), plain[key].numpy())
    assert f"{E}.layers.0.attn_qkvw" in fused


def test_split_rule_is_declared_with_its_parts() -> None:
    with pytest.raises(ValueError, match="split"):
        layouts.Rule("a.{part}.weight", "b", "split")
    with pytest.raises(ValueError, match="split"):
        layouts.Rule("a.query.weight", "b", "split", parts=("query",))
    rule = layouts.Rule("x.{i}.self.{part}.bias", "y.{i}.qkv", "split", parts=("query", "key", "value"))
    assert rule.to_pt_keys("y.3.qkv") == ["x.3.self.query.bias", "x.3.self.key.bias", "x.3.self.value.bias"]
    assert rule.to_foreign("x.3.self.LayerNorm.bias") is None  # {part} takes only the parts
    with pytest.raises(ValueError, match="to_pt_state"):
        layouts.to_pt([rule], "y.3.qkv")
