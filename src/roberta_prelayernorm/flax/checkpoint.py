"""Weight files as flat Flax parameter dicts (``{"a/b/kernel": array}``) and back.

``flax_model.msgpack`` (and its shards) is ``flax.serialization.to_bytes`` of the nested parameter
dict, as transformers 4.37.2 writes it. PyTorch files (safetensors, read with ``safetensors.numpy``;
``pytorch_model.bin`` through the PyTorch family's reader when torch is installed) are renamed and
transposed by the one table in ``core.layouts.flax``. Finding the files is the core's
(``core.weights.resolve_weights``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

import numpy as np
from flax import serialization
from flax.traverse_util import flatten_dict, unflatten_dict

from ..core.errors import CheckpointError
from ..core.files import parse_size, staging_folder
from ..core.layouts import apply, undo
from ..core.layouts.flax import to_flax, to_pt
from ..core.weights import (
    FLAX_WEIGHTS_INDEX_NAME,
    FLAX_WEIGHTS_NAME,
    is_ignored_unexpected,
    is_weights_file,
    plan_shards,
    shard_file_names,
    shard_index,
    tied_aliases,
)

Flat = dict[str, Any]  # "roberta_prelayernorm/encoder/layer/0/attention/self/query/kernel" → array


def flatten(tree: Mapping[str, Any]) -> Flat:
    """A nested parameter dict → ``{"a/b/c": leaf}``."""
    return flatten_dict(tree, sep="/")


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    return unflatten_dict(dict(flat), sep="/")


# ------------------------------------------------------------------------------------------ reading
def read_msgpack(files: Iterable[str]) -> Flat:
    """All parameters of ``flax_model.msgpack`` files (one file or the shards of an index).

    Raises:
        CheckpointError: If a file is truncated, corrupt or not a parameter tree.
    """
    flat: Flat = {}
    for path in files:
        try:
            with open(path, "rb") as f:
                tree = serialization.msgpack_restore(f.read())
        except Exception as e:  # msgpack raises many types for damaged data
            raise CheckpointError(f"could not read weights file {path}: it is truncated or corrupt "
                                  f"({type(e).__name__}: {str(e)[:200]})") from None
        if not isinstance(tree, dict):
            raise CheckpointError(f"{path} holds a {type(tree).__name__}, not a Flax parameter tree")
        part = flatten(tree)
        bad = next((k for k, v in part.items() if not isinstance(v, np.ndarray)), None)
        if bad is not None:
            raise CheckpointError(f"{path} is not a Flax parameter tree: {bad!r} is a {type(part[bad]).__name__}")
        flat.update(part)
    return flat


def read_pytorch(files: Iterable[str], tie_word_embeddings: bool) -> tuple[Flat, list[str]]:
    """PyTorch weights in the Flax layout, and the PyTorch keys the table cannot place.

    The LM head's aliases are dropped (``core.weights.tied_aliases``): the decoder bias is
    ``lm_head/bias``, and a tied decoder weight is the word embeddings (a Flax tree has no decoder
    kernel then).

    Raises:
        CheckpointError: If a file cannot be read, or is a ``.bin`` while torch is not installed.
    """
    state: dict[str, np.ndarray] = {}
    for path in files:
        state.update(_read_pytorch_file(path))
    if "lm_head.decoder.bias" in state and "lm_head.bias" not in state:
        state["lm_head.bias"] = state["lm_head.decoder.bias"]
    aliases = tied_aliases(True, tie_word_embeddings)
    flat, unplaced = {}, []
    for key, array in state.items():
        if key in aliases or is_ignored_unexpected(key):
            continue
        try:
            name, transform = to_flax(key)
        except KeyError:
            unplaced.append(key)
            continue
        flat[name] = apply(array, transform)
    return flat, unplaced


def _read_pytorch_file(path: str) -> dict[str, np.ndarray]:
    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file

            return load_file(path)
        except Exception as e:
            raise CheckpointError(f"could not read weights file {path}: it is truncated or corrupt "
                                  f"({type(e).__name__}: {str(e)[:200]})") from None
    try:
        import torch
    except ImportError:
        raise CheckpointError(f"{path} is a PyTorch pickle: reading it needs torch (pip install torch), "
                              "or convert it to model.safetensors") from None
    from ..torch.checkpoint import read_weights

    tensors = read_weights([path])
    return {k: (t.float() if t.dtype == torch.bfloat16 else t).numpy() for k, t in tensors.items()}


def to_pytorch(flat: Flat) -> dict[str, np.ndarray]:
    """A flat Flax parameter dict → PyTorch keys and layouts (numpy), for writing a PyTorch checkpoint."""
    state = {}
    for name, array in flat.items():
        key, transform = to_pt(name)
        state[key] = undo(np.asarray(array), transform)
    return state


# ------------------------------------------------------------------------------------------ writing
def save_msgpack(folder: str, flat: Flat, config_json: str, max_shard_size: int | str) -> None:
    """Write ``config.json`` and ``flax_model.msgpack`` (sharded past ``max_shard_size``, with
    ``flax_model.msgpack.index.json``) into ``folder``, all at once (``core.files.staging_folder``).

    Stale Flax weight files of an earlier save are removed; other files (PyTorch weights, a tokenizer) stay.
    """
    arrays = {k: np.asarray(v) for k, v in flat.items()}
    sizes = {k: a.nbytes for k, a in arrays.items()}
    shards = plan_shards(sizes, parse_size(max_shard_size))
    names = shard_file_names(FLAX_WEIGHTS_NAME, len(shards))
    stale = lambda name: is_weights_file(name) and name.startswith("flax_model")  # noqa: E731  (PyTorch files stay)
    with staging_folder(folder, replaces=stale) as staging:
        for name, keys in zip(names, shards):
            with open(os.path.join(staging, name), "wb") as f:
                f.write(serialization.to_bytes(unflatten({k: arrays[k] for k in keys})))
        if len(shards) > 1:
            with open(os.path.join(staging, FLAX_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
                json.dump(shard_index(dict(zip(names, shards)), sum(sizes.values())), f, indent=2, sort_keys=True)
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as f:
            f.write(config_json)
