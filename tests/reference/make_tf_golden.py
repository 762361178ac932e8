"""Write tests/golden/tf/: tiny models of transformers 4.37.2's own TF classes, their tf_model.h5 and outputs.

Three steps, run by ``make golden`` (see tests/golden/README.md)::

    # 1. in .venv-golden-tf (transformers 4.37.2, tensorflow-cpu 2.15.1): the reference's files
    python tests/reference/make_tf_golden.py --out tests/golden/tf
    # 2. in the project's .venv (our TF classes on Keras 3): load each case and save it again with ours
    python tests/reference/make_tf_golden.py --out tests/golden/tf --save-ours build/tf-ours
    # 3. in .venv-golden-tf: transformers loads what we saved, with no missing or unexpected weight, and
    #    replays every recorded call within 1e-5
    python tests/reference/make_tf_golden.py --out tests/golden/tf --check-ours build/tf-ours

Each case is one TF class with a fixed seed: the reference builds it, every weight gets seeded noise (so a
LayerNorm or bias in the wrong place shows in the numbers), ``save_pretrained`` writes the folder and the
calls' inputs and outputs go to ``io.safetensors`` (format: ``golden_tf_format.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import golden_tf_format as fmt  # noqa: E402

TRANSFORMERS_VERSION = "4.37.2"
VOCAB, PAD = 99, 1  # pad 1, bos 0, eos 2; random tokens from [3, VOCAB)
BASE_CONFIG: dict[str, Any] = {
    "vocab_size": VOCAB, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4,
    "intermediate_size": 37, "max_position_embeddings": 40, "type_vocab_size": 2, "initializer_range": 0.2,
    "pad_token_id": PAD, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5,
}
TRACE = {"output_hidden_states": True, "output_attentions": True}


def right_padded(rng: np.random.RandomState, lengths: list[int], length: int, *lead: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``<s> tokens </s>`` rows padded on the right; ``lead`` dims (choices) before the rows."""
    rows = int(np.prod(lead)) * len(lengths)
    ids = rng.randint(3, VOCAB, size=(rows, length)).astype(np.int32)
    mask = np.zeros((rows, length), np.int32)
    for row in range(rows):
        n = lengths[row % len(lengths)]
        ids[row, 0], ids[row, n - 1] = 0, 2
        ids[row, n:] = PAD
        mask[row, :n] = 1
    shape = (*lead, len(lengths), length) if lead else (len(lengths), length)
    return ids.reshape(shape), mask.reshape(shape)


def token_labels(rng: np.random.RandomState, mask: np.ndarray, classes: int) -> np.ndarray:
    labels = rng.randint(0, classes, size=mask.shape).astype(np.int32)
    chosen = (rng.rand(*mask.shape) < 0.6) & (mask == 1)
    return np.where(chosen, labels, -100).astype(np.int32)


def cases() -> list[dict[str, Any]]:
    """Every case: name, class, config overrides, calls (name, inputs, options, past_key_values_from)."""
    rng = np.random.RandomState(0)
    out = []

    ids, mask = right_padded(rng, [9, 6, 4], 9)
    types = np.where(np.arange(9)[None] >= 5, 1, 0).repeat(3, 0).astype(np.int32) * mask
    embeds = rng.randn(2, 5, 16).astype(np.float32)
    out.append(dict(name="model", cls="TFRobertaPreLayerNormModel", config={"hidden_act": "gelu_new"}, calls=[
        dict(name="padded", inputs={"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, options=TRACE),
        dict(name="embeds", inputs={"inputs_embeds": embeds}, options={}),
    ]))

    ids, mask = right_padded(rng, [8, 5], 8)
    out.append(dict(name="masked_lm", cls="TFRobertaPreLayerNormForMaskedLM", config={"hidden_act": "relu"}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "labels": token_labels(rng, mask, VOCAB)}, options=TRACE),
    ]))

    ids, mask = right_padded(rng, [7, 7], 7)
    new = rng.randint(3, VOCAB, size=(2, 1)).astype(np.int32)
    out.append(dict(name="causal_lm", cls="TFRobertaPreLayerNormForCausalLM",
                    config={"is_decoder": True}, calls=[
        dict(name="labels", inputs={"input_ids": ids, "attention_mask": mask, "labels": ids}, options=TRACE),
        dict(name="prompt", inputs={"input_ids": ids[:, :5], "attention_mask": mask[:, :5]},
             options={"use_cache": True}),
        dict(name="step", inputs={"input_ids": new, "attention_mask": np.ones((2, 6), np.int32)},
             options={"use_cache": True}, past_key_values_from="prompt"),
    ]))

    ids, mask = right_padded(rng, [6, 6], 6)
    enc = rng.randn(2, 5, 16).astype(np.float32)
    _, enc_mask = right_padded(rng, [5, 3], 5)
    new = rng.randint(3, VOCAB, size=(2, 1)).astype(np.int32)
    out.append(dict(name="cross_attention", cls="TFRobertaPreLayerNormForCausalLM",
                    config={"is_decoder": True, "add_cross_attention": True, "num_hidden_layers": 2,
                            "hidden_act": "silu"}, calls=[
        dict(name="prompt", inputs={"input_ids": ids[:, :4], "attention_mask": mask[:, :4],
                                    "encoder_hidden_states": enc, "encoder_attention_mask": enc_mask},
             options={"use_cache": True, **TRACE}),
        dict(name="step", inputs={"input_ids": new, "attention_mask": np.ones((2, 5), np.int32),
                                  "encoder_hidden_states": enc, "encoder_attention_mask": enc_mask},
             options={"use_cache": True}, past_key_values_from="prompt"),
    ]))

    ids, mask = right_padded(rng, [8, 6, 4], 8)
    out.append(dict(name="sequence_classification", cls="TFRobertaPreLayerNormForSequenceClassification",
                    config={"num_labels": 3}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "labels": np.array([2, 0, 1], np.int32)}, options=TRACE),
    ]))
    ids, mask = right_padded(rng, [8, 5], 8)
    out.append(dict(name="regression", cls="TFRobertaPreLayerNormForSequenceClassification",
                    config={"num_labels": 1}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "labels": np.array([0.5, -1.25], np.float32)}, options={}),
    ]))

    ids, mask = right_padded(rng, [7, 5, 6], 7, 2)  # (batch 2, choices 3, length 7)
    # no TRACE: 4.37.2's TF multiple choice passes output_attentions / output_hidden_states to the wrong
    # arguments of its main layer, so it never returns them
    out.append(dict(name="multiple_choice", cls="TFRobertaPreLayerNormForMultipleChoice", config={}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "labels": np.array([1, 2], np.int32)}, options={}),
    ]))

    ids, mask = right_padded(rng, [9, 7], 9)
    out.append(dict(name="token_classification", cls="TFRobertaPreLayerNormForTokenClassification",
                    config={"num_labels": 5}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "labels": token_labels(rng, mask, 5)}, options=TRACE),
    ]))

    ids, mask = right_padded(rng, [9, 6], 9)
    out.append(dict(name="question_answering", cls="TFRobertaPreLayerNormForQuestionAnswering", config={}, calls=[
        dict(name="forward", inputs={"input_ids": ids, "attention_mask": mask,
                                     "start_positions": np.array([1, 3], np.int32),
                                     "end_positions": np.array([4, 3], np.int32)}, options=TRACE),
    ]))
    return out


def call_model(model: Any, call: dict[str, Any], inputs: dict[str, Any], earlier: dict[str, Any]) -> Any:
    """One recorded call: the inputs, the options, and the cache of an earlier call's output."""
    kwargs = dict({"input_ids": None}, **inputs, **call.get("options", {}))  # Keras 2 needs the first argument
    if call.get("past_key_values_from"):
        kwargs["past_key_values"] = earlier[call["past_key_values_from"]].past_key_values
    return model(**kwargs, training=False)


# ------------------------------------------------------------------------------------------------ steps
def write_reference(out: Path) -> None:
    import tensorflow as tf
    import transformers
    from safetensors.numpy import save_file

    if transformers.__version__ != TRANSFORMERS_VERSION:
        sys.exit(f"make_tf_golden.py needs transformers=={TRANSFORMERS_VERSION}, found {transformers.__version__}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_dir() and (stale / fmt.CASE_FILE).exists():
            shutil.rmtree(stale)
    all_cases = cases()
    for number, case in enumerate(all_cases):
        tf.keras.backend.clear_session()  # layer names start afresh: no "_1" suffix on a second model of a class
        tf.keras.utils.set_random_seed(number)
        config = transformers.RobertaPreLayerNormConfig(**{**BASE_CONFIG, **case["config"]})
        model = getattr(transformers, case["cls"])(config)
        model.build_in_name_scope()
        noise = np.random.RandomState(100 + number)
        for weight in model.weights:
            weight.assign(weight.numpy() + 0.2 * noise.randn(*weight.shape).astype(np.float32))
        folder = out / case["name"]
        model.save_pretrained(folder)
        tensors: dict[str, np.ndarray] = {}
        earlier: dict[str, Any] = {}
        calls = []
        for call in case["calls"]:
            output = call_model(model, call, {k: tf.constant(v) for k, v in call["inputs"].items()}, earlier)
            earlier[call["name"]] = output
            tensors.update(fmt.flatten_output(call["name"], {k: output[k] for k in output.keys()}))
            for name, value in call["inputs"].items():
                tensors[f"{call['name']}.in.{name}"] = np.ascontiguousarray(value)  # slices: their own bytes
            calls.append({"name": call["name"], "options": call.get("options", {}),
                          "past_key_values_from": call.get("past_key_values_from"), "fields": list(output.keys())})
        save_file(tensors, str(folder / fmt.IO_FILE))
        spec = {"class": case["cls"], "calls": calls, "generated_with": {
            "transformers": transformers.__version__, "tensorflow": tf.__version__, "numpy": np.__version__}}
        (folder / fmt.CASE_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        print(f"wrote {case['name']} ({(folder / fmt.WEIGHTS_FILE).stat().st_size} bytes of weights)")
    (out / fmt.INDEX_FILE).write_text(json.dumps([c["name"] for c in all_cases], indent=2) + "\n")


def save_ours(out: Path, target: Path) -> None:
    """Our TF classes load each reference folder and save it again (one case also sharded)."""
    import roberta_prelayernorm as rp

    for name in json.loads((out / fmt.INDEX_FILE).read_text()):
        spec = json.loads((out / name / fmt.CASE_FILE).read_text())
        model = getattr(rp, spec["class"]).from_pretrained(out / name)
        model.save_pretrained(target / name)
        if name == "masked_lm":
            model.save_pretrained(target / f"{name}-sharded", max_shard_size="4KB")
        print(f"saved {name} with roberta_prelayernorm")


def check_ours(out: Path, target: Path) -> None:
    """transformers 4.37.2 loads what we saved with nothing missing and replays every recorded call."""
    import tensorflow as tf
    import transformers
    from safetensors.numpy import load_file

    worst = 0.0
    for folder in sorted(p for p in target.iterdir() if p.is_dir()):
        case = folder.name.removesuffix("-sharded")
        spec = json.loads((out / case / fmt.CASE_FILE).read_text())
        model, info = getattr(transformers, spec["class"]).from_pretrained(folder, output_loading_info=True)
        problems = {k: v for k, v in info.items() if v}
        assert not problems, f"{folder.name}: transformers reports {problems}"
        tensors = load_file(str(out / case / fmt.IO_FILE))
        earlier: dict[str, Any] = {}
        for call in spec["calls"]:
            inputs = {k: tf.constant(v) for k, v in fmt.inputs_of(tensors, call["name"]).items()}
            output = call_model(model, call, inputs, earlier)
            earlier[call["name"]] = output
            got = fmt.flatten_output(call["name"], {k: output[k] for k in output.keys()})
            recorded = {f"{call['name']}.out.{k}": v for k, v in fmt.outputs_of(tensors, call["name"]).items()}
            diff, where = fmt.max_diff(recorded, got)
            assert diff <= fmt.ATOL, f"{folder.name}: {where} differs by {diff}"
            worst = max(worst, diff)
        print(f"transformers {transformers.__version__} loads our {folder.name}: no missing or unexpected weights")
    print(f"largest difference from the recorded outputs: {worst:.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "golden" / "tf")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--save-ours", type=Path, metavar="DIR", help="step 2: save every case with our TF classes")
    group.add_argument("--check-ours", type=Path, metavar="DIR", help="step 3: load our saves with transformers")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.save_ours:
        save_ours(args.out, args.save_ours)
    elif args.check_ours:
        check_ours(args.out, args.check_ours)
    else:
        write_reference(args.out)


if __name__ == "__main__":
    main()
