"""fairseq RoBERTa checkpoints (``model.pt``, ``checkpoint_*.pt``): weights, config, dictionary, tokenizer.

A checkpoint is read with ``torch.load(weights_only=True)`` and an allow-list of exactly the Python
objects fairseq pickles besides tensors and plain containers (:data:`ALLOWED_GLOBALS`); a pickle that
needs anything else is refused before any of it runs. The names are the tables of
``core.layouts.fairseq`` (the plain layout and DinkyTrain's DeepSpeed-kernel layout, told apart by
their keys). The config comes from the checkpoint's ``cfg["model"]`` (or the older ``args``) and the
shapes of the weights. fairseq's ids are its dictionary's: ``<s> <pad> </s> <unk>`` = 0…3, line *i* of
``dict.txt`` = 4 + *i*, ``<mask>`` last; a tokenizer is written from fairseq's GPT-2 BPE files
(``encoder.json``, ``vocab.bpe``) with the token ids of that dictionary.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.config import RobertaPreLayerNormConfig
from ..core.errors import CheckpointError
from ..core.files import read_json_object
from ..core.layouts import fairseq as layout
from ..core.layouts import matches, to_pt_state

# What fairseq pickles besides tensors and plain containers: its training options as an
# ``argparse.Namespace`` (``args`` of older checkpoints; ``cfg["model"]`` of the RoBERTa architectures
# in fairseq 0.12, as in the checkpoint of tests/fixtures). Nothing else is ever unpickled.
ALLOWED_GLOBALS: tuple[type, ...] = (argparse.Namespace,)

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq's Dictionary: ids 0, 1, 2, 3
MASK = "<mask>"  # appended by the masked_lm task
E = layout.E
B = layout.B


@dataclass
class FairseqModel:
    """What a fairseq checkpoint converts to: a config and a PyTorch state dict (our names)."""

    config: RobertaPreLayerNormConfig
    state: dict[str, torch.Tensor]
    layout: str  # "fairseq" or "deepspeed"
    symbols: list[str]  # the lines of dict.txt
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading
def load(path: str) -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list; zip checkpoints are memory-mapped.

    Raises:
        CheckpointError: If the file is not a PyTorch checkpoint, or its pickle needs objects outside the
            allow-list (it could run code): nothing of it is unpickled then.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} does not exist" if not os.path.exists(path) else f"{path} is not a file")
    zipped = zipfile.is_zipfile(path)
    try:
        with torch.serialization.safe_globals(list(ALLOWED_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as e:
        refused = refused_globals(path, e, zipped)
        if refused:
            allowed = ", ".join(f"{g.__module__}.{g.__qualname__}" for g in ALLOWED_GLOBALS)
            raise CheckpointError(
                f"refused to unpickle {path}: it needs {', '.join(refused)}, which is not among what fairseq "
                f"checkpoints hold (tensors, plain containers, {allowed}); unpickling arbitrary objects can run "
                "code, so nothing of it was loaded"
            ) from None
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({_short(e)})") from None
    except Exception as e:  # torch.load raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({type(e).__name__}: {_short(e)})") from None


def refused_globals(path: str, error: Exception, zipped: bool) -> list[str]:
    """The objects outside the allow-list that a refused pickle names (empty: refused for another reason)."""
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in ALLOWED_GLOBALS}
    if zipped:
        try:
            return [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]
        except Exception:
            pass
    return re.findall(r"Unsupported global: GLOBAL (\S+)", str(error))


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    found = re.search(r"WeightsUnpickler error: ([^.]*)", text)
    return (found.group(1) if found else text)[:200]


def read(path: str, dict_path: str | None = None) -> FairseqModel:
    """The config and weights (our names) of a fairseq RoBERTa checkpoint, checked against ``dict.txt``.

    Args:
        path: ``model.pt`` or ``checkpoint_*.pt``.
        dict_path: fairseq's ``dict.txt`` (default: the one beside the checkpoint).

    Raises:
        CheckpointError: If the file is not a fairseq RoBERTa checkpoint, is a model this family cannot
            express exactly (post-LN, no embedding LayerNorm, scaled embeddings, another activation, …),
            or the dictionary is missing or does not fit the embedding.
    """
    checkpoint = load(path)
    weights = checkpoint.get("model") if isinstance(checkpoint, Mapping) else None
    if not isinstance(weights, Mapping) or not weights:
        what = f"a {type(checkpoint).__name__}" if not isinstance(checkpoint, Mapping) else \
            f"a dict with the keys {', '.join(map(str, list(checkpoint)[:6]))}"
        raise CheckpointError(f"{path} is not a fairseq checkpoint: it holds {what}, not a dict with the weights "
                              "under 'model' and the options under 'cfg' or 'args'")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise CheckpointError(f"{path} is not a fairseq checkpoint: its 'model' entry is not a state dict of tensors")
    if not any(k.startswith(E + ".") for k in weights):
        if any(k.startswith("decoder.sentence_encoder.") for k in weights):
            raise CheckpointError(f"{path} is a checkpoint of fairseq < 0.10 (decoder.sentence_encoder.*): load and "
                                  "save it once with a newer fairseq first")
        raise CheckpointError(f"{path} is a fairseq checkpoint but not of a RoBERTa encoder: it has no "
                              f"{E}.* weights (first keys: {', '.join(list(weights)[:3])})")
    options = _options(checkpoint, path)
    _check_architecture(path, weights, options)

    deepspeed = any(k.endswith(".attn_qkvw") for k in weights)
    table = layout.DEEPSPEED if deepspeed else layout.FAIRSEQ
    try:
        state, unmatched = to_pt_state(table, weights, ignore=layout.IGNORED)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    heads = [k for k in unmatched if matches(layout.CLASSIFICATION_HEADS, k)]
    unknown = [k for k in unmatched if k not in heads]
    if unknown:
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise CheckpointError(f"{path} has weights that a RoBERTa-PreLayerNorm model does not have: "
                              f"{', '.join(unknown[:5])}{more}")
    result = FairseqModel(_config(path, state, options), state, "deepspeed" if deepspeed else "fairseq", [])
    names = sorted({k.split(".")[2] for k in heads})
    if heads:
        result.dropped += heads
        result.notes.append(f"dropped the classification head(s) {', '.join(names)}: the masked LM is written")
    ignored = [k for k in weights if any(matches(p, k) for p in layout.IGNORED)]
    if ignored:
        result.dropped += ignored
        result.notes.append(f"left out {len(ignored)} tensors that are not weights of the model (fairseq's "
                            "fast-path copies and state version)")
    _tie(path, result)
    embedding = state[f"{B}.embeddings.word_embeddings.weight"]
    state[f"{B}.embeddings.token_type_embeddings.weight"] = torch.zeros(1, embedding.shape[1], dtype=embedding.dtype)

    dict_path = dict_path or os.path.join(os.path.dirname(os.path.abspath(path)), "dict.txt")
    if not os.path.isfile(dict_path):
        raise CheckpointError(f"no fairseq dictionary: {dict_path} does not exist; pass the dict.txt the model "
                              "was trained with (--dict)")
    result.symbols = read_dictionary(dict_path)
    rows = dictionary_size(result.symbols)
    if rows != embedding.shape[0]:
        raise CheckpointError(
            f"{dict_path} has {len(result.symbols)} symbols, so fairseq's dictionary has {rows} ids (<s> <pad> </s> "
            f"<unk>, the symbols, <mask>), but the checkpoint's token embedding has {embedding.shape[0]} rows: pass "
            "the dict.txt the model was trained with (--dict)"
        )
    return result


def _options(checkpoint: Mapping[str, Any], path: str) -> Any:
    """The model options: ``cfg["model"]`` (fairseq ≥ 0.10), else ``args`` (a Namespace or a dict)."""
    cfg = checkpoint.get("cfg")
    model = cfg.get("model") if isinstance(cfg, Mapping) else getattr(cfg, "model", None)
    options = model if model is not None else checkpoint.get("args")
    if not isinstance(options, (argparse.Namespace, Mapping)):
        raise CheckpointError(f"{path} has neither cfg['model'] nor args: the model's options (attention heads, "
                              "LayerNorm placement) cannot be known")
    return options


def option(options: Any, name: str, default: Any = None) -> Any:
    """An option by its flat name (``encoder_normalize_before``), or nested (``encoder.normalize_before``)."""
    def get(holder: Any, key: str) -> Any:
        return holder.get(key) if isinstance(holder, Mapping) else getattr(holder, key, None)

    value = get(options, name)
    if value is None and name.startswith("encoder_"):
        encoder = get(options, "encoder")
        value = get(encoder, name[len("encoder_"):]) if encoder is not None else None
    return default if value is None else value


def _check_architecture(path: str, weights: Mapping[str, torch.Tensor], options: Any) -> None:
    """Refuse what RoBERTa-PreLayerNorm cannot compute exactly, naming the option."""
    if not option(options, "encoder_normalize_before", False) or f"{E}.layer_norm.weight" not in weights:
        raise CheckpointError(f"{path} is a post-LN model (encoder_normalize_before is false): RoBERTa-PreLayerNorm "
                              "normalises before each block, so it cannot express it; convert it as a RoBERTa model")
    if not option(options, "layernorm_embedding", True) or f"{E}.layernorm_embedding.weight" not in weights:
        raise CheckpointError(f"{path} has no embedding LayerNorm (layernorm_embedding is false): "
                              "RoBERTa-PreLayerNorm always normalises the embeddings, so it cannot express this model")
    if not option(options, "no_scale_embedding", True):
        raise CheckpointError(f"{path} scales the token embeddings by sqrt(dim) (no_scale_embedding is false), "
                              "which RoBERTa-PreLayerNorm does not do")
    if (option(options, "no_token_positional_embeddings", False) or not option(options, "encoder_learned_pos", True)
            or f"{E}.embed_positions.weight" not in weights):
        raise CheckpointError(f"{path} has no learned position embeddings (encoder_learned_pos is false or "
                              "no_token_positional_embeddings is true), which RoBERTa-PreLayerNorm needs")
    activation = option(options, "activation_fn", "gelu")
    if activation != "gelu":
        raise CheckpointError(f"{path} uses activation_fn={activation!r}; fairseq applies it in the LM head too, "
                              "whose activation is always the exact GELU here: only 'gelu' converts exactly")
    heads = option(options, "encoder_attention_heads")
    if not isinstance(heads, int) or heads < 1:
        raise CheckpointError(f"{path}: its options do not say the number of attention heads "
                              "(encoder_attention_heads)")


def _config(path: str, state: dict[str, torch.Tensor], options: Any) -> RobertaPreLayerNormConfig:
    """The config from the options and the shapes of the weights."""
    embedding = state[f"{B}.embeddings.word_embeddings.weight"]
    layers = sorted({int(m.group(1)) for k in state if (m := re.match(rf"{B}\.encoder\.layer\.(\d+)\.", k))})
    if not layers or layers != list(range(len(layers))):
        raise CheckpointError(f"{path}: the encoder layers are not numbered 0, 1, …: found {layers[:8]}")
    first = f"{B}.encoder.layer.0"
    needed = [f"{first}.attention.self.query.weight", f"{first}.intermediate.dense.weight"]
    if any(k not in state for k in needed):
        raise CheckpointError(f"{path}: layer 0 lacks {', '.join(k for k in needed if k not in state)}")
    heads = option(options, "encoder_attention_heads")
    hidden = embedding.shape[1]
    positions = state[f"{B}.embeddings.position_embeddings.weight"].shape[0]
    max_positions = option(options, "max_positions")
    if isinstance(max_positions, int) and positions != max_positions + 2:
        raise CheckpointError(f"{path}: max_positions is {max_positions}, so the position table should have "
                              f"{max_positions + 2} rows, but it has {positions}")
    try:
        return RobertaPreLayerNormConfig(
            vocab_size=embedding.shape[0], hidden_size=hidden, num_hidden_layers=len(layers),
            num_attention_heads=heads, intermediate_size=state[needed[1]].shape[0], hidden_act="gelu",
            hidden_dropout_prob=float(option(options, "dropout", 0.1)),
            attention_probs_dropout_prob=float(option(options, "attention_dropout", 0.1)),
            max_position_embeddings=positions, type_vocab_size=1, layer_norm_eps=1e-5,
            pad_token_id=1, bos_token_id=0, eos_token_id=2,
            tie_word_embeddings=not option(options, "untie_weights_roberta", False),
            architectures=["RobertaPreLayerNormForMaskedLM"], torch_dtype=str(embedding.dtype).removeprefix("torch."),
        )
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None


def _tie(path: str, result: FairseqModel) -> None:
    """The LM head's output weight: the token embedding (checked), or its own when untied."""
    state = result.state
    decoder = state.pop("lm_head.decoder.weight", None)
    embedding = state[f"{B}.embeddings.word_embeddings.weight"]
    if not result.config.tie_word_embeddings:
        if decoder is None:
            raise CheckpointError(f"{path} unties the LM head (untie_weights_roberta) but has no "
                                  "encoder.lm_head.weight")
        state["lm_head.decoder.weight"] = decoder
    elif decoder is not None and not torch.equal(decoder, embedding):
        raise CheckpointError(f"{path}: encoder.lm_head.weight differs from the token embedding although the "
                              "options tie them (untie_weights_roberta is false)")


# --------------------------------------------------------------------------------------- dictionary
def read_dictionary(path: str) -> list[str]:
    """The symbols of a fairseq ``dict.txt`` (``<symbol> <count>`` a line, optionally ``#fairseq:overwrite``).

    Raises:
        CheckpointError: For a line that is not ``<symbol> <count>``, or a repeated symbol without
            ``#fairseq:overwrite`` (fairseq refuses both).
    """
    symbols: list[str] = []
    seen: set[str] = set()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read the dictionary {path}: {e}") from None
    for number, line in enumerate(lines, 1):
        parts = line.rstrip().rsplit(" ", 1)
        overwrite = len(parts) == 2 and parts[1] == "#fairseq:overwrite"
        if overwrite:
            parts = parts[0].rsplit(" ", 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise CheckpointError(f"{path}, line {number}: expected '<symbol> <count>', got {line[:60]!r}")
        symbol = parts[0]
        if symbol in seen and not overwrite:
            raise CheckpointError(f"{path}, line {number}: the symbol {symbol!r} appears twice (fairseq needs "
                                  "'#fairseq:overwrite' for that)")
        seen.add(symbol)
        symbols.append(symbol)
    return symbols


def dictionary_size(symbols: list[str]) -> int:
    """fairseq's number of ids: the four specials, the symbols, and ``<mask>`` unless dict.txt has it."""
    return len(SPECIALS) + len(symbols) + (MASK not in symbols)


def dictionary_ids(symbols: list[str]) -> dict[str, int]:
    """Symbol → id as fairseq's Dictionary assigns them (a symbol given again takes its later id)."""
    ids = {s: i for i, s in enumerate(SPECIALS)}
    ids.update({s: len(SPECIALS) + i for i, s in enumerate(symbols)})
    ids.setdefault(MASK, len(SPECIALS) + len(symbols))
    return ids


# ---------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(symbols: list[str], encoder_json: str, vocab_bpe: str, model_max_length: int
                    ) -> tuple[Any, str | None]:
    """A ``RobertaTokenizer`` from fairseq's GPT-2 BPE files, with the ids of ``dict.txt``; or None and why.

    fairseq encodes text with GPT-2's BPE (``encoder.json`` maps each token to its GPT-2 id,
    ``vocab.bpe`` holds the merges) and then looks the GPT-2 id up in ``dict.txt``, whose symbols are
    those ids as text. So token → fairseq id is token → GPT-2 id → line of dict.txt + 4. A token that
    the BPE can produce but dict.txt lacks would be ``<unk>`` in fairseq, which a Hugging Face BPE
    vocabulary (one id per token) cannot express: no tokenizer is made then.

    Raises:
        CheckpointError: If the BPE files cannot be read.
    """
    from tokenizers import pre_tokenizers

    from ..tokenizer import RobertaTokenizer, bpe
    from ..tokenizer.files import read_merges

    try:
        encoder = read_json_object(encoder_json, "GPT-2 BPE vocabulary (encoder.json)")
        merges = read_merges(vocab_bpe)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read the BPE files: {e}") from None
    by_gpt2_id: dict[int, str] = {}
    for token, index in encoder.items():
        if not isinstance(index, int):
            raise CheckpointError(f"{encoder_json} maps {token!r} to {index!r}, not to an id")
        by_gpt2_id[index] = token
    vocab: dict[str, int] = {}
    for symbol, index in dictionary_ids(symbols).items():
        token = by_gpt2_id.get(int(symbol)) if re.fullmatch(r"[0-9]+", symbol) else symbol
        if token is not None:  # a number that is no GPT-2 id leaves its id without a token
            vocab[token] = index
    needed = set(pre_tokenizers.ByteLevel.alphabet()) | {a + b for a, b in merges} | {t for m in merges for t in m}
    missing = sorted(t for t in needed if t not in vocab)
    if missing:
        return None, (f"no tokenizer written: {len(missing)} tokens that the BPE of {os.path.basename(vocab_bpe)} "
                      f"can produce are not in dict.txt (e.g. {', '.join(map(repr, missing[:3]))}); fairseq maps them "
                      "to <unk>, which a Hugging Face BPE vocabulary cannot express")
    tokenizer = RobertaTokenizer(tokenizer_object=bpe.pipeline(vocab, merges), model_max_length=model_max_length)
    return tokenizer, None
