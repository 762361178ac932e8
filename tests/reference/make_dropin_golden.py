"""Record what transformers 4.37.2 answers where generic code meets the model: ``generate`` (beam search,
sampling, the score processors, the output objects), head pruning, the general config attributes,
``generation_config.json`` and the loading report's key names.

Run it from the repository root with the pins of ``requirements-golden.txt`` (``make golden`` does)::

    python tests/reference/make_dropin_golden.py [--out tests/golden]

It writes loose files (no case folders: those are ``make_golden.py``'s) into ``tests/golden/``:

- ``dropin_generation.json`` + ``dropin_generation.safetensors``: a tiny causal LM (config, parameter shapes and a
  seed for :func:`lm_state_dict`, which rebuilds every weight from ``make_pipeline_golden``'s recipe; no
  weights are stored) and the ``generate`` calls: prompt, arguments, seed, the sequences, and for
  ``return_dict_in_generate`` the output fields as tensors named ``<case>.<field>[.<i>[.<j>]]``.
- ``dropin_pruned_config.json`` + ``dropin_pruned_model.safetensors``: a model pruned by 4.37.2
  (``prune_heads``, twice) and saved by it (the ``config.json`` with ``pruned_heads`` and the
  ``model.safetensors`` of its ``save_pretrained``), ``dropin_pruned.json`` (the unpruned model's recipe,
  the heads pruned) and ``dropin_pruned_io.safetensors`` (inputs and the pruned model's outputs).
- ``dropin_configs.json``: the reference's ``PretrainedConfig`` defaults of the general attributes, the
  ``config.json`` it writes for configs with some of them set, the ``generation_config.json`` its
  causal LM writes, and its loading reports (missing / unexpected / mismatched key names) for
  checkpoints loaded across the base prefix.

``tests/test_generation.py``, ``tests/test_modeling.py``, ``tests/test_configuration.py`` and
``tests/test_checkpoint.py`` replay them with our library (tests marked ``golden``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_format import flatten  # noqa: E402
from make_pipeline_golden import checksum, compact_json, recipe_state_dict  # noqa: E402

TRANSFORMERS_VERSION = "4.37.2"
ROOT = Path(__file__).resolve().parents[2]

LM_CONFIG: dict[str, Any] = {
    "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 37, "max_position_embeddings": 64, "layer_norm_eps": 1e-5,
    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "is_decoder": True,
}
LM_SEED = 3
# the padding token is never generated (a generated pad id has no position of its own, where 4.37.2's
# cache and a recomputation disagree), and the end-of-sequence token is likely enough to end some beams
PAD_BIAS, EOS_BIAS = -30.0, 2.5

OUT = ("return_dict_in_generate", "output_scores")
GENERATION_CASES: list[tuple[str, tuple[int, int], dict[str, Any], int | None]] = [
    # name, (batch, prompt length), generate arguments, seed (sampling)
    ("greedy", (3, 5), {"max_new_tokens": 12}, None),
    ("greedy_outputs", (2, 4), {"max_new_tokens": 6, "return_dict_in_generate": True, "output_scores": True,
                                "output_attentions": True, "output_hidden_states": True}, None),
    ("greedy_processors", (3, 6), {"max_new_tokens": 12, "repetition_penalty": 1.6, "no_repeat_ngram_size": 2,
                                   "bad_words_ids": [[7], [19, 63], [2]], "min_new_tokens": 4,
                                   "return_dict_in_generate": True, "output_scores": True}, None),
    ("greedy_min_length", (3, 5), {"max_length": 16, "min_length": 12}, None),
    ("greedy_no_cache", (2, 5), {"max_new_tokens": 8, "use_cache": False, "repetition_penalty": 0.7}, None),
    ("greedy_eos_as_pad", (3, 5), {"max_new_tokens": 10, "pad_token_id": None}, None),
    ("greedy_two_eos", (3, 5), {"max_new_tokens": 10, "eos_token_id": [2, 19]}, None),
    ("greedy_no_eos", (2, 5), {"max_new_tokens": 12, "eos_token_id": None}, None),
    ("forced_tokens", (2, 1), {"max_length": 8, "forced_bos_token_id": 5, "forced_eos_token_id": 2,
                               "remove_invalid_values": True, "renormalize_logits": True,
                               "return_dict_in_generate": True, "output_scores": True}, None),
    ("sample", (2, 5), {"do_sample": True, "top_k": 0, "top_p": 0.8, "temperature": 1.3,
                        "num_return_sequences": 3, "max_new_tokens": 10}, 11),
    ("sample_processors", (2, 5), {"do_sample": True, "top_k": 12, "repetition_penalty": 1.2,
                                   "no_repeat_ngram_size": 3, "min_new_tokens": 3, "max_new_tokens": 10,
                                   "return_dict_in_generate": True, "output_scores": True}, 5),
    ("beam", (3, 5), {"num_beams": 4, "max_new_tokens": 12}, None),
    ("beam_return", (3, 5), {"num_beams": 4, "num_return_sequences": 3, "length_penalty": 0.6,
                             "max_new_tokens": 12, "return_dict_in_generate": True, "output_scores": True}, None),
    ("beam_early_stopping", (3, 5), {"num_beams": 3, "early_stopping": True, "length_penalty": 1.5,
                                     "num_return_sequences": 2, "max_new_tokens": 12,
                                     "return_dict_in_generate": True, "output_scores": True}, None),
    ("beam_never", (3, 5), {"num_beams": 3, "early_stopping": "never", "length_penalty": 2.0,
                            "max_new_tokens": 10, "return_dict_in_generate": True, "output_scores": True}, None),
    ("beam_never_negative_penalty", (3, 5), {"num_beams": 3, "early_stopping": "never", "length_penalty": -0.5,
                                             "min_new_tokens": 3, "max_new_tokens": 10}, None),
    ("beam_no_eos", (2, 5), {"num_beams": 3, "eos_token_id": None, "max_new_tokens": 8,
                             "return_dict_in_generate": True, "output_scores": True}, None),
    ("beam_two_eos", (3, 5), {"num_beams": 3, "eos_token_id": [2, 19], "max_new_tokens": 12,
                              "num_return_sequences": 2, "return_dict_in_generate": True, "output_scores": True},
     None),
    ("beam_processors", (3, 5), {"num_beams": 3, "repetition_penalty": 1.4, "no_repeat_ngram_size": 2,
                                 "bad_words_ids": [[80], [63, 19]], "min_new_tokens": 5, "max_new_tokens": 12},
     None),
    ("beam_no_cache", (2, 5), {"num_beams": 3, "use_cache": False, "min_new_tokens": 4, "max_new_tokens": 8}, None),
    ("beam_outputs", (2, 4), {"num_beams": 2, "max_new_tokens": 4, "return_dict_in_generate": True,
                              "output_scores": True, "output_attentions": True, "output_hidden_states": True}, None),
    ("beam_max_length", (2, 5), {"num_beams": 3, "max_length": 14}, None),
    ("beam_sample_top_p", (2, 5), {"num_beams": 2, "do_sample": True, "top_p": 0.7, "eos_token_id": [2, 19],
                                   "min_new_tokens": 2, "max_new_tokens": 8}, 8),
    ("beam_sample", (2, 5), {"num_beams": 3, "do_sample": True, "top_k": 20, "temperature": 0.8,
                             "num_return_sequences": 2, "min_new_tokens": 3, "max_new_tokens": 10,
                             "return_dict_in_generate": True, "output_scores": True}, 3),
]

PRUNE = {0: [0, 2], 1: [3]}
PRUNE_MORE = {1: [1, 3]}  # pruned afterwards: head 3 again (skipped), and head 1


# ------------------------------------------------------------------------------------------ models
def lm_state_dict(parameters: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """:func:`recipe_state_dict` with the LM head's bias moved away from padding and towards the end."""
    state = recipe_state_dict(parameters, seed)
    state["lm_head.bias"][LM_CONFIG["pad_token_id"]] += PAD_BIAS
    state["lm_head.bias"][LM_CONFIG["eos_token_id"]] += EOS_BIAS
    return state


def prompts(batch: int, length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, LM_CONFIG["vocab_size"], (batch, length), generator=generator)


def generation_cases(transformers: Any, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    model = transformers.RobertaPreLayerNormForCausalLM(transformers.RobertaPreLayerNormConfig(**LM_CONFIG)).eval()
    parameters = {name: list(p.shape) for name, p in model.named_parameters()}
    state = lm_state_dict(parameters, LM_SEED)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("lm_head.decoder.") for k in missing), missing
    cases = []
    for i, (name, (batch, length), kwargs, seed) in enumerate(GENERATION_CASES):
        ids = prompts(batch, length, seed=100 + i)
        if name == "forced_tokens":
            ids = torch.full((batch, 1), LM_CONFIG["bos_token_id"])
        if seed is not None:
            torch.manual_seed(seed)
        # 4.37.2's search loops replace an eos_token_id=None argument by the model's generation_config
        # eos_token_id: there too, None is set to mean "no end-of-sequence token"
        model.generation_config.eos_token_id = kwargs.get("eos_token_id", LM_CONFIG["eos_token_id"])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        model.generation_config.eos_token_id = LM_CONFIG["eos_token_id"]
        sequences = out if isinstance(out, torch.Tensor) else out.sequences
        fields = []
        if not isinstance(out, torch.Tensor):
            for field, value in out.items():
                if field == "past_key_values":
                    continue
                tensors.update(flatten(f"{name}.{field}", value))
                fields.append(field)
        cases.append({"name": name, "input_ids": ids.tolist(), "parameters": kwargs, "seed": seed,
                      "output": sequences.tolist(), "fields": fields})
    return {"model": {"class": "RobertaPreLayerNormForCausalLM", "config": LM_CONFIG, "seed": LM_SEED,
                      "parameters": parameters, "checksum": checksum(state),
                      "bias": {"pad": PAD_BIAS, "eos": EOS_BIAS}},
            "cases": cases}


def pruned_case(transformers: Any, folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A base model with a pooler, pruned twice by 4.37.2 and saved; its outputs on a padded batch."""
    config = {**{k: v for k, v in LM_CONFIG.items() if k != "is_decoder"}, "type_vocab_size": 2}
    model = transformers.RobertaPreLayerNormModel(transformers.RobertaPreLayerNormConfig(**config)).eval()
    parameters = {name: list(p.shape) for name, p in model.named_parameters()}
    state = recipe_state_dict(parameters, 7)
    model.load_state_dict(state, strict=False)
    model.prune_heads(PRUNE)
    model.prune_heads(PRUNE_MORE)
    model.save_pretrained(folder, safe_serialization=True)
    ids = prompts(3, 9, seed=5)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    tensors = {"in.input_ids": ids, "in.attention_mask": mask}
    for field, value in out.items():
        tensors.update(flatten(f"out.{field}", value))
    saved = json.loads((folder / "config.json").read_text())
    return {"model": {"config": config, "seed": 7, "parameters": parameters, "checksum": checksum(state)},
            "prune": [{str(k): v for k, v in PRUNE.items()}, {str(k): v for k, v in PRUNE_MORE.items()}],
            "saved_config": saved, "fields": list(out.keys())}, tensors


def config_cases(transformers: Any, folder: Path) -> dict[str, Any]:
    from transformers import PretrainedConfig

    general = ["torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward",
               "is_encoder_decoder", "cross_attention_hidden_size", "tie_encoder_decoder", "finetuning_task",
               "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params",
               "return_dict", "output_hidden_states", "output_attentions", "torch_dtype", "is_decoder",
               "add_cross_attention", "tie_word_embeddings", "architectures", "problem_type"]
    defaults = PretrainedConfig().to_dict()
    generation_defaults = PretrainedConfig._get_generation_defaults()
    saved = {}
    for name, kwargs in [
        ("defaults", {}),
        ("general_set", {"torchscript": True, "chunk_size_feed_forward": 4, "tokenizer_class": "RobertaTokenizer",
                         "pruned_heads": {"1": [0, 2]}, "torch_dtype": "float16", "sep_token_id": 2,
                         "task_specific_params": {"fill-mask": {"top_k": 3}}}),
        ("legacy_generation", {"max_length": 40, "num_beams": 4, "no_repeat_ngram_size": 3}),
        ("legacy_gradient_checkpointing", {"gradient_checkpointing": True}),
    ]:
        config = transformers.RobertaPreLayerNormConfig(**{**LM_CONFIG, **kwargs})
        config.save_pretrained(folder / name)
        written = json.loads((folder / name / "config.json").read_text())
        written.pop("transformers_version", None)
        saved[name] = {"kwargs": kwargs, "written": written}
    # the generation_config.json a causal LM writes beside config.json, and what a built model keeps
    lm = transformers.RobertaPreLayerNormForCausalLM(transformers.RobertaPreLayerNormConfig(**LM_CONFIG))
    lm.save_pretrained(folder / "lm")
    generation = json.loads((folder / "lm" / "generation_config.json").read_text())
    generation.pop("transformers_version", None)
    legacy = transformers.RobertaPreLayerNormForCausalLM(transformers.RobertaPreLayerNormConfig(
        **LM_CONFIG, gradient_checkpointing=True))
    with_generation = transformers.RobertaPreLayerNormForCausalLM(transformers.RobertaPreLayerNormConfig(
        **LM_CONFIG, max_length=40, num_beams=4, no_repeat_ngram_size=3))
    with_generation.save_pretrained(folder / "lm_generation")
    return {
        "general_defaults": {k: defaults[k] for k in general},
        "generation_defaults": generation_defaults,
        "saved": saved,
        "generation_config_json": generation,
        "generation_config_json_from_legacy": {
            k: v for k, v in json.loads((folder / "lm_generation" / "generation_config.json").read_text()).items()
            if k != "transformers_version"},
        "legacy_gradient_checkpointing": {"enabled": legacy.is_gradient_checkpointing,
                                          "left_in_config": hasattr(legacy.config, "gradient_checkpointing")},
        "can_generate": {name: getattr(transformers, name).can_generate() for name in (
            "RobertaPreLayerNormModel", "RobertaPreLayerNormForCausalLM", "RobertaPreLayerNormForMaskedLM")},
        "loading": loading_cases(transformers, folder / "loading"),
    }


def loading_cases(transformers: Any, folder: Path) -> list[dict[str, Any]]:
    """Loading reports across the base prefix: a key dropped, a foreign key added, a shape changed."""
    from safetensors.torch import load_file, save_file

    config = transformers.RobertaPreLayerNormConfig(**{k: v for k, v in LM_CONFIG.items() if k != "is_decoder"})
    cases = []
    for source in ("RobertaPreLayerNormModel", "RobertaPreLayerNormForMaskedLM"):
        path = folder / source
        getattr(transformers, source)(config).save_pretrained(path)
        state = load_file(str(path / "model.safetensors"))
        prefix = "" if source == "RobertaPreLayerNormModel" else "roberta_prelayernorm."
        edits = {"drop": f"{prefix}LayerNorm.weight", "add": f"{prefix}extra.weight",
                 "resize": f"{prefix}embeddings.word_embeddings.weight"}
        del state[edits["drop"]]
        state[edits["add"]] = torch.zeros(2)
        state[edits["resize"]] = torch.zeros(98, 32)
        save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
        for target in ("RobertaPreLayerNormModel", "RobertaPreLayerNormForMaskedLM",
                       "RobertaPreLayerNormForSequenceClassification"):
            _, info = getattr(transformers, target).from_pretrained(path, output_loading_info=True,
                                                                    ignore_mismatched_sizes=True)
            cases.append({"source": source, "target": target, "edits": edits,
                          "info": {"missing_keys": sorted(info["missing_keys"]),
                                   "unexpected_keys": sorted(info["unexpected_keys"]),
                                   "mismatched_keys": sorted([k, list(a), list(b)]
                                                             for k, a, b in info["mismatched_keys"])}})
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "golden"))
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    import transformers
    from safetensors.torch import save_file

    if transformers.__version__ != TRANSFORMERS_VERSION:
        sys.exit(f"needs transformers=={TRANSFORMERS_VERSION}, found {transformers.__version__}")
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    versions = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}
    header = {"generated_with": versions, "written_by": "tests/reference/make_dropin_golden.py"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tensors: dict[str, torch.Tensor] = {}
    generation = generation_cases(transformers, tensors)
    (out / "dropin_generation.json").write_text(compact_json({**header, **generation}) + "\n", encoding="utf-8")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "dropin_generation.safetensors"))

    with tempfile.TemporaryDirectory() as tmp:
        pruned, pruned_tensors = pruned_case(transformers, Path(tmp))
        shutil.copy(Path(tmp) / "config.json", out / "dropin_pruned_config.json")
        shutil.copy(Path(tmp) / "model.safetensors", out / "dropin_pruned_model.safetensors")
    (out / "dropin_pruned.json").write_text(compact_json({**header, **pruned}) + "\n", encoding="utf-8")
    save_file({k: v.contiguous() for k, v in pruned_tensors.items()}, str(out / "dropin_pruned_io.safetensors"))

    with tempfile.TemporaryDirectory() as tmp:
        configs = config_cases(transformers, Path(tmp))
    (out / "dropin_configs.json").write_text(json.dumps({**header, **configs}, indent=1, sort_keys=True) + "\n",
                                            encoding="utf-8")
    print(f"wrote {out}/dropin_*")


if __name__ == "__main__":
    main()
