"""The real fairseq 0.12.2 checkpoint of ``../shared/fixtures`` and variants of it built by the tests.

The variants are made here by hand from the key names of the spec ("fairseq checkpoint layout"),
not through the converter's tables, so that a wrong table shows.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURE = SHARED / "fixtures" / "fairseq-0.12.2"
E = "encoder.sentence_encoder"

needs_fixture = pytest.mark.skipif(not (FIXTURE / "model.pt").is_file(),
                                   reason=f"the fairseq fixture is not at {FIXTURE}")


def load_fixture() -> dict[str, Any]:
    """The fixture checkpoint (its options are an argparse.Namespace: allowed explicitly, as the converter does)."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(FIXTURE / "model.pt", map_location="cpu", weights_only=True)


def outputs() -> dict[str, np.ndarray]:
    return dict(np.load(FIXTURE / "outputs.npz"))


def save_variant(folder: Path, checkpoint: dict[str, Any], dict_lines: list[str] | None = None,
                 name: str = "model.pt") -> Path:
    """Write a checkpoint and (unless ``dict_lines`` is []) a dict.txt into ``folder``; the checkpoint's path."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, folder / name)
    if dict_lines is None:
        shutil.copyfile(FIXTURE / "dict.txt", folder / "dict.txt")
    elif dict_lines:
        (folder / "dict.txt").write_text("".join(line + "\n" for line in dict_lines), encoding="utf-8")
    return folder / name


def model_options(checkpoint: dict[str, Any]) -> argparse.Namespace:
    return checkpoint["cfg"]["model"]


def with_options(checkpoint: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy whose cfg["model"] has ``changes``."""
    out = dict(checkpoint)
    out["cfg"] = dict(checkpoint["cfg"])
    options = copy.copy(model_options(checkpoint))
    for key, value in changes.items():
        setattr(options, key, value)
    out["cfg"]["model"] = options
    return out


def layers(weights: dict[str, torch.Tensor]) -> list[int]:
    return sorted({int(k.split(".")[3]) for k in weights if k.startswith(f"{E}.layers.")})


def deepspeed_variant(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The fixture in DinkyTrain's DeepSpeed-kernel layout: q/k/v fused on dim 0, renamed LayerNorms."""
    weights = checkpoint["model"]
    names = {"self_attn.out_proj.weight": "attn_ow", "self_attn.out_proj.bias": "attn_ob",
             "self_attn_layer_norm.weight": "norm_w", "self_attn_layer_norm.bias": "norm_b",
             "final_layer_norm.weight": "attn_nw", "final_layer_norm.bias": "attn_nb",
             "fc1.weight": "inter_w", "fc1.bias": "inter_b", "fc2.weight": "output_w", "fc2.bias": "output_b"}
    out: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if not key.startswith(f"{E}.layers."):
            out[key] = value
    for i in layers(weights):
        p = f"{E}.layers.{i}"
        for kind, suffix in (("weight", "w"), ("bias", "b")):
            out[f"{p}.attn_qkv{suffix}"] = torch.cat([weights[f"{p}.self_attn.{x}_proj.{kind}"] for x in "qkv"])
        for old, new in names.items():
            out[f"{p}.{new}"] = weights[f"{p}.{old}"]
    variant = with_options(checkpoint, deepspeed_cuda_kernel=True, arch="deepspeed_roberta_base")
    variant["model"] = out
    return variant


def princeton_variant(folder: Path, checkpoint: dict[str, Any], seed: int = 0) -> Path:
    """The fixture as princeton-nlp publishes its models: HF-like, ``roberta.`` prefix, model_type "roberta",
    an unused ``attention.self.LayerNorm`` per layer (random values: it must be dropped)."""
    weights, options = checkpoint["model"], model_options(checkpoint)
    gen = torch.Generator().manual_seed(seed)
    hidden = weights[f"{E}.embed_tokens.weight"].shape[1]
    r = "roberta"
    state = {
        f"{r}.embeddings.word_embeddings.weight": weights[f"{E}.embed_tokens.weight"],
        f"{r}.embeddings.position_embeddings.weight": weights[f"{E}.embed_positions.weight"],
        f"{r}.embeddings.token_type_embeddings.weight": torch.zeros(1, hidden),
        f"{r}.embeddings.LayerNorm.weight": weights[f"{E}.layernorm_embedding.weight"],
        f"{r}.embeddings.LayerNorm.bias": weights[f"{E}.layernorm_embedding.bias"],
        f"{r}.embeddings.position_ids": torch.arange(weights[f"{E}.embed_positions.weight"].shape[0])[None],
        f"{r}.LayerNorm.weight": weights[f"{E}.layer_norm.weight"],
        f"{r}.LayerNorm.bias": weights[f"{E}.layer_norm.bias"],
        "lm_head.dense.weight": weights["encoder.lm_head.dense.weight"],
        "lm_head.dense.bias": weights["encoder.lm_head.dense.bias"],
        "lm_head.layer_norm.weight": weights["encoder.lm_head.layer_norm.weight"],
        "lm_head.layer_norm.bias": weights["encoder.lm_head.layer_norm.bias"],
        "lm_head.bias": weights["encoder.lm_head.bias"],
        "lm_head.decoder.weight": weights["encoder.lm_head.weight"],
        "lm_head.decoder.bias": weights["encoder.lm_head.bias"],
    }
    ours = {"self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
            "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output.dense",
            "self_attn_layer_norm": "attention.LayerNorm", "fc1": "intermediate.dense",
            "final_layer_norm": "intermediate.LayerNorm", "fc2": "output.dense"}
    for i in layers(weights):
        for old, new in ours.items():
            for kind in ("weight", "bias"):
                state[f"{r}.encoder.layer.{i}.{new}.{kind}"] = weights[f"{E}.layers.{i}.{old}.{kind}"]
        state[f"{r}.encoder.layer.{i}.attention.self.LayerNorm.weight"] = torch.randn(hidden, generator=gen)
        state[f"{r}.encoder.layer.{i}.attention.self.LayerNorm.bias"] = torch.randn(hidden, generator=gen)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.clone() for k, v in state.items()}, folder / "pytorch_model.bin")
    config = {
        "architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": hidden, "initializer_range": 0.02,
        "intermediate_size": weights[f"{E}.layers.0.fc1.weight"].shape[0],
        "layer_norm_eps": 1e-05, "max_position_embeddings": options.max_positions + 2,
        "num_attention_heads": options.encoder_attention_heads, "num_hidden_layers": len(layers(weights)),
        "type_vocab_size": 1, "vocab_size": weights[f"{E}.embed_tokens.weight"].shape[0],
        "transformers_version": "4.11.3", "position_embedding_type": "absolute", "use_cache": True,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------- BPE files
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! cécé herlolip, naïve café — déjà vu.",
    "  leading spaces, tabs\tand\nnew lines; 123 + 4567 = 4690?",
    "東京 and Zürich are cities; emoji 🙂 too.",
    "it's they're we've I'm you'll he'd",
]


def gpt2_bpe_files(folder: Path, seed: int = 0) -> tuple[Path, Path, dict[str, int], list[tuple[str, str]]]:
    """``encoder.json`` and ``vocab.bpe`` as fairseq's GPT-2 BPE keeps them, for a small BPE trained on TEXTS.

    GPT-2 ids are scattered (not 0…n) so that a converter that keeps them instead of dict.txt's shows.
    ``<|endoftext|>`` is in encoder.json as in GPT-2's, though the BPE never produces it.
    """
    from roberta_prelayernorm.tokenizer import bpe

    vocab, merges = bpe.train(TEXTS * 4, 300, first_specials=(), mask=None, show_progress=False)
    rng = random.Random(seed)
    ids = rng.sample(range(1000, 5000), len(vocab))
    encoder = {token: gpt2 for token, gpt2 in zip(sorted(vocab, key=vocab.get), ids)}
    encoder["<|endoftext|>"] = 5000
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encoder.json").write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")
    (folder / "vocab.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return folder / "encoder.json", folder / "vocab.bpe", encoder, merges


def dict_for(encoder: dict[str, int], seed: int = 0, leave_out: int = 0) -> list[str]:
    """dict.txt lines for the GPT-2 ids of ``encoder`` (shuffled, as counts would order them), without
    ``<|endoftext|>`` and the last ``leave_out`` tokens."""
    rng = random.Random(seed)
    ids = [i for t, i in encoder.items() if t != "<|endoftext|>"]
    rng.shuffle(ids)
    ids = ids[:len(ids) - leave_out]
    return [f"{i} {1000 - n}" for n, i in enumerate(ids)]


def resized(checkpoint: dict[str, Any], rows: int, seed: int = 0) -> dict[str, Any]:
    """The fixture with a token embedding (and tied LM head) of ``rows`` rows, padding row zero."""
    weights = dict(checkpoint["model"])
    gen = torch.Generator().manual_seed(seed)
    hidden = weights[f"{E}.embed_tokens.weight"].shape[1]
    embedding = torch.randn(rows, hidden, generator=gen)
    embedding[1] = 0
    weights[f"{E}.embed_tokens.weight"] = embedding
    weights["encoder.lm_head.weight"] = embedding
    weights["encoder.lm_head.bias"] = torch.randn(rows, generator=gen)
    out = dict(checkpoint)
    out["model"] = weights
    return out


def fairseq_token_ids(text: str, encoder: dict[str, int], merges: list[tuple[str, str]], dict_lines: list[str]
                      ) -> list[int]:
    """What fairseq feeds the model for ``text``: GPT-2 BPE ids, looked up in dict.txt (4 + line; <unk> = 3)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    gpt2 = Tokenizer(models.BPE(vocab=encoder, merges=merges))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    index = {line.split(" ")[0]: 4 + n for n, line in enumerate(dict_lines)}
    return [0] + [index.get(str(i), 3) for i in gpt2.encode(text).ids] + [2]
