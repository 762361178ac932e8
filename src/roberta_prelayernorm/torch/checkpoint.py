"""PyTorch weight files: reading safetensors / ``pytorch_model.bin`` and writing safetensors atomically.

Finding the files is the core's (``core.hub``, ``core.weights``); this module only turns them into
tensors and back.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterable

import torch

from ..core.errors import CheckpointError
from ..core.files import parse_size, staging_folder
from ..core.weights import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, is_weights_file, plan_shards, shard_file_names, shard_index


def read_weights(files: Iterable[str]) -> dict[str, torch.Tensor]:
    """All tensors of the given safetensors / PyTorch files (``torch.load(weights_only=True)`` only).

    Raises:
        CheckpointError: If a file is truncated, corrupt or not a weights file.
    """
    state: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            if path.endswith(".safetensors"):
                from safetensors.torch import load_file

                part = load_file(path)
            else:
                part = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
        except Exception as e:  # safetensors and pickle raise many types for a damaged file
            refused = unsafe_pickle(e)
            if refused is not None:
                raise CheckpointError(
                    f"refused to load {path} as unsafe: it is a pickle that asks to run code ({refused}), not "
                    f"only to rebuild tensors; this library never unpickles such objects. Get the weights as "
                    f"model.safetensors from a source you trust"
                ) from None
            raise CheckpointError(f"could not read weights file {path}: it is truncated or corrupt "
                                  f"({type(e).__name__}: {str(e)[:200]})") from None
        if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise CheckpointError(f"{path} is not a state dict of tensors")
        state.update(part)
    return state


def unsafe_pickle(error: BaseException) -> str | None:
    """What a ``weights_only`` load refused (``"GLOBAL posix.system"``), or None for other errors.

    Only the refused name is kept from torch's message, never its advice to load the file unsafely.
    """
    import pickle

    text = str(error)
    if not isinstance(error, pickle.UnpicklingError) or "Weights only load failed" not in text:
        return None
    match = re.search(r"unsupported (GLOBAL [\w.<>]+|\w+ opcode|[\w ]+?)(?: whose|\.|\n|$)", text, re.IGNORECASE)
    return match.group(1) if match else "objects other than tensors"


def save_weights(folder: str, state: dict[str, torch.Tensor], config_json: str, max_shard_size: int | str, *,
                 extra_files: dict[str, str] | None = None) -> None:
    """Write ``config.json``, safetensors weights (sharded past ``max_shard_size``) and ``extra_files``
    (name → text, such as ``generation_config.json``) into ``folder``.

    Everything is staged beside ``folder`` and moved in at once (``core.files.staging_folder``), so a
    failure (full disk, interrupt) leaves ``folder`` as it was. Stale weight files of an earlier save
    (PyTorch files only) are removed; other files in ``folder`` (a tokenizer, TF or Flax weights) are kept.
    """
    from safetensors.torch import save_file

    sizes = {k: t.numel() * t.element_size() for k, t in state.items()}
    shards = plan_shards(sizes, parse_size(max_shard_size))
    names = shard_file_names(SAFE_WEIGHTS_NAME, len(shards))
    with staging_folder(folder, replaces=lambda name: is_weights_file(name, "pt")) as staging:
        seen: set[int] = set()
        for name, keys in zip(names, shards):
            save_file({k: standalone(state[k], seen) for k in keys}, os.path.join(staging, name),
                      metadata={"format": "pt"})
        if len(shards) > 1:
            with open(os.path.join(staging, SAFE_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
                json.dump(shard_index(dict(zip(names, shards)), sum(sizes.values())), f, indent=2, sort_keys=True)
        for name, text in {"config.json": config_json, **(extra_files or {})}.items():
            with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
                f.write(text)


def standalone(tensor: torch.Tensor, seen: set[int]) -> torch.Tensor:
    """A contiguous tensor that owns its storage: views into a larger storage and tensors whose storage
    was already written (``seen``) are copied, as safetensors requires."""
    tensor = tensor.detach().contiguous()
    storage = tensor.untyped_storage()
    if storage.data_ptr() in seen or storage.nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    seen.add(tensor.untyped_storage().data_ptr())
    return tensor
