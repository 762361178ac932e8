"""TF weight files as named numpy arrays: ``tf_model.h5`` (read and written with h5py) and PyTorch checkpoints.

Names are variable paths without the model's own first component and without ``:0``
(``roberta_prelayernorm/encoder/layer_._0/attention/self/query/kernel``).

Two HDF5 layouts exist, both written by transformers 4.37.2's ``save_pretrained``:

- one file (Keras 2's ``save_weights``): the root attribute ``layer_names`` lists the model's top-level
  layers; each is a group whose attribute ``weight_names`` lists full variable names
  (``tf_roberta_pre_layer_norm_for_masked_lm/roberta_prelayernorm/…/kernel:0``), each a dataset at that
  path inside the group. The tied LM head's group lists the embeddings' weights again.
- shards (``tf_model-00001-of-00002.h5`` + ``tf_model.h5.index.json``): ``layer_names`` lists the weights
  themselves, each a dataset at its name without the model's component.

An attribute larger than HDF5's 64 KB header limit is split into ``name0``, ``name1``, … as Keras does.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterable, Mapping

import numpy as np

from ..core.errors import CheckpointError
from ..core.files import parse_size, staging_folder
from ..core.layouts import apply, to_foreign, to_pt
from ..core.layouts.tf import TABLE
from ..core.weights import (
    BASE_PREFIX,
    TF_WEIGHTS_INDEX_NAME,
    TF_WEIGHTS_NAME,
    is_ignored_unexpected,
    is_weights_file,
    plan_shards,
    shard_file_names,
    shard_index,
)

HDF5_OBJECT_HEADER_LIMIT = 64512  # bytes: larger attributes are split, as Keras 2 does


def to_snake_case(name: str) -> str:
    """``TFRobertaPreLayerNormForMaskedLM`` → ``tf_roberta_pre_layer_norm_for_masked_lm`` (Keras 2's layer names)."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def strip_name(name: str, *, first_component: bool) -> str:
    """A stored weight name → our name: without ``:0`` and, for full variable names, the model's component."""
    name = name.removesuffix(":0")
    return name.split("/", 1)[1] if first_component and "/" in name else name


# ---------------------------------------------------------------------------------------------- reading
def read_h5(files: Iterable[str]) -> dict[str, np.ndarray]:
    """All weights of ``tf_model.h5`` files (one file, or the shards of an index), by name.

    Raises:
        CheckpointError: If a file is truncated, corrupt, or not in the layout above.
    """
    import h5py

    weights: dict[str, np.ndarray] = {}
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                layer_names = read_names(f, "layer_names")
                if layer_names is None:
                    raise CheckpointError(f"{path} is not a TF weights file in the Keras HDF5 layout of "
                                          "tf_model.h5: it has no 'layer_names' attribute")
                for layer in layer_names:
                    node = f[layer]
                    if isinstance(node, h5py.Dataset):  # a shard: the names are the weights' own
                        weights.setdefault(strip_name(layer, first_component=False), np.asarray(node))
                        continue
                    for weight_name in read_names(node, "weight_names") or []:
                        weights.setdefault(strip_name(weight_name, first_component=True), np.asarray(node[weight_name]))
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # h5py's errors for damaged files
            raise CheckpointError(f"could not read weights file {path}: it is truncated, corrupt or not an HDF5 "
                                  f"weights file ({type(e).__name__}: {str(e)[:200]})") from None
    return weights


def read_names(group: object, name: str) -> list[str] | None:
    """A list-of-strings attribute, joined from its chunks ``name0``, ``name1``, … if it was split."""
    attrs = group.attrs  # type: ignore[attr-defined]
    if name in attrs:
        chunks = [attrs[name]]
    elif f"{name}0" in attrs:
        chunks, i = [], 0
        while f"{name}{i}" in attrs:
            chunks.append(attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for chunk in chunks for n in np.atleast_1d(chunk)]


def read_pt(files: Iterable[str], tie_word_embeddings: bool) -> tuple[dict[str, np.ndarray], list[str]]:
    """A PyTorch checkpoint (safetensors, sharded or ``pytorch_model.bin``) as TF names and arrays, through
    the layout table; returns ``(weights, keys the table does not know)``."""
    from ..torch.checkpoint import read_weights

    state = read_weights(files)
    weights: dict[str, np.ndarray] = {}
    unknown = []
    for key, tensor in state.items():
        if is_ignored_unexpected(key):
            continue
        if key == "lm_head.decoder.bias" and "lm_head.bias" in state:
            continue  # the same tensor as lm_head.bias
        if key == "lm_head.decoder.weight" and tie_word_embeddings:
            continue  # tied: the word embeddings
        try:
            name, transform = pt_to_tf(key)
        except KeyError:
            unknown.append(key)
            continue
        array = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
        weights[name] = apply(array, transform)
    return weights, unknown


def pt_to_tf(key: str) -> tuple[str, str]:
    """``(TF name, transform)`` of a PyTorch key, keeping its base prefix (or the lack of it)."""
    head = BASE_PREFIX + "."
    if key.startswith(head):
        name, transform = to_foreign(TABLE, key[len(head):])
        return f"{BASE_PREFIX}/{name}", transform
    return to_foreign(TABLE, key)


def tf_to_pt(name: str) -> tuple[str, str]:
    """``(PyTorch key, transform to undo)`` of a TF name, keeping its base prefix (or the lack of it)."""
    head = BASE_PREFIX + "/"
    if name.startswith(head):
        key, transform = to_pt(TABLE, name[len(head):])
        return f"{BASE_PREFIX}.{key}", transform
    return to_pt(TABLE, name)


# ---------------------------------------------------------------------------------------------- writing
def save_h5(folder: str, weights: Mapping[str, np.ndarray], model_name: str, config_json: str,
            max_shard_size: int | str, *, tied_group: Mapping[str, list[str]] | None = None,
            keras_version: str = "") -> None:
    """Write ``config.json`` and ``tf_model.h5`` (or shards and their index past ``max_shard_size``).

    ``weights`` are in the model's order; ``tied_group`` adds, per top-level layer, names of weights it
    shares (the tied LM head lists the embeddings, as the reference's file does). Everything is staged
    and moved in at once (``core.files.staging_folder``): a failure leaves ``folder`` as it was.
    """
    import h5py

    sizes = {k: int(np.asarray(v).nbytes) for k, v in weights.items()}
    shards = plan_shards(sizes, parse_size(max_shard_size))
    names = shard_file_names(TF_WEIGHTS_NAME, len(shards))
    with staging_folder(folder, replaces=is_weights_file) as staging:
        if len(shards) == 1:
            groups: dict[str, list[str]] = {}
            for key in weights:
                groups.setdefault(key.split("/", 1)[0], []).append(key)
            for layer, shared in (tied_group or {}).items():
                groups.setdefault(layer, []).extend(k for k in shared if k not in groups[layer])
            with h5py.File(os.path.join(staging, TF_WEIGHTS_NAME), "w") as f:
                write_names(f, "layer_names", list(groups))
                f.attrs["backend"] = "tensorflow".encode("utf-8")
                f.attrs["keras_version"] = keras_version.encode("utf-8")
                for layer, keys in groups.items():
                    group = f.create_group(layer)
                    full = [f"{model_name}/{key}:0" for key in keys]
                    write_names(group, "weight_names", full)
                    for name, key in zip(full, keys):
                        group.create_dataset(name, data=np.asarray(weights[key]))
        else:
            for name, keys in zip(names, shards):
                with h5py.File(os.path.join(staging, name), "w") as f:
                    stored = [f"{key}:0" for key in sorted(keys)]
                    write_names(f, "layer_names", stored)
                    for stored_name, key in zip(stored, sorted(keys)):
                        f.create_dataset(stored_name, data=np.asarray(weights[key]))
            index = shard_index({name: [f"{model_name}/{k}:0" for k in keys] for name, keys in zip(names, shards)},
                                sum(sizes.values()))
            with open(os.path.join(staging, TF_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
                json.dump(index, f, indent=2, sort_keys=True)
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as f:
            f.write(config_json)


def write_names(group: object, name: str, names: list[str]) -> None:
    """A list-of-strings attribute, split into ``name0``, ``name1``, … past the header limit (as Keras 2)."""
    data = np.array([n.encode("utf-8") for n in names]) if names else np.array([], dtype="S1")
    chunks = 1
    parts = np.array_split(data, chunks)
    while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    attrs = group.attrs  # type: ignore[attr-defined]
    if chunks == 1:
        attrs[name] = data
    else:
        for i, part in enumerate(parts):
            attrs[f"{name}{i}"] = part
