"""The layout: a core that imports no framework, lazy public names, a CLI whose help imports nothing heavy,
and the neutral pieces (padding, dtypes, weight names, layout tables, shard indexes, the task table)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import roberta_prelayernorm
from roberta_prelayernorm.core import layouts, tasks
from roberta_prelayernorm.core.batching import batch_rows, pad_list, pad_rows
from roberta_prelayernorm.core.dtypes import dtype_name
from roberta_prelayernorm.core.errors import CheckpointError
from roberta_prelayernorm.core.weights import match_prefix, plan_shards, resolve_weights, shard_file_names

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "flax", "transformers")
CORE = sorted(p.stem for p in Path(roberta_prelayernorm.__file__).parent.joinpath("core").glob("*.py"))


def imported_after(code: str) -> list[str]:
    """The frameworks among ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json; print(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_package_import_and_neutral_names_import_no_framework() -> None:
    code = ("import roberta_prelayernorm as rp\n"
            "rp.RobertaPreLayerNormConfig(); rp.GenerationConfig(); rp.CheckpointError; rp.AutoTokenizer\n"
            + "".join(f"import roberta_prelayernorm.core.{name}\n" for name in CORE)
            + "import roberta_prelayernorm.core.layouts, roberta_prelayernorm.tokenizer\n")
    assert imported_after(code) == []


def test_a_torch_class_imports_torch_only() -> None:
    assert imported_after("import roberta_prelayernorm as rp\nrp.RobertaPreLayerNormModel") == ["torch"]


def test_cli_help_imports_no_framework() -> None:
    code = ("from roberta_prelayernorm.cli import build_parser, COMMANDS\n"
            "p = build_parser()\n"
            "import contextlib, io\n"
            "for name in COMMANDS:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        p.parse_args([name, '--help'])\n")
    assert imported_after(code) == []


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "roberta_prelayernorm", "--version"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0 and out.stdout.strip() == f"rpln (roberta-prelayernorm) {roberta_prelayernorm.__version__}"


# ------------------------------------------------------------------------------------- neutral pieces
def test_padding() -> None:
    rows = [[5, 6, 7], [8], []]
    right = pad_rows(rows, 1)
    assert right.tolist() == [[5, 6, 7], [8, 1, 1], [1, 1, 1]]
    assert pad_rows(rows, 0, side="left", length=4).tolist() == [[0, 5, 6, 7], [0, 0, 0, 8], [0, 0, 0, 0]]
    batch = batch_rows(rows[:2], 1, side="left")
    assert batch["input_ids"].tolist() == [[5, 6, 7], [1, 1, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pad_list([1, 2], 0, 4) == [1, 2, 0, 0] and pad_list([1, 2], 0, 4, "left") == [0, 0, 1, 2]
    assert pad_list([1, 2, 3], 0, 2) == [1, 2, 3]  # never cut


@pytest.mark.parametrize("value, name", [
    ("bf16", "bfloat16"), ("float16", "float16"), ("half", "float16"), ("fp32", "float32"), ("float", "float32"),
    ("torch.bfloat16", "bfloat16"), (torch.float16, "float16"), (np.float32, "float32"),
    (np.dtype("float16"), "float16"),
])
def test_dtype_names(value: object, name: str) -> None:
    assert dtype_name(value) == name


@pytest.mark.parametrize("value", ["int8", "float64", torch.int64, "fp8"])
def test_unknown_dtypes(value: object) -> None:
    with pytest.raises(ValueError, match="unknown dtype"):
        dtype_name(value)


def test_prefix_rules() -> None:
    base = ["embeddings.word_embeddings.weight", "LayerNorm.weight"]
    head = [f"roberta_prelayernorm.{k}" for k in base] + ["lm_head.bias"]
    assert match_prefix(base, head) == {k: f"roberta_prelayernorm.{k}" for k in base}
    assert match_prefix(head, base) == {**{f"roberta_prelayernorm.{k}": k for k in base}, "lm_head.bias": "lm_head.bias"}
    assert match_prefix(["roberta_prelayernorm/x"], ["x"], sep="/") == {"roberta_prelayernorm/x": "x"}


def test_shards() -> None:
    assert plan_shards({"a": 4, "b": 4, "c": 9, "d": 1}, 8) == [["a", "b"], ["c"], ["d"]]
    assert shard_file_names("model.safetensors", 2) == ["model-00001-of-00002.safetensors",
                                                       "model-00002-of-00002.safetensors"]
    assert shard_file_names("tf_model.h5", 1) == ["tf_model.h5"]


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd", "sub/../../x.safetensors"])
def test_shard_index_outside_the_folder_is_refused(tmp_path: Path, shard: str) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": shard}}))
    with pytest.raises(CheckpointError, match="outside the checkpoint's folder"):
        resolve_weights(tmp_path)


def test_layout_rules_map_both_ways() -> None:
    table = [layouts.Rule("{path}.LayerNorm.weight", "{path}/LayerNorm/scale"),
             layouts.Rule("encoder.layer.{i}.{path}.weight", "encoder/layer/{i}/{path}/kernel", "transpose")]
    assert layouts.to_foreign(table, "encoder.LayerNorm.weight") == ("encoder/LayerNorm/scale", "none")
    key, transform = layouts.to_foreign(table, "encoder.layer.11.attention.self.query.weight")
    assert key == "encoder/layer/11/attention.self.query/kernel" and transform == "transpose"
    assert layouts.to_pt(table, key) == ("encoder.layer.11.attention.self.query.weight", "transpose")
    w = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(layouts.undo(layouts.apply(w, "transpose"), "transpose"), w)
    with pytest.raises(KeyError, match="no rule"):
        layouts.to_foreign(table, "pooler.dense.bias")


def test_task_table_names_every_class_and_pipeline() -> None:
    import roberta_prelayernorm.pipelines as pipelines
    from roberta_prelayernorm.torch import modeling

    for task in tasks.TASKS.values():
        assert hasattr(modeling, tasks.class_name(task.head))
        if task.pipeline:
            assert pipelines.task_class(task.name).task == task.name
    assert tasks.class_name("ForMaskedLM", "tf") == "TFRobertaPreLayerNormForMaskedLM"
    assert tasks.for_architecture("FlaxRobertaPreLayerNormForQuestionAnswering").name == "question-answering"
    assert tasks.get("ner").name == "token-classification"
    with pytest.raises(KeyError, match="unknown task"):
        tasks.get("summarization")


def test_hub_options_never_reach_the_config(tmp_path: Path) -> None:
    """Unset hub options (None) are taken out of the config's keyword arguments, not saved as keys."""
    from roberta_prelayernorm import RobertaPreLayerNormConfig, RobertaPreLayerNormModel
    from model_helpers import tiny

    RobertaPreLayerNormModel(RobertaPreLayerNormConfig(**tiny())).save_pretrained(tmp_path)
    model = RobertaPreLayerNormModel.from_pretrained(tmp_path, cache_dir=None, revision=None, token=None)
    for key in ("cache_dir", "revision", "token", "local_files_only", "subfolder", "force_download"):
        assert key not in model.config.to_dict()


def test_a_pytorch_save_keeps_other_formats(tmp_path: Path) -> None:
    from roberta_prelayernorm import RobertaPreLayerNormConfig, RobertaPreLayerNormModel
    from model_helpers import tiny

    for name in ("tf_model.h5", "flax_model.msgpack", "tokenizer.json", "pytorch_model.bin"):
        (tmp_path / name).write_bytes(b"x")
    RobertaPreLayerNormModel(RobertaPreLayerNormConfig(**tiny())).save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "flax_model.msgpack", "model.safetensors",
                                            "tf_model.h5", "tokenizer.json"]  # the stale .bin is gone
