"""Training checkpoints that survive crashes: written whole into a temporary folder, then renamed.

A checkpoint is a folder ``checkpoints/step-00001000/`` holding

- ``config.json`` + ``model.safetensors`` (+ tokenizer files): an ordinary model folder that
  ``from_pretrained`` and ``transformers`` load;
- ``trainer_state.pt``: optimizer, scheduler, grad scaler, RNG states (of every process) and the data
  position, read back with ``torch.load(weights_only=True)``;
- ``training_config.json``: the settings that must match to resume.

It is written into ``checkpoints/.tmp-…``, flushed to disk and renamed into place in one step; only
then does ``checkpoints/latest`` name it, and only then are checkpoints older than the last ``keep``
removed. A crash or a full disk at any point leaves the previous checkpoint whole and ``latest``
pointing at it; the staging folders a killed save leaves behind are removed at the next save or
resume (:func:`remove_stale`). On resume, a latest checkpoint that cannot be read (a 0-byte or
corrupt ``trainer_state.pt``) gives way to the newest intact one (:func:`find_resumable`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Callable

import torch

from ..core.errors import CheckpointError
from ..core.files import atomic_write_text, staging_folder

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAINER_STATE = "trainer_state.pt"
TRAINING_CONFIG = "training_config.json"
STEP_DIR = re.compile(r"step-(\d+)")


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def is_complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in (TRAINER_STATE, TRAINING_CONFIG, "config.json"))


def save_checkpoint(root: str, step: int, write_files: Callable[[str], None], trainer_state: dict[str, Any],
                    training_config: dict[str, Any], *, keep: int = 2) -> str:
    """Write one checkpoint atomically and prune old ones.

    Args:
        root: The ``checkpoints`` folder.
        step: Updates done; names the folder.
        write_files: Writes the model (and tokenizer) files into the folder it is given.
        trainer_state: Optimizer, scheduler, RNG and data position (tensors and plain values only).
        training_config: The settings to compare on resume (JSON).
        keep: How many checkpoints to keep (the newest; at least 1).

    Returns:
        The checkpoint folder.

    Raises:
        CheckpointError: If anything cannot be written; earlier checkpoints are untouched.
    """
    final = os.path.join(root, step_name(step))
    try:
        with staging_folder(final, whole=True, fsync=True) as staging:  # a step written again is swapped out
            write_files(staging)
            torch.save(trainer_state, os.path.join(staging, TRAINER_STATE))
            with open(os.path.join(staging, TRAINING_CONFIG), "w", encoding="utf-8") as f:
                json.dump(training_config, f, indent=2, sort_keys=True)
        atomic_write_text(os.path.join(root, LATEST), step_name(step) + "\n")
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
        last = latest_checkpoint(root)
        kept = f"the last good checkpoint, {last}, is intact" if last else "no earlier checkpoint exists"
        reason = getattr(e, "strerror", None) or str(e)
        raise CheckpointError(f"could not write the checkpoint of step {step} to {root}: {reason}; {kept}") from None
    prune(root, keep=max(1, keep), protect=final)
    return final


def prune(root: str, *, keep: int, protect: str) -> None:
    """Remove all but the newest ``keep`` complete checkpoints (never ``protect``), and stale temp folders."""
    steps = list_checkpoints(root)
    for folder in steps[:-keep]:
        if os.path.abspath(folder) != os.path.abspath(protect):
            shutil.rmtree(folder, ignore_errors=True)
    remove_stale(root)


STALE = (".tmp-", ".old-")  # staging_folder's and atomic_write_text's temporary names


def remove_stale(root: str) -> list[str]:
    """Remove what a killed save left in ``root`` (``.tmp-step-…``, ``.old-step-…``, ``.tmp-…latest``);
    returns their names. Only this process's run writes there, so nothing in use is removed."""
    if not os.path.isdir(root):
        return []
    removed = []
    for name in sorted(os.listdir(root)):
        if name.startswith(STALE):
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    continue
            removed.append(name)
    return removed


def list_checkpoints(root: str) -> list[str]:
    """Complete checkpoint folders under ``root``, oldest first."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = STEP_DIR.fullmatch(name)
        if match and is_complete(os.path.join(root, name)):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def latest_checkpoint(root: str) -> str | None:
    """The folder that ``latest`` names if it is complete, else the newest complete one, else None."""
    try:
        with open(os.path.join(root, LATEST), encoding="utf-8") as f:
            candidate = os.path.join(root, f.read().strip())
        if is_complete(candidate):
            return candidate
    except OSError:
        pass
    found = list_checkpoints(root)
    return found[-1] if found else None


def resolve_resume(resume: bool | str, output_dir: str) -> str:
    """``True`` → the latest checkpoint of ``output_dir``; a path → that checkpoint (or its latest).

    Raises:
        CheckpointError: If there is no complete checkpoint there.
    """
    if resume is True or resume in ("auto", "latest"):
        root = os.path.join(output_dir, CHECKPOINTS)
        found = latest_checkpoint(root)
        if found is None:
            raise CheckpointError(f"nothing to resume: no complete checkpoint in {root}")
        return found
    path = os.fspath(resume)
    if is_complete(path):
        return path
    for root in (path, os.path.join(path, CHECKPOINTS)):
        found = latest_checkpoint(root)
        if found is not None:
            return found
    raise CheckpointError(f"cannot resume from {path}: it is not a complete training checkpoint "
                          f"(expected {TRAINER_STATE}, {TRAINING_CONFIG} and config.json)")


def load_checkpoint(folder: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer state, training config) of a checkpoint folder, once its weights file is checked too.

    Raises:
        CheckpointError: Naming the file that cannot be read, and why.
    """
    path = os.path.join(folder, TRAINER_STATE)
    try:
        if os.path.getsize(path) == 0:
            raise CheckpointError(f"{path} is empty (0 bytes)")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as e:  # EOFError, UnpicklingError, RuntimeError ... for a damaged file
        raise CheckpointError(f"{path} cannot be read: it is truncated or corrupt ({type(e).__name__}: "
                              f"{str(e)[:120]})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path} is not a trainer state (no step)")
    path = os.path.join(folder, TRAINING_CONFIG)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds a JSON {type(config).__name__}, not the object of a training config")
    weights = os.path.join(folder, "model.safetensors")
    if os.path.isfile(weights):
        try:
            from safetensors import safe_open

            with safe_open(weights, framework="pt") as f:
                f.keys()
        except Exception as e:  # a damaged header raises several types
            raise CheckpointError(f"{weights} cannot be read: it is truncated or corrupt ({str(e)[:120]})") from None
    return state, config


def find_resumable(resume: bool | str, output_dir: str) -> tuple[str, dict[str, Any], dict[str, Any], list[str]]:
    """The checkpoint to resume from, read: ``(folder, trainer state, training config, notes)``.

    With ``resume=True`` a latest checkpoint that cannot be read gives way to the newest intact one
    (``notes`` says which was passed over and why). With a path, a checkpoint that cannot be read is an
    error that names the newest intact checkpoint beside it.

    Raises:
        CheckpointError: If no checkpoint there can be read.
    """
    chosen = resolve_resume(resume, output_dir)
    try:
        return (chosen, *load_checkpoint(chosen), [])
    except CheckpointError as first:
        root = os.path.dirname(os.path.abspath(chosen))
        problem = str(first)
    notes = [f"{os.path.basename(chosen)} cannot be resumed from ({problem})"]
    for folder in reversed(list_checkpoints(root)):
        if os.path.abspath(folder) == os.path.abspath(chosen):
            continue
        try:
            state, config = load_checkpoint(folder)
        except CheckpointError as e:
            notes.append(f"{os.path.basename(folder)} neither ({e})")
            continue
        if resume is True or resume in ("auto", "latest"):
            return folder, state, config, notes
        raise CheckpointError(f"cannot resume from {chosen}: {problem}; the newest intact checkpoint is {folder}: "
                              f"resume from it (resume={folder})")
    raise CheckpointError(f"cannot resume from {chosen}: {problem}; no other checkpoint in {root} can be read")


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: checkpoint X, now Y`` for each setting that differs."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if _normalise(a) != _normalise(b):
            diffs.append(f"{key}: checkpoint {a!r}, now {b!r}")
    return diffs


def _normalise(value: Any) -> Any:
    return json.loads(json.dumps(value))
