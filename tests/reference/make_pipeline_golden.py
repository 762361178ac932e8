"""Record what transformers 4.37.2 pipelines and ``generate`` answer on tiny models with the fixture tokenizer.

The newest transformers dropped the question-answering pipeline, and its ``generate`` gives RoBERTa
positions from 0 instead of ``pad + 1``; 4.37.2 is the behaviour this project follows. Run it from the
repository root with the pins of ``requirements-golden.txt`` (``make golden`` does)::

    python tests/reference/make_pipeline_golden.py [--out tests/golden]

It writes two small JSON files, ``pipelines_question_answering.json`` and ``pipelines_generation.json``:
each holds the model (``config`` as 4.37.2 saved it, the parameter names and shapes, and a ``seed``
from which :func:`recipe_state_dict` rebuilds every weight) and the recorded ``cases`` (inputs,
arguments, outputs). ``tests/test_pipelines_golden.py`` rebuilds each model with the same recipe
(importing it from this file, which imports ``transformers`` only in ``main``), checks the weights'
``checksum``, and replays the cases with our library.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import torch

TRANSFORMERS_VERSION = "4.37.2"
ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests" / "fixtures" / "tokenizer"

# the fixture tokenizer has 800 tokens; 514 positions let the QA pipeline use its default 384-token windows
BASE_CONFIG: dict[str, Any] = {
    "vocab_size": 800, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 37, "max_position_embeddings": 514, "layer_norm_eps": 1e-5,
    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}


# ------------------------------------------------------------------------------------------ weights
def recipe_state_dict(parameters: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """Every parameter from its own generator (seeded by ``seed`` and the name's CRC32): N(0, 0.2²),
    plus 1 for LayerNorm weights. Independent of the library and of the order of the names."""
    state = {}
    for name, shape in parameters.items():
        generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        tensor = torch.randn(shape, generator=generator, dtype=torch.float32) * 0.2
        if name.endswith(("LayerNorm.weight", "layer_norm.weight")):
            tensor += 1.0
        state[name] = tensor
    return state


def checksum(state: dict[str, torch.Tensor]) -> float:
    return math.fsum(float(t.double().abs().sum()) for t in state.values())


# ---------------------------------------------------------------------------------------- recording
def build(transformers: Any, class_name: str, config: dict[str, Any], seed: int, folder: Path) -> dict[str, Any]:
    """A 4.37.2 model of the recipe saved with the fixture tokenizer in ``folder``; returns its description."""
    model = getattr(transformers, class_name)(transformers.RobertaPreLayerNormConfig(**config)).eval()
    parameters = {name: list(p.shape) for name, p in model.named_parameters()}
    state = recipe_state_dict(parameters, seed)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("lm_head.decoder.") or "position_ids" in k for k in missing), missing
    model.save_pretrained(folder)
    for f in TOKENIZER.iterdir():
        shutil.copy(f, folder / f.name)
    saved = json.loads((folder / "config.json").read_text())
    saved.pop("transformers_version", None)
    return {"class": class_name, "config": saved, "seed": seed, "parameters": parameters,
            "checksum": checksum(state)}


def question_answering_cases(transformers: Any, folder: Path) -> list[dict[str, Any]]:
    qa = transformers.pipeline("question-answering", model=str(folder), tokenizer=str(folder))
    context = ("Jim Henson was a nice puppet maker from Mississippi. He created the Muppets in 1955, "
               "and Kermit the Frog was his best known character.")
    long_context = " ".join([context] * 6)
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("single", {"question": "Who was Jim Henson?", "context": "Jim Henson was a nice puppet"}, {}),
        ("top_k", {"question": "What did he create?", "context": context}, {"top_k": 4}),
        ("many", {"question": "Who?", "context": context}, {"top_k": 40}),
        ("short_answers", {"question": "What did he create?", "context": context},
         {"top_k": 5, "max_answer_len": 2}),
        ("impossible", {"question": "When?", "context": context}, {"top_k": 3, "handle_impossible_answer": True}),
        ("offsets", {"question": "Who?", "context": context}, {"top_k": 3, "align_to_words": False}),
        ("windows", {"question": "Where was he from?", "context": long_context},
         {"top_k": 3, "max_seq_len": 48, "doc_stride": 16}),
        ("windows_impossible", {"question": "Where?", "context": long_context},
         {"top_k": 2, "max_seq_len": 40, "doc_stride": 10, "handle_impossible_answer": True}),
        ("unicode", {"question": "Qui est là ?",
                     "context": "  Zürich, café  et 東京  — naïve  résumé 😀 ok. "}, {"top_k": 3}),
        ("list", {"args": [[{"question": "Who?", "context": context},
                            {"question": "Which frog?", "context": "Kermit the Frog is green."}]]}, {}),
        ("question_list", {"question": ["Who?", "What?"], "context": context}, {"top_k": 2}),
    ]
    cases = []
    for name, inputs, params in calls:
        args = inputs.get("args", [])
        kwargs = {k: v for k, v in inputs.items() if k != "args"}
        output = qa(*args, **kwargs, **params)
        cases.append({"name": name, "inputs": inputs, "parameters": params, "output": output})
    return cases


def generation_cases(transformers: Any, folder: Path) -> list[dict[str, Any]]:
    model = transformers.RobertaPreLayerNormForCausalLM.from_pretrained(str(folder)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    prompts = ["Hello world, this is", "The capital of France"]
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    cases = []

    def record(name: str, input_ids: list[list[int]], kwargs: dict[str, Any], seed: int | None = None,
               attention_mask: list[list[int]] | None = None) -> None:
        ids = torch.tensor(input_ids)
        mask = torch.tensor(attention_mask) if attention_mask is not None else torch.ones_like(ids)
        if seed is not None:
            torch.manual_seed(seed)
        out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        cases.append({"name": name, "input_ids": input_ids, "attention_mask": mask.tolist(), "parameters": kwargs,
                      "seed": seed, "output": out.tolist()})

    record("greedy", [encoded[0]], {"max_new_tokens": 12, "do_sample": False})
    record("greedy_no_eos", [encoded[1]], {"max_new_tokens": 16, "do_sample": False, "eos_token_id": None})
    width = max(len(e) for e in encoded)
    same = [e[:min(len(x) for x in encoded)] for e in encoded]
    record("greedy_batch", same, {"max_new_tokens": 10, "do_sample": False})
    record("greedy_no_cache", [encoded[0]], {"max_new_tokens": 8, "do_sample": False, "use_cache": False})
    record("sample", [encoded[0]], {"max_new_tokens": 10, "do_sample": True, "top_k": 20, "top_p": 0.9,
                                    "temperature": 0.8}, seed=7)
    record("sample_batch", same, {"max_new_tokens": 10, "do_sample": True, "top_k": 0, "top_p": 0.7,
                                  "temperature": 1.3}, seed=11)
    left = [[1] * (width - len(e)) + e for e in encoded]
    left_mask = [[0] * (width - len(e)) + [1] * len(e) for e in encoded]
    record("left_padded", left, {"max_new_tokens": 8, "do_sample": False, "eos_token_id": None},
           attention_mask=left_mask)

    generator = transformers.pipeline("text-generation", model=str(folder), tokenizer=str(folder))
    for name, inputs, params in [
        ("pipeline", prompts, {"max_new_tokens": 8, "do_sample": False}),
        ("pipeline_new_text", prompts[0], {"max_new_tokens": 6, "do_sample": False, "return_full_text": False}),
        ("pipeline_tensors", prompts[1], {"max_new_tokens": 6, "do_sample": False, "return_tensors": True}),
    ]:
        cases.append({"name": name, "pipeline_inputs": inputs, "parameters": params,
                      "output": generator(inputs, **params)})
    return cases


def compact_json(data: Any) -> str:
    """Indented JSON with each list of numbers (shapes, token ids) on one line."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    return re.sub(r"\[[-\d.e,\s]+\]", lambda m: "[" + ", ".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]",
                  text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "golden"))
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import transformers

    if transformers.__version__ != TRANSFORMERS_VERSION:
        sys.exit(f"needs transformers=={TRANSFORMERS_VERSION}, found {transformers.__version__}")
    torch.set_num_threads(1)
    versions = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        qa_folder, lm_folder = Path(tmp, "qa"), Path(tmp, "lm")
        # seed 15: <s> gets the highest start probability, so the null answer's handling shows
        qa_model = build(transformers, "RobertaPreLayerNormForQuestionAnswering", BASE_CONFIG, 15, qa_folder)
        lm_model = build(transformers, "RobertaPreLayerNormForCausalLM", {**BASE_CONFIG, "is_decoder": True},
                         2, lm_folder)
        files = {
            "pipelines_question_answering.json": {"model": qa_model,
                                                  "cases": question_answering_cases(transformers, qa_folder)},
            "pipelines_generation.json": {"model": lm_model, "cases": generation_cases(transformers, lm_folder)},
        }
    for name, data in files.items():
        data = {"generated_with": versions, "written_by": "tests/reference/make_pipeline_golden.py", **data}
        (out / name).write_text(compact_json(data) + "\n", encoding="utf-8")
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
