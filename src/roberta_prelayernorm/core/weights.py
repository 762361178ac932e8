"""Checkpoint files and weight names in the Hugging Face layout, shared by every framework.

Module names equal the checkpoint keys, so the only key surgery for Hugging Face files is the
``roberta_prelayernorm.`` prefix between a bare model and a model with a head (``match_prefix``) and the
tied LM-head aliases (``tied_aliases``). Foreign layouts (TensorFlow, Flax, fairseq) are one declarative
table each in ``core.layouts``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable, Mapping, Sequence

from .errors import CheckpointError
from .hub import HubOptions, resolve_file

BASE_PREFIX = "roberta_prelayernorm"

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TORCH_WEIGHTS_NAME = "pytorch_model.bin"
TORCH_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
TF_WEIGHTS_NAME = "tf_model.h5"
TF_WEIGHTS_INDEX_NAME = "tf_model.h5.index.json"
FLAX_WEIGHTS_NAME = "flax_model.msgpack"
FLAX_WEIGHTS_INDEX_NAME = "flax_model.msgpack.index.json"

# the weight files of each format, in the order they are looked for
WEIGHTS_FILES: dict[str, tuple[str, ...]] = {
    "pt": (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, TORCH_WEIGHTS_NAME, TORCH_WEIGHTS_INDEX_NAME),
    "tf": (TF_WEIGHTS_NAME, TF_WEIGHTS_INDEX_NAME),
    "flax": (FLAX_WEIGHTS_NAME, FLAX_WEIGHTS_INDEX_NAME),
}
SHARD_NAME = re.compile(r"(model|pytorch_model|tf_model|flax_model)-\d+-of-\d+\.(safetensors|bin|h5|msgpack)")

# keys that older checkpoints carry and that mean nothing to the model
IGNORED_UNEXPECTED = (re.compile(r"(^|\.)embeddings\.position_ids$"),)


SHARD_PREFIXES = {"pt": ("model", "pytorch_model"), "tf": ("tf_model",), "flax": ("flax_model",)}


def is_weights_file(name: str, fmt: str | None = None) -> bool:
    """A file name that a save writes (a single file, an index or a shard), of format ``fmt`` or of any."""
    formats = [fmt] if fmt is not None else list(WEIGHTS_FILES)
    if any(name in WEIGHTS_FILES[f] for f in formats):
        return True
    match = SHARD_NAME.fullmatch(name)
    return bool(match) and any(match.group(1) in SHARD_PREFIXES[f] for f in formats)


def resolve_weights(path_or_repo: str | os.PathLike, hub: HubOptions | None = None,
                    formats: Sequence[str] = ("pt",)) -> tuple[str, list[str]]:
    """``(format, files)``: the weight files of the first of ``formats`` the checkpoint has; shards expanded.

    Raises:
        CheckpointError: If there is no weights file of those formats, or a shard index is invalid or
            points outside the checkpoint's folder.
    """
    for fmt in formats:
        for name in WEIGHTS_FILES[fmt]:
            found = resolve_file(path_or_repo, name, hub, required=False)
            if found is None:
                continue
            if not name.endswith(".index.json"):
                return fmt, [found]
            shards = shard_names(found)
            return fmt, [resolve_file(path_or_repo, shard, hub) for shard in shards]  # type: ignore[misc]
    looked = ", ".join(n for fmt in formats for n in WEIGHTS_FILES[fmt])
    raise CheckpointError(f"{os.fspath(path_or_repo)} has no weights: looked for {looked}")


def shard_names(index_file: str) -> list[str]:
    """The shard files named by a ``*.index.json``, each a plain name inside the index's folder.

    Raises:
        CheckpointError: If the index is not valid JSON with a ``weight_map``, or names a path outside the
            folder (``../x.safetensors``, an absolute path).
    """
    try:
        with open(index_file, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{index_file} is not a valid shard index ({type(e).__name__}: {e})") from None
    for shard in shards:
        if not isinstance(shard, str) or os.path.isabs(shard) or ".." in shard.replace("\\", "/").split("/"):
            raise CheckpointError(f"{index_file} names the shard {shard!r}, which is outside the checkpoint's "
                                  "folder: refused")
    return shards


def shard_index(shards: Mapping[str, Iterable[str]], total_size: int) -> dict[str, Any]:
    """The ``*.index.json`` content for ``{file name: keys}``."""
    return {"metadata": {"total_size": total_size},
            "weight_map": {key: name for name, keys in shards.items() for key in keys}}


def shard_file_names(single: str, count: int) -> list[str]:
    """``model.safetensors`` → ``model-00001-of-00003.safetensors``, … (one name when ``count`` is 1)."""
    if count == 1:
        return [single]
    stem, ext = single.split(".", 1)
    return [f"{stem}-{i:05d}-of-{count:05d}.{ext}" for i in range(1, count + 1)]


def plan_shards(sizes: Mapping[str, int], max_shard_size: int) -> list[list[str]]:
    """Split keys (in order) into consecutive shards of at most ``max_shard_size`` bytes (a bigger tensor
    gets its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for key, nbytes in sizes.items():
        if shards[-1] and size + nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def match_prefix(keys: Iterable[str], model_keys: Iterable[str], prefix: str = BASE_PREFIX,
                 sep: str = ".") -> dict[str, str]:
    """``{checkpoint key: model key}``, adding or stripping ``prefix`` so that a bare model's weights load
    into a head model and back. ``sep`` is the path separator of the layout ("." or "/")."""
    keys, model_keys = list(keys), set(model_keys)
    head = prefix + sep
    has_prefix = any(k.startswith(head) for k in keys)
    model_has_prefix = any(k.startswith(head) for k in model_keys)
    if has_prefix and not model_has_prefix:
        return {k: k[len(head):] if k.startswith(head) else k for k in keys}
    if model_has_prefix and not has_prefix:
        base_keys = {k[len(head):] for k in model_keys if k.startswith(head)}
        return {k: head + k if k in base_keys else k for k in keys}
    return {k: k for k in keys}


def tied_aliases(has_lm_head: bool, tie_word_embeddings: bool, prefix: str = BASE_PREFIX) -> dict[str, str]:
    """State-dict keys that are aliases of another key (``lm_head.decoder.weight`` → the embeddings)."""
    aliases = {}
    if has_lm_head:
        aliases["lm_head.decoder.bias"] = "lm_head.bias"
        if tie_word_embeddings:
            aliases["lm_head.decoder.weight"] = f"{prefix}.embeddings.word_embeddings.weight"
    return aliases


def is_ignored_unexpected(key: str) -> bool:
    return any(p.search(key) for p in IGNORED_UNEXPECTED)
