"""Write tests/golden/flax/: tiny random models of transformers 4.37.2's own Flax classes and their outputs.

Run it in the pinned environment (``make golden`` builds ``.venv-golden-flax`` from
``tests/reference/requirements-golden-flax.txt``: transformers 4.37.2, jax/jaxlib 0.4.13, flax 0.7.0)::

    python tests/reference/make_flax_golden.py [--out tests/golden/flax] [--ours-python .venv/bin/python]

Each case is one Flax class with seeded parameters, every one of them perturbed (LayerNorm scales and
biases too, so a misplaced LayerNorm or bias shows), saved with the reference's ``save_pretrained``
(``config.json`` + ``flax_model.msgpack``), and the outputs of one or more calls in
``io.safetensors`` (``<call>.in.<argument>``, ``<call>.out.<field>[.<i>]``). ``tests/test_flax_golden.py``
loads each folder with our classes and replays the calls.

With ``--ours-python`` (an interpreter that has roberta_prelayernorm and current JAX), the script then
checks the other direction: our library loads each case, saves it with its own ``save_pretrained``, and
the reference's Flax class must load that ``flax_model.msgpack`` and give the golden outputs again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import transformers
from flax.traverse_util import flatten_dict, unflatten_dict
from safetensors.numpy import load_file, save_file

jax.config.update("jax_default_matmul_precision", "highest")

TRANSFORMERS_VERSION = "4.37.2"
VOCAB, PAD = 99, 1
BASE_CONFIG: dict[str, Any] = {
    "vocab_size": VOCAB, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 37, "max_position_embeddings": 40, "type_vocab_size": 2, "initializer_range": 0.2,
    "layer_norm_eps": 1e-5, "pad_token_id": PAD, "bos_token_id": 0, "eos_token_id": 2,
}
TRACE = {"output_hidden_states": True, "output_attentions": True}
ATOL = 1e-5


def right_padded(rng: np.random.Generator, lengths: list[int], length: int, shape: tuple[int, ...] = ()
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``<s> tokens </s>`` rows padded on the right: (input_ids, attention_mask) as int32."""
    ids = rng.integers(3, VOCAB, (len(lengths), length)).astype(np.int32)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1] = 0, 2
        ids[row, n:] = PAD
        mask[row, :n] = 1
    return ids.reshape(*shape, length) if shape else ids, mask.reshape(*shape, length) if shape else mask


def cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Every Flax head on a padded batch with token types; plus head masks, positions, an untied LM head
    and incremental decoding (the reference's cache works only with cross-attention configured)."""
    ids, mask = right_padded(rng, [8, 6, 3], 8)
    types = (np.arange(8) > 4).astype(np.int32)[None].repeat(3, 0)
    plain = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    heads = [
        ("model", "FlaxRobertaPreLayerNormModel", {}),
        ("causal_lm", "FlaxRobertaPreLayerNormForCausalLM", {"is_decoder": True}),
        ("masked_lm", "FlaxRobertaPreLayerNormForMaskedLM", {"hidden_act": "gelu_new"}),
        ("sequence_classification", "FlaxRobertaPreLayerNormForSequenceClassification", {"num_labels": 3}),
        ("token_classification", "FlaxRobertaPreLayerNormForTokenClassification", {"num_labels": 5, "hidden_act": "silu"}),
        ("question_answering", "FlaxRobertaPreLayerNormForQuestionAnswering", {}),
    ]
    out = [{"name": f"heads_{name}", "class": cls, "config": config, "calls": [{"name": "forward", "inputs": plain}],
            "description": f"{cls} on a right-padded batch with token types"} for name, cls, config in heads]
    mc_ids, mc_mask = right_padded(rng, [7, 5, 7, 2, 6, 4], 7, (2, 3))
    out.append({"name": "heads_multiple_choice", "class": "FlaxRobertaPreLayerNormForMultipleChoice", "config": {},
                "description": "(batch, choices, length) inputs; the pooler feeds the classifier",
                "calls": [{"name": "forward", "inputs": {"input_ids": mc_ids, "attention_mask": mc_mask}}]})
    ids2, mask2 = right_padded(rng, [7, 4], 7)
    out.append({
        "name": "head_mask_positions", "class": "FlaxRobertaPreLayerNormModel", "config": {"num_hidden_layers": 3},
        "description": "head_mask of 0/1 per layer (the reference casts it to int32: fractions become 0), explicit "
                       "position_ids",
        "calls": [{"name": "forward", "inputs": {
            "input_ids": ids2, "attention_mask": mask2,
            "head_mask": np.array([[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 1]], np.float32),
            "position_ids": np.array([[2, 3, 4, 5, 6, 7, 8], [9, 4, 4, 20, 2, 11, 30]], np.int32)}}]})
    out.append({"name": "masked_lm_untied", "class": "FlaxRobertaPreLayerNormForMaskedLM",
                "config": {"tie_word_embeddings": False}, "description": "an LM head with its own decoder kernel",
                "calls": [{"name": "forward", "inputs": plain}]})
    dec_ids, dec_mask = right_padded(rng, [9, 6], 9)
    enc = rng.standard_normal((2, 5, 16)).astype(np.float32)
    enc_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int32)
    positions = np.where(dec_mask == 1, np.cumsum(dec_mask, 1) + PAD, PAD).astype(np.int32)
    cross = {"encoder_hidden_states": enc, "encoder_attention_mask": enc_mask}
    steps = [(0, 5), (5, 6), (6, 9)]
    out.append({
        "name": "decoder_cross_attention_cache", "class": "FlaxRobertaPreLayerNormForCausalLM",
        "config": {"is_decoder": True, "add_cross_attention": True},
        "description": "decoder with cross-attention over padded encoder states: the full run, then the same "
                       "tokens through init_cache(2, 9) in steps of 5, 1 and 3 (explicit position_ids; the "
                       "attention_mask covers the whole cache)",
        "calls": [{"name": "full", "inputs": {"input_ids": dec_ids, "attention_mask": dec_mask,
                                              "position_ids": positions, **cross}}]
        + [{"name": f"step{i}", "cache": "init" if i == 0 else f"step{i - 1}",
            "inputs": {"input_ids": dec_ids[:, a:b], "attention_mask": dec_mask, "position_ids": positions[:, a:b],
                       **cross}, "options": {}} for i, (a, b) in enumerate(steps)],
    })
    return out


def perturbed(model: Any, rng: np.random.Generator) -> dict:
    """Every parameter plus N(0, 0.2) noise."""
    flat = flatten_dict(jax.device_get(model.params))
    return unflatten_dict({k: (np.asarray(v) + rng.standard_normal(v.shape) * 0.2).astype(np.float32)
                           for k, v in flat.items()})


def flat_outputs(prefix: str, output: Any) -> dict[str, np.ndarray]:
    flat = {}
    for field, value in output.items():
        if field == "past_key_values":
            continue
        values = value if isinstance(value, tuple) else (value,)
        for i, v in enumerate(values):
            flat[f"{prefix}{field}" + (f".{i}" if isinstance(value, tuple) else "")] = np.ascontiguousarray(v)
    return flat


def run_calls(model: Any, case: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every call of a case on a reference model: inputs and outputs, flattened."""
    tensors, caches = {}, {}
    for call in case["calls"]:
        inputs = {k: v for k, v in call["inputs"].items()}
        kwargs = dict(inputs)
        if call.get("cache"):
            kwargs["past_key_values"] = (model.init_cache(inputs["input_ids"].shape[0], inputs["attention_mask"].shape[1])
                                         if call["cache"] == "init" else caches[call["cache"]])
        output = model(**kwargs, **call.get("options", TRACE))
        if call.get("cache"):
            caches[call["name"]] = output.past_key_values
        call["fields"] = [k for k in output.keys() if k != "past_key_values"]
        # contiguous copies: safetensors writes a slice's underlying buffer otherwise
        tensors.update({f"{call['name']}.in.{k}": np.ascontiguousarray(v) for k, v in inputs.items()})
        tensors.update(flat_outputs(f"{call['name']}.out.", output))
    return tensors


def write_case(out: Path, case: dict[str, Any], rng: np.random.Generator) -> None:
    config = transformers.RobertaPreLayerNormConfig(**{**BASE_CONFIG, **case["config"]})
    model = getattr(transformers, case["class"])(config, seed=0)
    model.params = perturbed(model, rng)
    folder = out / case["name"]
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)
    tensors = run_calls(model, case)
    save_file(tensors, str(folder / "io.safetensors"))
    meta = {"class": case["class"], "description": case["description"],
            "calls": [{"name": c["name"], "cache": c.get("cache"), "options": c.get("options", TRACE),
                       "inputs": sorted(c["inputs"]), "fields": c["fields"]} for c in case["calls"]],
            "generated_with": {"transformers": transformers.__version__, "jax": jax.__version__,
                               "flax": __import__("flax").__version__, "numpy": np.__version__}}
    (folder / "case.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


# the other direction: our library saves, the reference loads
OURS = r"""
import json, sys
import roberta_prelayernorm as rp
src, dst = sys.argv[1], sys.argv[2]
cls = json.load(open(src + "/case.json"))["class"]
getattr(rp, cls).from_pretrained(src).save_pretrained(dst)
"""


def check_ours(out: Path, names: list[str], python: str) -> None:
    """Each case re-saved by our library loads in the reference and gives the golden outputs."""
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            dst = Path(tmp) / name
            subprocess.run([python, "-c", OURS, str(out / name), str(dst)], check=True)
            meta = json.loads((out / name / "case.json").read_text())
            model = getattr(transformers, meta["class"]).from_pretrained(dst)
            golden = load_file(str(out / name / "io.safetensors"))
            case = {"calls": [{"name": c["name"], "cache": c["cache"], "options": c["options"],
                               "inputs": {k: golden[f"{c['name']}.in.{k}"] for k in c["inputs"]}}
                              for c in meta["calls"]]}
            again = run_calls(model, case)
            assert again.keys() == golden.keys(), name
            diff = max(float(np.abs(again[k] - golden[k]).max()) for k in golden)
            assert diff <= ATOL, f"{name}: the reference, loading our save, differs by {diff}"
            worst = max(worst, diff)
    print(f"the reference loads our flax_model.msgpack of all {len(names)} cases: max abs diff {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "golden" / "flax")
    parser.add_argument("--ours-python", help="an interpreter with roberta_prelayernorm, for the reverse check")
    args = parser.parse_args()
    if transformers.__version__ != TRANSFORMERS_VERSION:
        sys.exit(f"needs transformers=={TRANSFORMERS_VERSION}, found {transformers.__version__}")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    all_cases = cases(rng)
    for case in all_cases:
        write_case(args.out, case, rng)
        print("wrote", case["name"])
    names = [c["name"] for c in all_cases]
    (args.out / "cases.json").write_text(json.dumps(names, indent=2) + "\n")
    if args.ours_python:
        check_ours(args.out, names, args.ours_python)


if __name__ == "__main__":
    main()
