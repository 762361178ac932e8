"""``RobertaPreLayerNormConfig`` against ``transformers.RobertaPreLayerNormConfig`` (the oracle).

Defaults, ``config.json`` round trips of a real-looking file, keyword overrides, dict / JSON forms,
and interchange of saved files with ``transformers.AutoConfig``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

import roberta_prelayernorm
from roberta_prelayernorm import RobertaPreLayerNormConfig

DOCS = Path("/work/shared/reference/roberta-prelayernorm-docs.zh.md")

# every documented parameter, plus the general fields users rely on
DOCUMENTED = [
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
    "initializer_range", "layer_norm_eps", "pad_token_id", "bos_token_id", "eos_token_id",
    "position_embedding_type", "use_cache", "classifier_dropout",
]
GENERAL = [
    "is_decoder", "add_cross_attention", "tie_word_embeddings", "num_labels", "id2label", "label2id",
    "problem_type", "output_attentions", "output_hidden_states", "return_dict", "architectures",
]

# modelled on the published andreasmadsen/efficient_mlm_m0.40 config.json, plus labels and a custom key
REAL_CONFIG: dict[str, Any] = {
    "_name_or_path": "princeton-nlp/efficient_mlm_m0.40",
    "architectures": ["RobertaPreLayerNormForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0,
    "classifier_dropout": None,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 1024,
    "id2label": {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"},
    "label2id": {"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2},
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514,
    "model_type": "roberta-prelayernorm",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "pad_token_id": 1,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "transformers_version": "4.26.0.dev0",
    "type_vocab_size": 1,
    "use_cache": True,
    "vocab_size": 50265,
    "masking_recipe": {"rate": 0.4, "strategy": "mask-only", "notes": ["DinkyTrain", 23000]},
}


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return folder


def normalised(value: Any) -> Any:
    """Label maps with int keys where the keys are digit strings, so that both classes' forms compare."""
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.isdigit() else k: normalised(v) for k, v in value.items()}
    return value


# -------------------------------------------------------------------------------------------- defaults
# transformers 5 dropped position_embedding_type; test_defaults_equal_documented covers it
REFERENCE_FIELDS = [n for n in DOCUMENTED + GENERAL if hasattr(transformers.RobertaPreLayerNormConfig(), n)]


@pytest.mark.parametrize("name", REFERENCE_FIELDS)
def test_default_equals_reference(name: str) -> None:
    ref = transformers.RobertaPreLayerNormConfig()
    assert getattr(RobertaPreLayerNormConfig(), name) == getattr(ref, name)


def documented_defaults() -> dict[str, Any]:
    """The constructor signature as printed in the v4.37.2 documentation (an independent source)."""
    text = DOCS.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("( vocab_size = "))
    pairs = re.findall(r"(\w+) = ('[^']*'|\S+)", line)
    return {k: (v.strip("'") if v.startswith("'") else json.loads(v.replace("None", "null").replace("True", "true")))
            for k, v in pairs}


def test_defaults_equal_documented() -> None:
    documented = documented_defaults()
    assert set(DOCUMENTED) <= set(documented)  # the parser read the whole signature
    ours = RobertaPreLayerNormConfig()
    assert {k: getattr(ours, k) for k in documented} == documented


def test_reference_keyword_arguments_accepted() -> None:
    """Every value the oracle sets on construction builds the same config here."""
    ref = transformers.RobertaPreLayerNormConfig(
        vocab_size=123, hidden_size=48, num_hidden_layers=3, num_attention_heads=6, intermediate_size=77,
        hidden_act="gelu_new", layer_norm_eps=1e-6, classifier_dropout=0.3, is_decoder=True,
        add_cross_attention=True, tie_word_embeddings=False, num_labels=4, problem_type="regression",
    )
    ours = RobertaPreLayerNormConfig(
        vocab_size=123, hidden_size=48, num_hidden_layers=3, num_attention_heads=6, intermediate_size=77,
        hidden_act="gelu_new", layer_norm_eps=1e-6, classifier_dropout=0.3, is_decoder=True,
        add_cross_attention=True, tie_word_embeddings=False, num_labels=4, problem_type="regression",
    )
    for name in DOCUMENTED + GENERAL:
        if hasattr(ref, name):
            assert getattr(ours, name) == getattr(ref, name), name


def test_model_type() -> None:
    assert RobertaPreLayerNormConfig.model_type == transformers.RobertaPreLayerNormConfig.model_type
    assert RobertaPreLayerNormConfig().to_dict()["model_type"] == transformers.RobertaPreLayerNormConfig.model_type


# ------------------------------------------------------------------------------------- real config.json
def test_real_config_round_trip(tmp_path: Path) -> None:
    src = write_config(tmp_path / "src", REAL_CONFIG)
    config = RobertaPreLayerNormConfig.from_pretrained(src)
    assert config.id2label == {0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"}
    assert all(isinstance(k, int) for k in config.id2label)
    assert config.label2id == REAL_CONFIG["label2id"]
    assert config.num_labels == 3
    assert config.masking_recipe == REAL_CONFIG["masking_recipe"]
    assert config.torch_dtype == torch.float32  # a torch.dtype in memory (torch is imported), a name in JSON
    assert config.type_vocab_size == 1 and config.max_position_embeddings == 514

    config.save_pretrained(tmp_path / "dst")
    saved = json.loads((tmp_path / "dst" / "config.json").read_text(encoding="utf-8"))
    # transformers itself drops "_name_or_path" on save; every other key must survive unchanged
    expected = {k: v for k, v in REAL_CONFIG.items() if k != "_name_or_path"}
    assert {k: saved.get(k, "<absent>") for k in expected} == expected

    again = RobertaPreLayerNormConfig.from_pretrained(tmp_path / "dst")
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_real_config_matches_reference(tmp_path: Path) -> None:
    src = write_config(tmp_path / "src", REAL_CONFIG)
    ours = RobertaPreLayerNormConfig.from_pretrained(src)
    ref = transformers.AutoConfig.from_pretrained(src)
    for name in DOCUMENTED + GENERAL + ["masking_recipe"]:
        if hasattr(ref, name):
            assert getattr(ours, name) == getattr(ref, name), name


def test_config_file_path_accepted(tmp_path: Path) -> None:
    src = write_config(tmp_path / "src", REAL_CONFIG)
    from_file = RobertaPreLayerNormConfig.from_pretrained(src / "config.json")
    assert from_file == RobertaPreLayerNormConfig.from_pretrained(src)
    assert from_file.masking_recipe == REAL_CONFIG["masking_recipe"]


def test_newer_dtype_key_kept(tmp_path: Path) -> None:
    """transformers 5 writes "dtype" instead of "torch_dtype"; it is read as the dtype and kept."""
    data = {**REAL_CONFIG, "dtype": "bfloat16"}
    del data["torch_dtype"]
    config = RobertaPreLayerNormConfig.from_pretrained(write_config(tmp_path / "src", data))
    ref = transformers.AutoConfig.from_pretrained(tmp_path / "src")
    assert config.torch_dtype == ref.dtype == torch.bfloat16
    config.save_pretrained(tmp_path / "dst")
    saved = json.loads((tmp_path / "dst" / "config.json").read_text(encoding="utf-8"))
    assert saved["dtype"] == "bfloat16"


# ---------------------------------------------------------------------------------------- overrides
def test_num_labels_override(tmp_path: Path) -> None:
    src = write_config(tmp_path / "src", REAL_CONFIG)
    ours = RobertaPreLayerNormConfig.from_pretrained(src, num_labels=5)
    ref = transformers.AutoConfig.from_pretrained(src, num_labels=5)
    assert ours.num_labels == ref.num_labels == 5
    assert ours.id2label == ref.id2label
    assert ours.label2id == ref.label2id


@pytest.mark.parametrize("overrides", [
    {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    {"is_decoder": True, "add_cross_attention": True},
    {"id2label": {0: "a", 1: "b"}, "label2id": {"a": 0, "b": 1}},
    {"problem_type": "multi_label_classification", "classifier_dropout": 0.25},
    {"output_hidden_states": True, "output_attentions": True, "return_dict": False},
    {"vocab_size": 321, "my_new_key": "kept"},
])
def test_keyword_overrides(tmp_path: Path, overrides: dict[str, Any]) -> None:
    src = write_config(tmp_path / "src", REAL_CONFIG)
    ours = RobertaPreLayerNormConfig.from_pretrained(src, **overrides)
    ref = transformers.AutoConfig.from_pretrained(src, **overrides)
    for name in set(DOCUMENTED + GENERAL + list(overrides)):
        if hasattr(ref, name):
            assert getattr(ours, name) == getattr(ref, name), name
    for name, value in overrides.items():
        assert getattr(ours, name) == value
    # untouched values still come from the file
    assert ours.hidden_size == 1024 and ours.masking_recipe == REAL_CONFIG["masking_recipe"]


def test_changing_num_labels_updates_label_maps() -> None:
    ours, ref = RobertaPreLayerNormConfig(), transformers.RobertaPreLayerNormConfig()
    for n in (5, 1, 3):
        ours.num_labels = n
        ref.num_labels = n
        assert ours.num_labels == ref.num_labels == n
        assert ours.id2label == ref.id2label
        assert ours.label2id == ref.label2id


def test_setting_same_num_labels_keeps_names() -> None:
    ours = RobertaPreLayerNormConfig(id2label={0: "neg", 1: "pos"})
    ref = transformers.RobertaPreLayerNormConfig(id2label={0: "neg", 1: "pos"})
    ours.num_labels = 2
    ref.num_labels = 2
    assert ours.id2label == ref.id2label == {0: "neg", 1: "pos"}


# ------------------------------------------------------------------------------------ dict and JSON
def test_to_dict_matches_reference() -> None:
    kwargs = dict(vocab_size=77, hidden_size=16, num_attention_heads=2, num_labels=3, classifier_dropout=0.2)
    ours = RobertaPreLayerNormConfig(**kwargs).to_dict()
    ref = transformers.RobertaPreLayerNormConfig(**kwargs).to_dict()
    common = (set(ours) & set(ref)) - {"transformers_version", "_name_or_path"}
    assert set(DOCUMENTED + GENERAL) - {"num_labels", "position_embedding_type"} <= common
    assert {k: normalised(ours[k]) for k in common} == {k: normalised(ref[k]) for k in common}
    json.dumps(ours)  # JSON-ready


def test_json_string_is_the_dict() -> None:
    config = RobertaPreLayerNormConfig(num_labels=4, custom={"nested": [1, 2.5, None]})
    assert json.loads(config.to_json_string()) == config.to_dict()


def test_from_dict_round_trip() -> None:
    config = RobertaPreLayerNormConfig(id2label={0: "x", 1: "y", 2: "z"}, is_decoder=True, custom="value",
                                       torch_dtype="float16")
    again = RobertaPreLayerNormConfig.from_dict(config.to_dict())
    assert again == config
    assert again.id2label == {0: "x", 1: "y", 2: "z"}
    assert again.custom == "value" and again.torch_dtype == torch.float16


def test_from_dict_overrides() -> None:
    base = RobertaPreLayerNormConfig(id2label={0: "x", 1: "y"}).to_dict()
    config = RobertaPreLayerNormConfig.from_dict(base, num_labels=4, hidden_size=24, num_attention_heads=3)
    ref = transformers.RobertaPreLayerNormConfig.from_dict(
        {k: v for k, v in base.items() if k != "torch_dtype"}, num_labels=4, hidden_size=24, num_attention_heads=3)
    assert (config.num_labels, config.hidden_size, config.num_attention_heads) == (4, 24, 3)
    assert config.id2label == ref.id2label


def test_from_dict_wrong_model_type() -> None:
    with pytest.raises(ValueError, match="model_type"):
        RobertaPreLayerNormConfig.from_dict({"model_type": "bert"})


def test_torch_dtype_object_stored_as_name() -> None:
    config = RobertaPreLayerNormConfig(torch_dtype=torch.bfloat16)
    assert config.torch_dtype == torch.bfloat16
    assert json.loads(config.to_json_string())["torch_dtype"] == "bfloat16"
    assert RobertaPreLayerNormConfig(torch_dtype="float64").torch_dtype == torch.float64  # any torch dtype name


def test_torch_dtype_is_a_name_without_torch() -> None:
    """The core imports no torch: in a process without it, the dtype stays its name."""
    code = ("import sys, json; from roberta_prelayernorm.core.config import RobertaPreLayerNormConfig as C; "
            "c = C(torch_dtype='float16'); assert 'torch' not in sys.modules; "
            "print(json.dumps([c.torch_dtype, c.to_dict()['torch_dtype']]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["float16", "float16"]


# ------------------------------------------------------------------------------------- interchange
def test_auto_config_is_the_class(tmp_path: Path) -> None:
    assert roberta_prelayernorm.AutoConfig is RobertaPreLayerNormConfig
    src = write_config(tmp_path / "src", REAL_CONFIG)
    assert roberta_prelayernorm.AutoConfig.from_pretrained(src) == RobertaPreLayerNormConfig.from_pretrained(src)


def test_transformers_loads_what_we_save(tmp_path: Path) -> None:
    ours = RobertaPreLayerNormConfig(
        vocab_size=1234, hidden_size=64, num_hidden_layers=3, num_attention_heads=8, intermediate_size=99,
        hidden_act="gelu_new", max_position_embeddings=130, type_vocab_size=1, layer_norm_eps=1e-5,
        classifier_dropout=0.05, id2label={0: "neg", 1: "neu", 2: "pos"}, problem_type="single_label_classification",
        is_decoder=True, add_cross_attention=True, tie_word_embeddings=False, use_cache=False,
        custom_key={"a": 1},
    )
    ours.save_pretrained(tmp_path / "saved")
    ref = transformers.AutoConfig.from_pretrained(tmp_path / "saved")
    assert type(ref) is transformers.RobertaPreLayerNormConfig
    for name in DOCUMENTED + GENERAL + ["custom_key"]:
        if hasattr(ref, name):
            assert getattr(ref, name) == getattr(ours, name), name


def test_we_load_what_transformers_saves(tmp_path: Path) -> None:
    ref = transformers.RobertaPreLayerNormConfig(
        vocab_size=1234, hidden_size=64, num_attention_heads=8, id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1}, classifier_dropout=0.05, is_decoder=True, output_hidden_states=True,
        dtype="float16",
    )
    ref.save_pretrained(tmp_path / "saved")
    ours = RobertaPreLayerNormConfig.from_pretrained(tmp_path / "saved")
    for name in DOCUMENTED + GENERAL:
        if hasattr(ref, name):
            assert getattr(ours, name) == getattr(ref, name), name
    assert ours.torch_dtype == torch.float16


def test_save_creates_folder(tmp_path: Path) -> None:
    config = RobertaPreLayerNormConfig(num_labels=3)
    target = tmp_path / "a" / "b"
    config.save_pretrained(target)
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert RobertaPreLayerNormConfig.from_pretrained(target) == config


# ------------------------------------------------------------------- general attributes (4.37.2 golden)
GOLDEN = Path(__file__).resolve().parent / "golden" / "dropin_configs.json"


@pytest.fixture(scope="module")
def golden_configs() -> dict[str, Any]:
    data = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["generated_with"]["transformers"] == "4.37.2"
    return data


@pytest.mark.golden
def test_general_attributes_have_the_reference_defaults(golden_configs: dict[str, Any]) -> None:
    """Every general attribute of 4.37.2's PretrainedConfig that generic code reads, at its default."""
    config = RobertaPreLayerNormConfig()
    for name, value in golden_configs["general_defaults"].items():
        assert getattr(config, name) == value, name
    for name, value in golden_configs["generation_defaults"].items():  # the legacy generation parameters
        assert getattr(config, name) == value, name
    assert config.use_return_dict and config.name_or_path == ""
    with pytest.raises(AttributeError):
        config.not_an_attribute  # noqa: B018


@pytest.mark.golden
@pytest.mark.parametrize("case", ["defaults", "general_set", "legacy_generation", "legacy_gradient_checkpointing"])
def test_config_json_as_4_37_2_writes_it(golden_configs: dict[str, Any], case: str, tmp_path: Path) -> None:
    """Set general attributes are written as the reference writes them (defaults are not), and read back."""
    recorded = golden_configs["saved"][case]
    base = {k: v for k, v in recorded["written"].items() if k not in recorded["kwargs"]}
    config = RobertaPreLayerNormConfig(**{**base, **recorded["kwargs"]})
    config.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    for key, value in recorded["written"].items():
        assert written.get(key, "<absent>") == value, key
    defaults = set(golden_configs["general_defaults"]) | set(golden_configs["generation_defaults"])
    extra = {k for k in set(written) - set(recorded["written"]) if k in defaults}
    assert extra <= set(DOCUMENTED + GENERAL) | {"torch_dtype"}, extra  # ours writes these always
    again = RobertaPreLayerNormConfig.from_pretrained(tmp_path)
    for key, value in recorded["kwargs"].items():
        if key == "pruned_heads":
            assert again.pruned_heads == {int(k): v for k, v in value.items()}
        elif key == "torch_dtype":
            assert again.torch_dtype == torch.float16
        else:
            assert getattr(again, key) == value, key


def test_torchscript_turns_return_dict_off() -> None:
    config = RobertaPreLayerNormConfig(torchscript=True)
    assert config.return_dict and not config.use_return_dict
    assert not RobertaPreLayerNormConfig(return_dict=False).use_return_dict


def test_pruned_heads_keys_are_ints_after_json(tmp_path: Path) -> None:
    config = RobertaPreLayerNormConfig(pruned_heads={"1": [0, 2], 3: [1]})
    assert config.pruned_heads == {1: [0, 2], 3: [1]}
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["pruned_heads"] == {"1": [0, 2], "3": [1]}
    assert RobertaPreLayerNormConfig.from_pretrained(tmp_path).pruned_heads == {1: [0, 2], 3: [1]}
    with pytest.raises(ValueError, match="pruned_heads"):
        RobertaPreLayerNormConfig(pruned_heads=[1, 2])


def test_heads_need_not_divide_hidden_size_in_the_config() -> None:
    """As the reference: accepted by the config, refused when a model is built (tests/test_errors.py)."""
    ref = transformers.RobertaPreLayerNormConfig(hidden_size=30, num_attention_heads=4)
    ours = RobertaPreLayerNormConfig(hidden_size=30, num_attention_heads=4)
    assert (ours.hidden_size, ours.num_attention_heads) == (ref.hidden_size, ref.num_attention_heads)
    with pytest.raises(ValueError, match=r"hidden_size \(30\) is not a multiple of num_attention_heads \(4\)"):
        ours.validate()


@pytest.mark.golden
def test_legacy_gradient_checkpointing_key(golden_configs: dict[str, Any], tmp_path: Path) -> None:
    """``"gradient_checkpointing": true`` in an old config.json turns it on in the model built from it,
    and is consumed (not saved again), as in 4.37.2."""
    import roberta_prelayernorm as rp

    recorded = golden_configs["legacy_gradient_checkpointing"]
    write_config(tmp_path / "old", golden_configs["saved"]["legacy_gradient_checkpointing"]["written"])
    config = RobertaPreLayerNormConfig.from_pretrained(tmp_path / "old")
    assert config.gradient_checkpointing is True
    model = rp.RobertaPreLayerNormForCausalLM(config)
    assert model.is_gradient_checkpointing == recorded["enabled"] is True
    assert hasattr(model.config, "gradient_checkpointing") == recorded["left_in_config"] is False
    model.save_pretrained(tmp_path / "new")
    assert "gradient_checkpointing" not in json.loads((tmp_path / "new" / "config.json").read_text())
