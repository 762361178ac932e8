"""Checkpoint files: finding them (folder or hub), reading them, writing them atomically.

Hugging Face checkpoints need no renaming here: module names equal the keys. The only key surgery is
the ``roberta_prelayernorm.`` prefix between a bare model and a model with a head (see ``match_prefix``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TORCH_WEIGHTS_NAME = "pytorch_model.bin"
TORCH_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHTS_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, TORCH_WEIGHTS_NAME, TORCH_WEIGHTS_INDEX_NAME)

# keys that older checkpoints carry and that mean nothing to the model
IGNORED_UNEXPECTED = (re.compile(r"(^|\.)embeddings\.position_ids$"),)


class CheckpointError(OSError):
    """A checkpoint could not be found, read or matched to the model (catch as ``OSError``)."""


class CheckpointShapeError(CheckpointError, ValueError):
    """Checkpoint tensors whose shapes do not fit the model's config (also a ``ValueError``)."""


@dataclass
class LoadingInfo:
    """What ``load_state_dict_into`` did not match; returned by ``from_pretrained(output_loading_info=True)``."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    error_msgs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {"missing_keys": self.missing_keys, "unexpected_keys": self.unexpected_keys,
                "mismatched_keys": self.mismatched_keys, "error_msgs": self.error_msgs}


# ------------------------------------------------------------------------------------------ locating
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def is_local(path: str) -> bool:
    """A string names a local path if it exists or if it cannot be a hub id (``name`` or ``org/name``)."""
    return os.path.exists(path) or not HUB_ID.fullmatch(path)


def resolve_file(
    path_or_repo: str,
    filename: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    required: bool = True,
) -> str | None:
    """The local path of ``filename`` in a folder or a hub repo (downloaded or from the cache).

    Returns None when the file does not exist and ``required`` is False.

    Raises:
        CheckpointError: If the folder or repo cannot be read, or a required file is absent.
    """
    if os.path.isdir(path_or_repo):
        candidate = os.path.join(path_or_repo, filename)
        if os.path.isfile(candidate):
            return candidate
        if required:
            raise CheckpointError(f"{path_or_repo} has no {filename}")
        return None
    if is_local(path_or_repo):
        what = "is not a folder" if os.path.exists(path_or_repo) else "does not exist"
        raise CheckpointError(f"{path_or_repo} {what}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return hf_hub_download(path_or_repo, filename, cache_dir=cache_dir, revision=revision,
                               local_files_only=local_files_only, token=token)
    except HFValidationError:
        raise CheckpointError(f"{path_or_repo!r} is neither a local folder nor a valid hub id") from None
    except LocalEntryNotFoundError:  # a subclass of EntryNotFoundError: first
        # offline (HF_HUB_OFFLINE / local_files_only / no network) and not in the cache
        if not required and _cached_repo_exists(path_or_repo, cache_dir, revision):
            return None
        raise CheckpointError(
            f"{path_or_repo} is not a local folder, and {filename} of hub repo {path_or_repo} is not in the "
            f"cache while the hub cannot be reached (offline mode or no network)"
        ) from None
    except EntryNotFoundError:
        if required:
            raise CheckpointError(f"hub repo {path_or_repo} has no {filename}") from None
        return None
    except RepositoryNotFoundError:
        raise CheckpointError(f"no hub repo {path_or_repo!r} (or it is private: pass token=...)") from None
    except RevisionNotFoundError:
        raise CheckpointError(f"hub repo {path_or_repo} has no revision {revision!r}") from None
    except OSError as e:  # network errors are OSErrors already
        raise CheckpointError(f"could not fetch {filename} of {path_or_repo}: {e}") from None


def _cached_repo_exists(repo_id: str, cache_dir: str | os.PathLike | None, revision: str | None) -> bool:
    """Whether the cache holds a snapshot of ``repo_id`` (so a missing optional file is really absent)."""
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, cache_dir=cache_dir, revision=revision, local_files_only=True)
        return True
    except Exception:
        return False


def resolve_weights(path_or_repo: str, **hub_kwargs: Any) -> list[str]:
    """The weight files of a checkpoint, safetensors first, then ``pytorch_model.bin``; shards expanded.

    Raises:
        CheckpointError: If there is no weights file at all.
    """
    for name in WEIGHTS_FILES:
        found = resolve_file(path_or_repo, name, required=False, **hub_kwargs)
        if found is None:
            continue
        if not name.endswith(".index.json"):
            return [found]
        with open(found, encoding="utf-8") as f:
            try:
                weight_map = json.load(f)["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise CheckpointError(f"{found} is not a valid shard index ({e})") from None
        shards = sorted(set(weight_map.values()))
        return [resolve_file(path_or_repo, shard, **hub_kwargs) for shard in shards]  # type: ignore[misc]
    raise CheckpointError(f"{path_or_repo} has no weights: looked for {', '.join(WEIGHTS_FILES)}")


# ------------------------------------------------------------------------------------------- reading
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
            raise CheckpointError(f"could not read weights file {path}: it is truncated or corrupt "
                                  f"({type(e).__name__}: {str(e)[:200]})") from None
        if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise CheckpointError(f"{path} is not a state dict of tensors")
        state.update(part)
    return state


def match_prefix(state: dict[str, torch.Tensor], model_keys: set[str], prefix: str) -> dict[str, torch.Tensor]:
    """Add or strip ``prefix.`` so that a bare model's weights load into a head model and back."""
    has_prefix = any(k.startswith(prefix + ".") for k in state)
    model_has_prefix = any(k.startswith(prefix + ".") for k in model_keys)
    if has_prefix and not model_has_prefix:
        return {k[len(prefix) + 1:] if k.startswith(prefix + ".") else k: v for k, v in state.items()}
    if model_has_prefix and not has_prefix:
        base_keys = {k[len(prefix) + 1:] for k in model_keys if k.startswith(prefix + ".")}
        return {f"{prefix}.{k}" if k in base_keys else k: v for k, v in state.items()}
    return state


def is_ignored_unexpected(key: str) -> bool:
    return any(p.search(key) for p in IGNORED_UNEXPECTED)


# ------------------------------------------------------------------------------------------- writing
def parse_size(size: int | str) -> int:
    """``"5GB"``, ``"500MB"``, ``"10KiB"`` or an int → bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*", size.upper())
    if not match:
        raise ValueError(f"cannot read size {size!r}: use an int or a string such as '5GB'")
    number, unit, suffix = match.groups()
    base = 1024 if suffix == "IB" else 1000
    return int(float(number) * base ** " KMGT".index(unit or " "))


def shard_state_dict(state: dict[str, torch.Tensor], max_shard_size: int) -> list[dict[str, torch.Tensor]]:
    """Split into consecutive shards of at most ``max_shard_size`` bytes (a bigger tensor gets its own)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def ordinary_permissions(path: str) -> None:
    """Give a file, or a folder and everything in it, the permissions of a newly created one (0666 for
    files, 0777 for folders, less the umask) instead of the private 0600/0700 of ``tempfile`` and of
    safetensors' own temporary files, before it is renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o777 & ~umask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~umask)


def atomic_write_text(path: str, text: str) -> None:
    """Write a text file through a temporary file in the same folder, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        ordinary_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def save_weights(folder: str, state: dict[str, torch.Tensor], config_json: str, max_shard_size: int | str) -> None:
    """Write ``config.json`` and safetensors weights (sharded past ``max_shard_size``) into ``folder``.

    Everything is written into a temporary folder beside ``folder`` first and only then moved in, so a
    failure (full disk, interrupt) leaves ``folder`` as it was. Stale weight files of an earlier save are
    removed. Other files in ``folder`` (a tokenizer, say) are kept.
    """
    from safetensors.torch import save_file

    parent = os.path.dirname(os.path.abspath(folder))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(os.path.abspath(folder))}-")
    except OSError as e:
        raise CheckpointError(f"cannot write to {parent}: {e.strerror or e}") from None
    try:
        shards = shard_state_dict(state, parse_size(max_shard_size))
        files: dict[str, dict[str, torch.Tensor]] = {}
        if len(shards) == 1:
            files[SAFE_WEIGHTS_NAME] = shards[0]
        else:
            for i, shard in enumerate(shards, 1):
                files[f"model-{i:05d}-of-{len(shards):05d}.safetensors"] = shard
        seen: set[int] = set()
        for name, shard in files.items():
            save_file({k: standalone(v, seen) for k, v in shard.items()}, os.path.join(staging, name),
                      metadata={"format": "pt"})
        if len(shards) > 1:
            index = {
                "metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
                "weight_map": {k: name for name, shard in files.items() for k in shard},
            }
            with open(os.path.join(staging, SAFE_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
                json.dump(index, f, indent=2, sort_keys=True)
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as f:
            f.write(config_json)
        ordinary_permissions(staging)
        if not os.path.exists(folder):
            os.rename(staging, folder)  # a new folder appears whole, or not at all
            return
        stale = [n for n in os.listdir(folder) if _is_weights_file(n) and n not in os.listdir(staging)]
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
        for name in stale:
            _remove(os.path.join(folder, name))
    except OSError as e:
        raise CheckpointError(f"could not save to {folder}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def standalone(tensor: torch.Tensor, seen: set[int]) -> torch.Tensor:
    """A contiguous tensor that owns its storage: views into a larger storage (fused weights) and
    tensors whose storage was already written (``seen``) are copied, as safetensors requires."""
    tensor = tensor.detach().contiguous()
    storage = tensor.untyped_storage()
    if storage.data_ptr() in seen or storage.nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    seen.add(tensor.untyped_storage().data_ptr())
    return tensor


def _is_weights_file(name: str) -> bool:
    return name in WEIGHTS_FILES or bool(re.fullmatch(r"(model|pytorch_model)-\d+-of-\d+\.(safetensors|bin)", name))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
